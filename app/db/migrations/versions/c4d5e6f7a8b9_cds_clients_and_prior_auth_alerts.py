"""CDS Hooks clients and JWT replay store; prior-authorization alerts (CRD, Task write-back, PAS).

Revision ID: c4d5e6f7a8b9
Revises: c4f7a1d2e9b3
Create Date: 2026-12-03 11:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c4d5e6f7a8b9"
down_revision: str | None = "c4f7a1d2e9b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    when = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "cds_client",
        sa.Column("iss", text(length=500), nullable=False),
        sa.Column("jwks", _json(), nullable=True),
        sa.Column("jwks_url", text(length=500), nullable=True),
        sa.Column("jku_allowlist", _json(), nullable=False),
        sa.Column("created_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("iss"),
    )
    op.create_table(
        "cds_jti",
        sa.Column("iss", text(length=500), nullable=False),
        sa.Column("jti", text(length=200), nullable=False),
        sa.Column("expires_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("iss", "jti"),
    )
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jti_expires_at"), ["expires_at"], unique=False)
    op.create_table(
        "prior_auth_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_ref", text(length=200), nullable=False),
        sa.Column("patient", text(length=200), nullable=True),
        sa.Column("encounter", text(length=200), nullable=True),
        sa.Column("payer_id", text(length=80), nullable=False),
        sa.Column("payer_name", text(length=200), nullable=False),
        sa.Column("codes", _json(), nullable=False),
        sa.Column("rule", text(length=100), nullable=False),
        sa.Column("status", text(length=20), nullable=False),
        sa.Column("reason", text(), nullable=True),
        sa.Column("pre_auth_ref", text(length=100), nullable=True),
        sa.Column("assertion_id", text(length=100), nullable=False),
        sa.Column("pas_identifier", text(length=100), nullable=True),
        sa.Column("claim_response", _json(), nullable=True),
        sa.Column("next_inquiry_at", when(), nullable=True),
        sa.Column("created_at", when(), nullable=False),
        sa.Column("updated_at", when(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_ref"),
    )
    with op.batch_alter_table("prior_auth_alert", schema=None) as batch_op:
        for column in ("encounter", "patient", "payer_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_prior_auth_alert_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prior_auth_alert", schema=None) as batch_op:
        for column in ("status", "payer_id", "patient", "encounter"):
            batch_op.drop_index(batch_op.f(f"ix_prior_auth_alert_{column}"))
    op.drop_table("prior_auth_alert")
    with op.batch_alter_table("cds_jti", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_jti_expires_at"))
    op.drop_table("cds_jti")
    op.drop_table("cds_client")
