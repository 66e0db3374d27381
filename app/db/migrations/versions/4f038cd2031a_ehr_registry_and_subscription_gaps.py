"""EHR registry and subscription gaps.

Revision ID: 4f038cd2031a
Revises: 46653d27f6f4
Create Date: 2026-11-26 11:26:35.994914
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4f038cd2031a"
down_revision: str | None = "46653d27f6f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ehr",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("base_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("auth", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("client_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("key_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("supports_events", sa.Boolean(), nullable=False),
        sa.Column("plain_criteria", sa.Boolean(), nullable=False),
        sa.Column(
            "topics", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "subscription_gap",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("first_number", sa.Integer(), nullable=True),
        sa.Column("last_number", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("detected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("repaired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subscription_gap", schema=None) as batch_op:
        batch_op.create_index("ix_gap_subscription_status", ["subscription_id", "status"], unique=False)

    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("events_checked", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gap_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("resource_types", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("pulled_through", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("pulled_through")
        batch_op.drop_column("resource_types")
        batch_op.drop_column("last_checked_at")
        batch_op.drop_column("gap_seen_at")
        batch_op.drop_column("events_checked")

    with op.batch_alter_table("subscription_gap", schema=None) as batch_op:
        batch_op.drop_index("ix_gap_subscription_status")

    op.drop_table("subscription_gap")
    op.drop_table("ehr")
