"""Eligibility checks: real-time verifications (idempotent per coverage, date of service, trigger) and results.

Revision ID: ebccb5c8dc04
Revises: c4d5e6f7a8b9
Create Date: 2026-12-03 10:50:54.351232
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "ebccb5c8dc04"
down_revision: str | None = "c4d5e6f7a8b9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "eligibility_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("coverage", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("service_date", sa.Date(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("patient", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("payer_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("encounter", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("appointment", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("locked_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("checked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("latency_seconds", sa.Float(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("reevaluated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("coverage", "service_date", "trigger", name="uq_eligibility_check_key"),
    )
    with op.batch_alter_table("eligibility_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_eligibility_check_coverage"), ["coverage"], unique=False)
        batch_op.create_index("ix_eligibility_check_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_eligibility_check_reevaluation", ["status", "reevaluated_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_eligibility_check_patient"), ["patient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("eligibility_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eligibility_check_patient"))
        batch_op.drop_index("ix_eligibility_check_reevaluation")
        batch_op.drop_index("ix_eligibility_check_due")
        batch_op.drop_index(batch_op.f("ix_eligibility_check_coverage"))

    op.drop_table("eligibility_check")
