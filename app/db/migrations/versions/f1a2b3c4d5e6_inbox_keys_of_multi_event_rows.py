"""Dedupe keys of pending multi-event inbox rows (``inbox_key``): a re-sent event is a 200 duplicate.

Rows pending at upgrade get their keys from ``inbox.events`` (only keys no job and no one-event row
holds yet; a row whose events cannot be read gets none: the expansion duty dead-letters it anyway).

Revision ID: f1a2b3c4d5e6
Revises: a7e3c9d1b2f4
Create Date: 2026-12-03 17:05:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "f1a2b3c4d5e6"
down_revision: str | None = "a7e3c9d1b2f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_key",
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["inbox_id"], ["inbox.id"]),
        sa.PrimaryKeyConstraint("dedupe_key"),
    )
    op.create_index(op.f("ix_inbox_key_inbox_id"), "inbox_key", ["inbox_id"], unique=False)
    conn = op.get_bind()
    pending = conn.execute(
        sa.text("SELECT id, events FROM inbox WHERE status = 'pending' AND dedupe_key IS NULL ORDER BY id")
    ).all()
    for row_id, events in pending:  # few: the rows of the last worker round or two
        try:
            specs = json.loads(events) if events else []
        except ValueError:
            continue
        for spec in specs if isinstance(specs, list) else ():
            key = spec[0] if isinstance(spec, list) and spec else None
            if isinstance(key, str):
                conn.execute(_INSERT_NEW_KEY, {"k": key, "i": row_id})


_INSERT_NEW_KEY = sa.text(
    "INSERT INTO inbox_key (dedupe_key, inbox_id) SELECT CAST(:k AS VARCHAR(400)), :i "
    "WHERE NOT EXISTS (SELECT 1 FROM job WHERE job.dedupe_key = CAST(:k AS VARCHAR(400))) "
    "AND NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.dedupe_key = CAST(:k AS VARCHAR(400))) "
    "AND NOT EXISTS (SELECT 1 FROM inbox_key WHERE inbox_key.dedupe_key = CAST(:k AS VARCHAR(400)))"
)


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_key_inbox_id"), table_name="inbox_key")
    op.drop_table("inbox_key")
