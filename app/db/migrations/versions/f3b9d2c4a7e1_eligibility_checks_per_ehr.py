"""Eligibility checks scoped per EHR: ``ehr`` on eligibility_check, unique per (ehr, coverage, date, trigger).

Existing rows move to the EHR whose mirror holds their Coverage when exactly one does (an
installation with one ``--ehr`` keeps its checks next to its resources), else to the default EHR
(``default``). Downgrading fails if two EHRs now hold a check with the same key.

Revision ID: f3b9d2c4a7e1
Revises: ebccb5c8dc04
Create Date: 2026-12-03 14:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "f3b9d2c4a7e1"
down_revision: str | None = "ebccb5c8dc04"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "default"
OLD_KEY = ["coverage", "service_date", "trigger"]


def upgrade() -> None:
    with op.batch_alter_table("eligibility_check") as batch_op:
        batch_op.add_column(
            sa.Column(
                "ehr",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=False,
                server_default=sa.text(f"'{DEFAULT}'"),
            )
        )
    op.get_bind().execute(
        sa.text(
            "UPDATE eligibility_check SET ehr = CASE"
            " WHEN (SELECT COUNT(DISTINCT r.ehr) FROM resource r WHERE r.key = eligibility_check.coverage) = 1"
            " THEN (SELECT MIN(r.ehr) FROM resource r WHERE r.key = eligibility_check.coverage)"
            " ELSE :default END"
        ),
        {"default": DEFAULT},
    )
    with op.batch_alter_table("eligibility_check") as batch_op:
        batch_op.drop_constraint("uq_eligibility_check_key", type_="unique")
        batch_op.create_unique_constraint("uq_eligibility_check_key", ["ehr", *OLD_KEY])
        batch_op.create_index("ix_eligibility_check_ehr_patient", ["ehr", "patient"], unique=False)


def downgrade() -> None:
    clash = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT coverage FROM eligibility_check GROUP BY coverage, service_date, trigger"
                " HAVING COUNT(DISTINCT ehr) > 1"
            )
        )
        .first()
    )
    if clash is not None:
        raise RuntimeError(f"two EHRs hold eligibility checks of {clash[0]}: cannot drop the ehr scope")
    with op.batch_alter_table("eligibility_check") as batch_op:
        batch_op.drop_index("ix_eligibility_check_ehr_patient")
        batch_op.drop_constraint("uq_eligibility_check_key", type_="unique")
        batch_op.create_unique_constraint("uq_eligibility_check_key", OLD_KEY)
        batch_op.drop_column("ehr")
