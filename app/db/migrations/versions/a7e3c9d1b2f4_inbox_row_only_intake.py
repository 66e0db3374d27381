"""Intake stores the inbox row only: inbox status, EHR scope, single dedupe key, events to expand.

Rows stored before this revision were expanded into jobs in the request: they become ``expanded``.
A one-job row gets its job's dedupe key, so a later copy of that notification is still refused at
the insert.

Revision ID: a7e3c9d1b2f4
Revises: e9c1b7d4a6f3
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "a7e3c9d1b2f4"
down_revision: str | None = "e9c1b7d4a6f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # plain ADD COLUMN / CREATE INDEX, no table copy: on SQLite a batch copy of ``inbox`` would drop a
    # table the jobs' foreign keys point at
    op.add_column(
        "inbox",
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default="expanded"),
    )
    op.add_column(
        "inbox",
        sa.Column("ehr", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default="default"),
    )
    op.add_column("inbox", sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=True))
    op.add_column("inbox", sa.Column("events", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column("inbox", sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_index("ix_inbox_status", "inbox", ["status", "id"], unique=False)
    op.create_index("uq_inbox_dedupe_key", "inbox", ["dedupe_key"], unique=True)
    op.execute(
        "UPDATE inbox SET ehr = COALESCE((SELECT MIN(job.ehr) FROM job WHERE job.inbox_id = inbox.id), ehr), "
        "dedupe_key = (SELECT MIN(job.dedupe_key) FROM job WHERE job.inbox_id = inbox.id) "
        "WHERE (SELECT COUNT(*) FROM job WHERE job.inbox_id = inbox.id) = 1"
    )


def downgrade() -> None:
    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("uq_inbox_dedupe_key")
        batch_op.drop_index("ix_inbox_status")
        batch_op.drop_column("last_error")
        batch_op.drop_column("events")
        batch_op.drop_column("dedupe_key")
        batch_op.drop_column("ehr")
        batch_op.drop_column("status")
