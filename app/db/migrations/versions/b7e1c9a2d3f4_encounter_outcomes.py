"""Encounter outcomes: every evaluated encounter's claim, or the findings that explain why none.

Revision ID: b7e1c9a2d3f4
Revises: e6e08d95089a
Create Date: 2026-12-03 08:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7e1c9a2d3f4"
down_revision: str | None = "e6e08d95089a"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "encounter_outcome",
        sa.Column("encounter", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("patient", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("claim_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column(
            "findings", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source_job_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("encounter"),
    )
    with op.batch_alter_table("encounter_outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_encounter_outcome_claim_id"), ["claim_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encounter_outcome_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_encounter_outcome_patient"), ["patient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("encounter_outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_encounter_outcome_patient"))
        batch_op.drop_index(batch_op.f("ix_encounter_outcome_outcome"))
        batch_op.drop_index(batch_op.f("ix_encounter_outcome_claim_id"))
    op.drop_table("encounter_outcome")
