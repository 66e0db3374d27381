"""Prior-authorization alerts are scoped per EHR (ADR 0011): ``prior_auth_alert.ehr``.

Two EHRs may both send ``ServiceRequest/1``; they are different orders. The alert's key becomes
(``ehr``, ``order_ref``). Existing rows move to the default EHR (``default``), or, when every existing
subscription names the same EHR, to that one (as migration c3a8e5f17d20 moved the mirror).
Downgrading fails once two EHRs hold an alert for the same order reference.

Revision ID: e9c1b7d4a6f3
Revises: d7a3c5e9b214
Create Date: 2026-12-03 14:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "e9c1b7d4a6f3"
down_revision: str | None = "d7a3c5e9b214"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "default"
#: names the unnamed unique constraint of the first migration on SQLite (PostgreSQL named it itself)
CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique() -> str:
    return (
        "prior_auth_alert_order_ref_key"
        if op.get_bind().dialect.name == "postgresql"
        else "uq_prior_auth_alert_order_ref"
    )


def upgrade() -> None:
    with op.batch_alter_table("prior_auth_alert", naming_convention=CONVENTION) as batch_op:
        batch_op.add_column(
            sa.Column(
                "ehr",
                sqlmodel.sql.sqltypes.AutoString(length=100),
                nullable=False,
                server_default=sa.text(f"'{DEFAULT}'"),
            )
        )
        batch_op.drop_constraint(_old_unique(), type_="unique")
        batch_op.create_unique_constraint("uq_prior_auth_alert_order", ["ehr", "order_ref"])
    bind = op.get_bind()
    scopes = {row[0] or DEFAULT for row in bind.execute(sa.text("SELECT DISTINCT ehr FROM subscription"))}
    if len(scopes) == 1 and scopes != {DEFAULT}:
        (only,) = scopes
        bind.execute(sa.text("UPDATE prior_auth_alert SET ehr = :ehr"), {"ehr": only})


def downgrade() -> None:
    with op.batch_alter_table("prior_auth_alert", naming_convention=CONVENTION) as batch_op:
        batch_op.drop_constraint("uq_prior_auth_alert_order", type_="unique")
        batch_op.create_unique_constraint(_old_unique(), ["order_ref"])
        batch_op.drop_column("ehr")
