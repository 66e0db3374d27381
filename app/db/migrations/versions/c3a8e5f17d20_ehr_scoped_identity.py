"""Identity scoped per EHR: ``ehr`` on job, resource, claim and encounter_outcome; version dedupe keys per EHR.

Also: event numbers and counters are BIGINT (FHIR integer64; an INTEGER column made a valid large
event number fail the whole intake batch on PostgreSQL).

Existing rows move to the default EHR (``default``), or, when every existing subscription names the
same EHR, to that one (so an installation with one ``--ehr`` keeps billing the same encounters under
the same claims). Jobs take their own subscription's EHR. Version dedupe keys
``ver:Type/id:version`` become ``ver:<ehr>:Type/id:version``.

Downgrading fails if two EHRs now hold the same resource or encounter key (it cannot be undone then).

Revision ID: c3a8e5f17d20
Revises: b7e1c9a2d3f4
Create Date: 2026-12-03 11:00:00.000000
"""

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.exc import SAWarning

revision: str = "c3a8e5f17d20"
down_revision: str | None = "b7e1c9a2d3f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT = "default"


def _ehr_column() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "ehr", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False, server_default=sa.text(f"'{DEFAULT}'")
    )


def _set_primary_key(table: str, columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(f"{table}_pkey", table, type_="primary")
        op.create_primary_key(f"{table}_pkey", table, columns)
    else:  # SQLite: batch mode recreates the table with the new key (SQLAlchemy says so, as a warning)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*specifies columns .* as primary_key=True", category=SAWarning)
            with op.batch_alter_table(table, recreate="always") as batch_op:
                batch_op.create_primary_key(f"{table}_pkey", columns)


WIDENED = {
    "job": ("event_number",),
    "subscription": ("events_since_start", "events_checked"),
    "subscription_gap": ("first_number", "last_number"),
}


def _widen(to_big: bool) -> None:
    for table, columns in WIDENED.items():
        with op.batch_alter_table(table) as batch_op:
            for column in columns:
                old, new = (sa.Integer(), sa.BigInteger()) if to_big else (sa.BigInteger(), sa.Integer())
                batch_op.alter_column(column, existing_type=old, type_=new)


def upgrade() -> None:
    _widen(True)
    for table in ("job", "claim", "resource", "encounter_outcome"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(_ehr_column())
    _set_primary_key("resource", ["ehr", "key"])
    _set_primary_key("encounter_outcome", ["ehr", "encounter"])
    bind = op.get_bind()
    scopes = {row[0] or DEFAULT for row in bind.execute(sa.text("SELECT DISTINCT ehr FROM subscription"))}
    if len(scopes) == 1 and scopes != {DEFAULT}:
        (only,) = scopes
        for table in ("claim", "resource", "encounter_outcome"):
            bind.execute(sa.text(f"UPDATE {table} SET ehr = :ehr"), {"ehr": only})  # noqa: S608 (fixed names)
    bind.execute(
        sa.text(
            "UPDATE job SET ehr = (SELECT s.ehr FROM subscription s WHERE s.id = job.subscription_id) "
            "WHERE EXISTS (SELECT 1 FROM subscription s WHERE s.id = job.subscription_id AND s.ehr IS NOT NULL)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE job SET dedupe_key = 'ver:' || ehr || ':' || substr(dedupe_key, 5) WHERE dedupe_key LIKE 'ver:%'"
        )
    )


def downgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE job SET dedupe_key = 'ver:' || substr(dedupe_key, length(ehr) + 6) "
            "WHERE dedupe_key LIKE 'ver:%' AND substr(dedupe_key, 5, length(ehr) + 1) = ehr || ':'"
        )
    )
    _set_primary_key("encounter_outcome", ["encounter"])
    _set_primary_key("resource", ["key"])
    for table in ("encounter_outcome", "resource", "claim", "job"):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column("ehr")
    _widen(False)
