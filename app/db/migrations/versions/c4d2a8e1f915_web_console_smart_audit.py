"""People's side: console accounts, browser sessions, SMART app registrations, the audit trail, and the
indexes of the console's messages browser.

Revision ID: c4d2a8e1f915
Revises: c3a8e5f17d20
Create Date: 2026-12-03 11:05:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4d2a8e1f915"
down_revision: str | None = "c3a8e5f17d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
S = sqlmodel.sql.sqltypes.AutoString
T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("name", S(length=100), nullable=False),
        sa.Column("password_hash", S(length=300), nullable=False),
        sa.Column("role", S(length=20), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "web_session",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("kind", S(length=20), nullable=False),
        sa.Column("subject", S(length=300), nullable=True),
        sa.Column("role", S(length=20), nullable=True),
        sa.Column("csrf", S(length=64), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("expires_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_web_session_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "smart_app",
        sa.Column("ehr", S(length=100), nullable=False),
        sa.Column("client_id", S(length=200), nullable=False),
        sa.Column("client_secret", S(length=500), nullable=True),
        sa.Column("key_path", S(length=500), nullable=True),
        sa.Column("scopes", S(length=1000), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("ehr"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", T(), nullable=False),
        sa.Column("actor", S(length=300), nullable=False),
        sa.Column("actor_kind", S(length=20), nullable=False),
        sa.Column("action", S(length=40), nullable=False),
        sa.Column("entity", S(length=300), nullable=False),
        sa.Column("outcome", S(length=10), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_action"), ["action"], unique=False)
        batch_op.create_index("ix_audit_event_recorded", ["recorded_at", "id"], unique=False)
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_status_id", ["status", "id"], unique=False)
        batch_op.create_index("ix_job_created", ["created_at"], unique=False)
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_received", ["received_at"], unique=False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_key", ["key"], unique=False)
        batch_op.create_index("ix_outbox_status_id", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status_id")
        batch_op.drop_index("ix_outbox_key")
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_received")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_created")
        batch_op.drop_index("ix_job_status_id")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_recorded")
        batch_op.drop_index(batch_op.f("ix_audit_event_action"))
    op.drop_table("audit_event")
    op.drop_table("smart_app")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_session_expires_at"))
    op.drop_table("web_session")
    op.drop_table("console_user")
