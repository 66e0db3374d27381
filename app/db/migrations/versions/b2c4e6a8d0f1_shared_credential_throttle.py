"""The credential throttle in the database: wrong credentials counted once for every API process.

Revision ID: b2c4e6a8d0f1
Revises: f1a2b3c4d5e6
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "b2c4e6a8d0f1"
down_revision: str | None = "f1a2b3c4d5e6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "credential_failure",
        sa.Column("scope", text(length=20), nullable=False),
        sa.Column("key", text(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_ends", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key"),
    )
    op.create_index("ix_credential_failure_window_ends", "credential_failure", ["window_ends"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_credential_failure_window_ends", table_name="credential_failure")
    op.drop_table("credential_failure")
