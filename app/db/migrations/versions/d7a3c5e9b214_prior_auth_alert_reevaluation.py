"""Prior-authorization alerts remember that their encounter's claim is to be re-evaluated.

``prior_auth_alert.reevaluate_at``: set when an alert is approved (the authorization is now on
file), cleared once the worker's prior-auth duty re-evaluated the encounter's claim (its
``prior-auth-missing`` finding clears).

Revision ID: d7a3c5e9b214
Revises: d1e2f3a4b5c6
Create Date: 2026-12-03 14:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d7a3c5e9b214"
down_revision: str | None = "d1e2f3a4b5c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prior_auth_alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reevaluate_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_prior_auth_alert_reevaluate_at"), ["reevaluate_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prior_auth_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prior_auth_alert_reevaluate_at"))
        batch_op.drop_column("reevaluate_at")
