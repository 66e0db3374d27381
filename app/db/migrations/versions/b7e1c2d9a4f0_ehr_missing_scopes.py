"""EHR registry: the SMART scopes the EHR's last token lacked (``ehr.missing_scopes``).

Revision ID: b7e1c2d9a4f0
Revises: 4c342d34eec9
Create Date: 2026-12-03 08:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7e1c2d9a4f0"
down_revision: str | None = "4c342d34eec9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ehr", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "missing_scopes",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("ehr", schema=None) as batch_op:
        batch_op.drop_column("missing_scopes")
