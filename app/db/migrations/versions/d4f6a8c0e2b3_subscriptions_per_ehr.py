"""Subscription ids unique per EHR: ``fhir_id`` (the id at the EHR) with ``ehr``; ``id`` stays the internal key.

Existing rows keep their key and get ``fhir_id = id``, so every job, inbox row, gap and dedupe key that
names them is unchanged.

Revision ID: d4f6a8c0e2b3
Revises: b2c4e6a8d0f1
Create Date: 2026-12-03 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "d4f6a8c0e2b3"
down_revision: str | None = "b2c4e6a8d0f1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    op.execute("UPDATE subscription SET fhir_id = id")
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.alter_column("fhir_id", existing_type=sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False)
        batch_op.create_unique_constraint("uq_subscription_ehr_fhir_id", ["ehr", "fhir_id"])


def downgrade() -> None:
    with op.batch_alter_table("subscription", schema=None) as batch_op:
        batch_op.drop_constraint("uq_subscription_ehr_fhir_id", type_="unique")
        batch_op.drop_column("fhir_id")
