"""Inbound files that keep failing (counted, quarantined) and gap recoveries that stopped (``failures``).

Revision ID: e6e08d95089a
Revises: b7e1c2d9a4f0
Create Date: 2026-12-03 07:57:56.268359
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e6e08d95089a"
down_revision: str | None = "b7e1c2d9a4f0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("handle", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_class", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("first_failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("last_failed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("quarantined_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("released_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("released_by", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "name", "sha256", name="uq_inbound_failure"),
    )
    with op.batch_alter_table("inbound_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_failure_status"), ["status"], unique=False)

    with op.batch_alter_table("subscription_gap", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("subscription_gap", schema=None) as batch_op:
        batch_op.drop_column("failures")

    with op.batch_alter_table("inbound_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_failure_status"))

    op.drop_table("inbound_failure")
