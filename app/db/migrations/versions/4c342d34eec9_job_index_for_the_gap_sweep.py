"""Gap sweep: index job (subscription_id, event_number), a per-subscription sweep lease; drop a redundant index.

Revision ID: 4c342d34eec9
Revises: ac5d5739b56c
Create Date: 2026-11-26 14:14:16.222338
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "4c342d34eec9"
down_revision: str | None = "ac5d5739b56c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sweep_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_subscription_id"))

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index("ix_job_subscription_event", ["subscription_id", "event_number"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_column("sweep_until")

    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index("ix_job_subscription_event")

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_subscription_id"), ["subscription_id"], unique=False)
