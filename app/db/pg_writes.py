"""PostgreSQL-only write statements of the job path, each one statement text for any number of rows.

A multi-row ``VALUES`` (or an executemany) is a new statement text per row count: psycopg re-parses
texts of more than 50 parameters on every call and the server never prepares them. Here the rows
travel as one JSON array, encoded by orjson and taken apart by the server
(``jsonb_array_elements ... WITH ORDINALITY``, rows kept in the order given), so psycopg parses each
statement once and the server prepares it once. SQLite keeps the portable statements of the
repositories (:mod:`app.db.mirror_repo`, :mod:`app.db.claims_repo`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, CursorResult, Date, DateTime, TextClause, bindparam, text
from sqlalchemy.engine import Dialect

from app.domain.claim_status import ClaimStatus

if TYPE_CHECKING:
    from app.db.claims_repo import NewVersion

# New mirror rows, skipping (not failing on) keys another transaction stored first; RETURNING the
# keys inserted (app.db.mirror_repo.upsert_resources).
NEW_RESOURCES = text(
    "INSERT INTO resource (ehr, key, resource_type, version_id, last_updated, patient, encounter, body, updated_at)"
    " SELECT :ehr, r->>'key', r->>'resource_type', r->>'version_id', r->>'last_updated', r->>'patient',"
    " r->>'encounter', r->'body', :now"
    " FROM jsonb_array_elements(CAST(:rows AS jsonb)) WITH ORDINALITY AS t(r, n)"
    " ORDER BY t.n ON CONFLICT (ehr, key) DO NOTHING RETURNING key"
).bindparams(bindparam("now", type_=DateTime()))
_RESOURCE_COLUMNS = ("key", "resource_type", "version_id", "last_updated", "patient", "encounter", "body")


def new_resources_params(rows: list[dict[str, Any]], ehr: str, now: datetime) -> dict[str, Any]:
    batch = orjson.dumps([{c: r[c] for c in _RESOURCE_COLUMNS} for r in rows]).decode()
    return {"ehr": ehr, "now": now, "rows": batch}


# A new claim: its row, version 1 and its findings in one statement (data-modifying CTEs; the foreign
# keys are checked at the statement's end): one round trip instead of three
# (app.db.claims_repo.save_version_at). ``em`` None is stored as JSON null, as the JSON column does.
NEW_CLAIM = text(
    "WITH new_claim AS (INSERT INTO claim (id, ehr, encounter, patient, payer_id, status, current_version,"
    " filing_deadline, created_at, updated_at) VALUES (:id, :ehr, :encounter, :patient, :payer_id, :status, 1,"
    " :filing_deadline, :now, :now)),"
    " new_version AS (INSERT INTO claim_version (claim_id, version, fingerprint, mapping_version, config_hash,"
    " resource, em, source_job_id, created_at) VALUES (:id, 1, :fingerprint, :mapping_version, :config_hash,"
    " CAST(:resource AS jsonb), CAST(:em AS jsonb), :source_job_id, :now))"
    " INSERT INTO finding (claim_id, claim_version, rule, category, severity, message, location, source, fix,"
    " overridden_by, override_reason, overridden_at, hold)"
    " SELECT :id, 1, f->>'rule', f->>'category', f->>'severity', f->>'message', f->>'location', f->>'source',"
    " f->>'fix', NULL, NULL, NULL, CAST(f->>'hold' AS boolean)"
    " FROM jsonb_array_elements(CAST(:findings AS jsonb)) WITH ORDINALITY AS t(f, n) ORDER BY t.n"
).bindparams(bindparam("now", type_=DateTime()), bindparam("filing_deadline", type_=Date()))


def new_claim_params(new: NewVersion, status: ClaimStatus, now: datetime) -> dict[str, Any]:
    findings = [{**f.to_dict(), "hold": f.hold} for f in new.findings]
    return {
        "id": new.claim_id, "ehr": new.ehr, "encounter": new.encounter, "patient": new.patient,
        "payer_id": new.payer_id, "status": ClaimStatus(status).value, "filing_deadline": new.filing_deadline,
        "now": now, "fingerprint": new.fingerprint, "mapping_version": new.mapping_version,
        "config_hash": new.config_hash, "resource": orjson.dumps(new.resource).decode(),
        "em": orjson.dumps(new.em).decode(), "source_job_id": new.source_job_id,
        "findings": orjson.dumps(findings).decode(),
    }  # fmt: skip


# What follows the new claim row in both statements below: version 1, its findings and its outbox rows,
# each selecting from ``new_claim`` (empty when the row was there already: then nothing is written).
_AFTER_NEW_CLAIM = (
    " new_version AS (INSERT INTO claim_version (claim_id, version, fingerprint, mapping_version, config_hash,"
    " resource, em, source_job_id, created_at) SELECT c.id, 1, CAST(:fingerprint AS varchar),"
    " CAST(:mapping_version AS varchar), CAST(:config_hash AS varchar), CAST(:resource AS jsonb),"
    " CAST(:em AS jsonb), CAST(:source_job_id AS integer), :now FROM new_claim AS c),"
    " new_findings AS (INSERT INTO finding (claim_id, claim_version, rule, category, severity, message, location,"
    " source, fix, overridden_by, override_reason, overridden_at, hold)"
    " SELECT c.id, 1, f->>'rule', f->>'category', f->>'severity', f->>'message', f->>'location', f->>'source',"
    " f->>'fix', NULL, NULL, NULL, CAST(f->>'hold' AS boolean)"
    " FROM new_claim AS c CROSS JOIN jsonb_array_elements(CAST(:findings AS jsonb)) WITH ORDINALITY AS t(f, n)"
    " ORDER BY t.n),"
    " new_outbox AS (INSERT INTO outbox (destination, kind, key, payload, status, attempts, available_at,"
    " created_at) SELECT o->>'destination', o->>'kind', o->>'key', o->'payload', 'pending', 0, :now, :now"
    " FROM new_claim AS c CROSS JOIN jsonb_array_elements(CAST(:outbox AS jsonb)) WITH ORDINALITY AS t(o, n)"
    " ORDER BY t.n)"
    " SELECT count(*) FROM new_claim"
)


# A claim this job takes to be new (the encounter's stored claims do not have it): its row, version 1,
# its findings and its outbox rows in one statement, no locked read of its head first. Should the row
# exist after all (another transaction stored it, or a claim the encounter's read does not list),
# ``ON CONFLICT DO NOTHING`` leaves it and every later part selects from the empty ``new_claim``: nothing
# is written and the statement answers 0, and the caller takes the path of a stored claim.
NEW_CLAIM_IF_ABSENT = text(  # constant text only (S608: no input is concatenated)
    "WITH new_claim AS (INSERT INTO claim (id, ehr, encounter, patient, payer_id, status, current_version,"  # noqa: S608
    " filing_deadline, created_at, updated_at) VALUES (:id, :ehr, :encounter, :patient, :payer_id, :status, 1,"
    " :filing_deadline, :now, :now) ON CONFLICT (id) DO NOTHING RETURNING id)," + _AFTER_NEW_CLAIM
).bindparams(bindparam("now", type_=DateTime()), bindparam("filing_deadline", type_=Date()))


def new_claim_if_absent_params(
    new: NewVersion, status: ClaimStatus, outbox: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    """``outbox``: the rows (destination, kind, key, payload) in the order they are to be delivered."""
    return {**new_claim_params(new, status, now), "outbox": orjson.dumps(outbox).decode()}


# The same with the encounter's outcome row first (app.db.outcomes_repo: inserted, or replaced unless
# its fingerprint is the same). The claim's insert waits on the outcome's (an InitPlan over
# ``new_outcome``), so the outcome row is locked before the claim row, as on the portable path, and
# the outcome is written whether or not the claim turns out to be stored already.
NEW_CLAIM_IF_ABSENT_WITH_OUTCOME = text(  # constant text only (S608: no input is concatenated)
    "WITH new_outcome AS (INSERT INTO encounter_outcome (ehr, encounter, patient, status, outcome, claim_id, held,"  # noqa: S608
    " findings, fingerprint, source_job_id, created_at, updated_at) VALUES (:o_ehr, :o_encounter, :o_patient,"
    " :o_status, :o_outcome, :o_claim_id, :o_held, CAST(:o_findings AS jsonb), :o_fingerprint, :o_source_job_id,"
    " :now, :now) ON CONFLICT (ehr, encounter) DO UPDATE SET patient = EXCLUDED.patient, status = EXCLUDED.status,"
    " outcome = EXCLUDED.outcome, claim_id = EXCLUDED.claim_id, held = EXCLUDED.held, findings = EXCLUDED.findings,"
    " fingerprint = EXCLUDED.fingerprint, source_job_id = EXCLUDED.source_job_id, updated_at = EXCLUDED.updated_at"
    " WHERE encounter_outcome.fingerprint <> EXCLUDED.fingerprint RETURNING 1),"
    " new_claim AS (INSERT INTO claim (id, ehr, encounter, patient, payer_id, status, current_version,"
    " filing_deadline, created_at, updated_at) SELECT CAST(:id AS varchar), CAST(:ehr AS varchar),"
    " CAST(:encounter AS varchar), CAST(:patient AS varchar), CAST(:payer_id AS varchar), CAST(:status AS varchar),"
    " 1, :filing_deadline, :now, :now WHERE (SELECT count(*) FROM new_outcome) >= 0"
    " ON CONFLICT (id) DO NOTHING RETURNING id)," + _AFTER_NEW_CLAIM
).bindparams(bindparam("now", type_=DateTime()), bindparam("filing_deadline", type_=Date()))


def with_outcome_params(params: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    """``params`` of :data:`NEW_CLAIM_IF_ABSENT` and the outcome row (``outcomes_repo.outcome_values``)."""
    row = {f"o_{k}": v for k, v in outcome.items() if k not in ("created_at", "updated_at")}
    return {**params, **row, "o_findings": orjson.dumps(outcome["findings"]).decode()}


# Each statement's text for the driver, compiled once per statement and kind of dialect.
_COMPILED: dict[tuple[int, str, str, str], str] = {}


def execute_compiled(conn: Connection, stmt: TextClause, params: dict[str, Any]) -> CursorResult[Any]:
    """``conn.execute(stmt, params)`` without SQLAlchemy's per-call parameter processing: ``stmt``'s
    text compiled for the driver once, ``params`` handed to the driver as they are (none of these
    statements' bind types processes a value for psycopg: :func:`driver_text` refuses one that does).
    The statement still goes through the connection (its transaction, events, logging)."""
    dialect = conn.dialect
    key = (id(stmt), dialect.name, dialect.driver, str(dialect.paramstyle))
    sql = _COMPILED.get(key)
    if sql is None:
        sql = _COMPILED[key] = driver_text(stmt, dialect)
    return conn.exec_driver_sql(sql, params)


def driver_text(stmt: TextClause, dialect: Dialect) -> str:
    """``stmt`` compiled for ``dialect``'s driver; a named parameter style and no bind processing
    required (so the caller's parameters are what the driver would get from ``conn.execute``)."""
    compiled = stmt.compile(dialect=dialect)
    if compiled.positiontup:
        raise ValueError(f"{dialect.paramstyle} is not a named parameter style")
    processed = [name for name, bind in compiled.binds.items() if bind.type._cached_bind_processor(dialect)]
    if processed:
        raise ValueError(f"bind parameters {processed} need processing: use conn.execute")
    return str(compiled)
