"""Posting: reversal pairing and exactly-once claim payments, the claim ledger (patient payments,
claim-naming PLB adjustments), and findings that hold a claim until acknowledged.

Revision ID: c4f7a1d2e9b3
Revises: c4d2a8e1f915
Create Date: 2026-12-03 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "c4f7a1d2e9b3"
down_revision: str | None = "c4d2a8e1f915"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim_payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("counted", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("reverses_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hold", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "claim_ledger_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("claim_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("payer_id", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("posted_on", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claim.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "reference", name="uq_claim_ledger_source_reference"),
    )
    with op.batch_alter_table("claim_ledger_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_ledger_entry_claim_id"), ["claim_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("claim_ledger_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_ledger_entry_claim_id"))
    op.drop_table("claim_ledger_entry")
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_column("hold")
    with op.batch_alter_table("claim_payment", schema=None) as batch_op:
        batch_op.drop_column("reverses_id")
        batch_op.drop_column("counted")
