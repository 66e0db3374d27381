"""Gap sweep index and lease; worked denials/underpayments; remittance balance; drop a redundant index.

Revision ID: 4c342d34eec9
Revises: ac5d5739b56c
Create Date: 2026-11-26 14:14:16.222338
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4c342d34eec9"
down_revision: str | None = "ac5d5739b56c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


WORKED = ("denial_queue_entry", "underpayment_alert")


def upgrade() -> None:
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claims_paid_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("provider_adjustment_cents", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "provider_adjustments",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("balanced", sa.Boolean(), nullable=True))
    for table in WORKED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("worked_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
            batch_op.add_column(sa.Column("worked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
            batch_op.add_column(sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sweep_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_subscription_id"))

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_subscription_event", ["subscription_id", "event_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("remittance", schema=None) as batch_op:
        batch_op.drop_column("balanced")
        batch_op.drop_column("provider_adjustments")
        batch_op.drop_column("provider_adjustment_cents")
        batch_op.drop_column("claims_paid_cents")
    for table in WORKED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("note")
            batch_op.drop_column("worked_at")
            batch_op.drop_column("worked_by")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("sweep_until")

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_subscription_event")

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_subscription_id"), ["subscription_id"], unique=False)
