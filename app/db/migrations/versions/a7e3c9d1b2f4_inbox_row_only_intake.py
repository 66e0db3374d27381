"""Intake stores the inbox row only: inbox status, EHR scope, single dedupe key, events to expand.

Rows stored before this revision were expanded into jobs in the request: they become ``expanded``.
A one-job row gets its job's dedupe key, so a later copy of that notification is still refused at
the insert.

Revision ID: a7e3c9d1b2f4
Revises: ebccb5c8dc04
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a7e3c9d1b2f4"
down_revision: str | None = "ebccb5c8dc04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="expanded")
        )
        batch_op.add_column(
            sa.Column("ehr", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default="default")
        )
        batch_op.add_column(sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True))
        batch_op.add_column(sa.Column("events", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index("ix_inbox_status", ["status", "id"], unique=False)
        batch_op.create_unique_constraint("uq_inbox_dedupe_key", ["dedupe_key"])
    op.execute(
        "UPDATE inbox SET ehr = COALESCE((SELECT MIN(job.ehr) FROM job WHERE job.inbox_id = inbox.id), ehr), "
        "dedupe_key = (SELECT MIN(job.dedupe_key) FROM job WHERE job.inbox_id = inbox.id) "
        "WHERE (SELECT COUNT(*) FROM job WHERE job.inbox_id = inbox.id) = 1"
    )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_constraint("uq_inbox_dedupe_key", type_="unique")
        batch_op.drop_index("ix_inbox_status")
        batch_op.drop_column("last_error")
        batch_op.drop_column("events")
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("ehr")
        batch_op.drop_column("status")
