"""The resource mirror: the latest known version of each EHR resource, and contexts built from it.

A resource is written only when it is newer than what is stored (``meta.versionId`` compared as a
number when both are numbers, else ``meta.lastUpdated``), so an older delivery never overwrites a
newer one. Each row remembers the patient and encounter it belongs to, so an encounter's context is
two or three indexed queries.

Identity is per EHR (:mod:`app.domain.tenancy`): every row and every query is scoped by ``ehr``
(the job's), so another EHR's ``Encounter/1`` is another row, never a newer or older version of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Text, and_, any_, bindparam, case, literal_column, null, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.db import pg_writes
from app.db.models import Resource
from app.domain.context import (
    EncounterContext,
    build_contexts,
    is_history,
    key_of,
    ref_of,
)
from app.domain.resources import encounter_of, is_newer, patient_of, version_of
from app.domain.tenancy import DEFAULT_EHR
from app.errors import TemporaryError

RES = Resource.__table__  # type: ignore[attr-defined]

# Elements whose references must be resolved into the context (Practitioner, Organization, ...).
REFERENCE_ELEMENTS = (
    "serviceProvider",
    "participant",
    "individual",
    "payor",
    "requester",
    "performer",
    "location",
    "practitioner",
    "organization",
    "managingOrganization",
    "generalPractitioner",
    "insurer",
    "provider",
    "subscriber",
    "policyHolder",
    "reasonReference",
    "diagnosis",
    "condition",
    "author",
    "custodian",
)


_EHR: Any = bindparam("ehr")


def _key_in(name: str, dialect: str) -> Any:
    """``key`` in the list bound as ``name``: on PostgreSQL ``= ANY(array)``, one statement text (and
    one server-side prepared plan) for any number of keys; elsewhere an expanding ``IN``."""
    if dialect == "postgresql":
        return RES.c.key == any_(bindparam(name, type_=ARRAY(Text)))
    return RES.c.key.in_(bindparam(name, expanding=True))


def _per_dialect(build: Callable[[str], Any]) -> dict[str, Any]:
    return {dialect: build(dialect) for dialect in ("postgresql", "sqlite")}


_SELECT_VERSIONS = _per_dialect(
    lambda d: select(RES.c.key, RES.c.version_id, RES.c.last_updated).where(RES.c.ehr == _EHR, _key_in("keys", d))
)
# Overwrites a row only while it holds the version read (``was_v``, ``was_lu``): the read does not lock,
# so another transaction may have stored a newer version since (:func:`write_upserts` then reads it).
_UPDATE = (
    RES.update()
    .where(
        RES.c.ehr == bindparam("scope"),
        RES.c.key == bindparam("k"),
        RES.c.version_id.is_not_distinct_from(bindparam("was_v")),
        RES.c.last_updated.is_not_distinct_from(bindparam("was_lu")),
    )
    .values(
        {
            c: bindparam(c)
            for c in ("resource_type", "version_id", "last_updated", "patient", "encounter", "body", "updated_at")
        }
    )
)


def stored_versions(
    conn: Connection, keys: Iterable[str], *, ehr: str = DEFAULT_EHR
) -> dict[str, tuple[str | None, str | None]]:
    """``(versionId, lastUpdated)`` of the stored copies of ``keys`` (absent keys are not in the result)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    rows = conn.execute(_SELECT_VERSIONS[conn.dialect.name], {"ehr": ehr, "keys": wanted})
    return {r.key: (r.version_id, r.last_updated) for r in rows}


def is_known(resource: dict[str, Any], stored: dict[str, tuple[str | None, str | None]]) -> bool:
    """True when this exact version (by ``meta.versionId``) is already stored, hence already validated."""
    vid = version_of(resource)[0]
    known = stored.get(key_of(resource))
    return vid is not None and known is not None and known[0] == vid


def upsert_resources(
    conn: Connection,
    resources: Iterable[dict[str, Any]],
    *,
    now: datetime,
    stored: dict[str, tuple[str | None, str | None]] | None = None,
    ehr: str = DEFAULT_EHR,
    written: dict[str, dict[str, Any]] | None = None,
) -> dict[str, str]:
    """Store each resource unless a newer version is known. Returns key -> new|updated|same|stale.

    One query reads the stored versions of all of them (unless ``stored`` already holds them);
    inserts and updates go out as two batches, in key order. A row another transaction inserted
    since ``stored`` was read is not an error: it is compared with what this call holds (one more
    query), as an update would be. ``written``, if given, receives key -> the body
    stored (new and updated ones), for :func:`load_context` to use without reading it back, and the
    bodies of versions already stored with the same ``versionId`` and ``lastUpdated`` (``same``).
    """
    plan = plan_upserts([resources], stored if stored is not None else {})
    if not plan.latest[0]:
        return {}
    if stored is None:
        plan = plan_upserts(plan.latest, stored_versions(conn, plan.latest[0], ehr=ehr))
    plan = write_upserts(conn, plan, now=now, ehr=ehr)
    if written is not None:
        written.update(plan.held)
    return plan.outcomes[0]


@dataclass(frozen=True)
class UpsertPlan:
    """The resources of several jobs stored as if one job's upsert followed the other's, in one write.

    ``latest``: each job's resources by key (the newest of a key it carries twice). ``base``: the
    stored versions read before (of every key). ``before``: per job, the versions of its keys as
    they stand when its turn comes (``base`` with the earlier jobs' writes over it): what that job's
    :func:`is_known` and superseded checks read. ``outcomes``: per job, key -> new|updated|same|stale
    against ``before``. ``final``: key -> the body the batch leaves stored (keys it writes only).
    ``held``: key -> the stored body after the write, for :func:`load_context` (written ones, and
    versions stored already with the same ``versionId`` and ``lastUpdated``).
    """

    latest: list[dict[str, dict[str, Any]]]
    base: dict[str, tuple[str | None, str | None]]
    before: list[dict[str, tuple[str | None, str | None]]]
    outcomes: list[dict[str, str]]
    final: dict[str, dict[str, Any]]
    held: dict[str, dict[str, Any]]


def plan_upserts(
    jobs: Sequence[Iterable[dict[str, Any]] | Mapping[str, dict[str, Any]]],
    base: dict[str, tuple[str | None, str | None]],
) -> UpsertPlan:
    """What upserting each job's resources one job after another does, over the stored ``base`` (pure)."""
    latest = [dict(job) if isinstance(job, Mapping) else _newest_by_key(job) for job in jobs]
    view = dict(base)  # key -> the version stored when the next job's turn comes
    final: dict[str, dict[str, Any]] = {}
    same: dict[str, dict[str, Any]] = {}
    before, outcomes = [], []
    for resources in latest:
        before.append({key: view[key] for key in resources if key in view})
        outcome: dict[str, str] = {}
        for key, resource in resources.items():
            version, known = version_of(resource), view.get(key)
            done = "new" if known is None else _against(version, known)
            outcome[key] = done
            if done in ("new", "updated"):
                view[key] = version
                final[key] = resource
            elif done == "same" and known == version:
                # A version the mirror already holds (same versionId and lastUpdated) is that version's
                # body: the mirror keeps the first delivery of a version and never rewrites it, so the
                # job's copy stands for it (the shared clinicians and organisations of every notification).
                same.setdefault(key, resource)
        outcomes.append(outcome)
    return UpsertPlan(latest, base, before, outcomes, final, {**same, **final})


def write_upserts(conn: Connection, plan: UpsertPlan, *, now: datetime, ehr: str = DEFAULT_EHR) -> UpsertPlan:
    """Store ``plan.final``: one insert of the keys ``plan.base`` lacks, one batch of updates, in key order.

    A row another transaction inserted since ``plan.base`` was read is not an error: its version is
    read (one more query) and the plan made again over it, so it is compared as an update would be.
    Likewise an update applies only while the row holds the version read (the read does not lock):
    should fewer rows be updated than sent, the others' versions are read and the plan made again over
    them (an older version never overwrites a newer one stored meanwhile; :class:`MirrorRace` after
    ``_UPDATE_ROUNDS`` tries). Returns the plan as written.
    """
    if plan.final:
        _count_write(conn)
    inserts = [
        {"ehr": ehr, "key": key, **_row(plan.final[key], now)} for key in sorted(plan.final) if key not in plan.base
    ]
    if inserts:
        inserted = _insert_new(conn, inserts, ehr=ehr, now=now)
        if raced := [r["key"] for r in inserts if r["key"] not in inserted]:
            # Stored meanwhile by another transaction (committed: the insert waited for it), e.g. two
            # workers' first notifications naming the same new Organization: compared as an update.
            plan = plan_upserts(plan.latest, {**plan.base, **stored_versions(conn, raced, ehr=ehr)})
    # key order: two transactions writing the same rows lock them in one order
    pending = [key for key in sorted(plan.final) if key in plan.base]
    for _ in range(_UPDATE_ROUNDS):
        if not pending:
            return plan
        updates = [
            {
                "scope": ehr,
                "k": key,
                "was_v": plan.base[key][0],
                "was_lu": plan.base[key][1],
                **_row(plan.final[key], now),
            }
            for key in pending
        ]
        if conn.execute(_UPDATE, updates).rowcount == len(updates):
            return plan
        # A row no longer holds the version read: another transaction stored another version since (and
        # committed: the update waited for it). Its version is read and the plan made again over it, so
        # an older version never overwrites a newer one; the rows updated already are left as they are.
        now_stored = stored_versions(conn, pending, ehr=ehr)
        missed = {
            key: known
            for key in pending
            if (known := now_stored.get(key)) is not None and known != version_of(plan.final[key])
        }
        plan = plan_upserts(plan.latest, {**plan.base, **missed})
        pending = [key for key in sorted(missed) if key in plan.final]
    if not pending:
        return plan
    raise MirrorRace(f"the mirror rows {sorted(pending)} kept changing under this transaction")


#: How many times :func:`write_upserts` sends its updates again over rows changed meanwhile.
_UPDATE_ROUNDS = 3


class MirrorRace(TemporaryError):
    """Rows kept changing under a transaction's updates (other workers storing versions of them): the
    job is tried again later."""


def writes(conn: Connection) -> int:
    """How many writes to the mirror this connection has sent (contexts read before the last one may be stale)."""
    return int(conn.info.get(_WRITES, 0))


_WRITES = "claimbridge.mirror_writes"


def _count_write(conn: Connection) -> None:
    conn.info[_WRITES] = writes(conn) + 1


def _newest_by_key(resources: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for resource in resources:  # a notification may carry the same resource twice: keep the newest
        key = key_of(resource)
        if key not in latest or is_newer(version_of(resource), version_of(latest[key])) is True:
            latest[key] = resource
    return latest


def _row(resource: dict[str, Any], now: datetime) -> dict[str, Any]:
    version = version_of(resource)
    return {
        "resource_type": resource["resourceType"],
        "version_id": version[0],
        "last_updated": version[1],
        "patient": patient_of(resource),
        "encounter": encounter_of(resource),
        "body": resource,
        "updated_at": now,
    }


def _against(version: tuple[str | None, str | None], stored: tuple[str | None, str | None]) -> str:
    """What storing ``version`` over the stored one does: ``stale`` (older), ``same`` or ``updated``."""
    newer = is_newer(version, stored)
    if newer is False:
        return "stale"
    if newer is None and version[0] is not None and version[0] == stored[0]:
        return "same"
    return "updated"


def _insert_new(conn: Connection, rows: list[dict[str, Any]], *, ehr: str, now: datetime) -> set[str]:
    """Insert rows not stored yet, skipping (not failing on) those another transaction stored first;
    returns the keys inserted. One statement, rows in the given (key) order.

    On PostgreSQL the rows go as one JSON array (:mod:`app.db.pg_writes`): one statement text for
    any number of rows, where a multi-row ``VALUES`` is a new one of up to ~150 parameters per job.
    """
    if conn.dialect.name == "postgresql":
        return {key for (key,) in conn.execute(pg_writes.NEW_RESOURCES, pg_writes.new_resources_params(rows, ehr, now))}
    return {r.key for r in conn.execute(_sqlite_insert_new(), rows)}


@cache
def _sqlite_insert_new() -> Any:
    return sqlite_insert(RES).on_conflict_do_nothing(index_elements=[RES.c.ehr, RES.c.key]).returning(RES.c.key)


# Patient-level resources: a change re-evaluates the patient's (non-history) encounters.
PATIENT_LEVEL = frozenset({"Coverage", "Patient", "CoverageEligibilityResponse", "ClaimResponse"})


_K: Any = bindparam("k")
_SELECT_VERSION = select(RES.c.version_id, RES.c.last_updated).where(RES.c.ehr == _EHR, RES.c.key == _K)
_SELECT_BODY = select(RES.c.body).where(RES.c.ehr == _EHR, RES.c.key == _K)
_SELECT_LINKS = select(RES.c.resource_type, RES.c.encounter, RES.c.patient).where(RES.c.ehr == _EHR, RES.c.key == _K)
_SELECT_PATIENT_ENCOUNTERS = select(RES.c.key, RES.c.body).where(
    RES.c.ehr == _EHR, RES.c.resource_type == "Encounter", RES.c.patient == bindparam("patient")
)


# The body of a row the caller already holds (``have``) is not sent back: NULL instead.
def _body_unless_held(dialect: str) -> Any:
    return case((_key_in("have", dialect), null()), else_=RES.c.body).label("body")


def _in(column: Any, name: str, dialect: str) -> Any:
    """``column`` in the list bound as ``name`` (as :func:`_key_in`)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(Text)))
    return column.in_(bindparam(name, expanding=True))


def _ehr_beside_a_list(dialect: str) -> Any:
    """``ehr`` beside ``encounter IN (...)``: on SQLite as ``+ehr`` (no index searched on it), else
    SQLite searches the key's index by ``ehr`` alone, every row of the EHR, not the encounter's index."""
    return literal_column("+resource.ehr", RES.c.ehr.type) if dialect == "sqlite" else RES.c.ehr


# The rows of several encounters' contexts: each one's own rows, its patient's patient-level rows and
# encounters, and the patient; split per encounter in :func:`load_contexts`. ``ehr`` is repeated inside each
# branch of the OR so that every branch is an index search (SQLite's multi-index OR; a PostgreSQL
# BitmapOr): with it outside, SQLite scanned every row of the EHR.
_SELECT_CONTEXT_ROWS = _per_dialect(
    lambda d: select(RES.c.key, RES.c.resource_type, RES.c.encounter, RES.c.patient, _body_unless_held(d)).where(
        or_(
            and_(_ehr_beside_a_list(d) == _EHR, _in(RES.c.encounter, "encounters", d)),
            and_(
                RES.c.ehr == _EHR,
                _in(RES.c.patient, "patients", d),
                or_(RES.c.encounter.is_(None), RES.c.resource_type == "Encounter"),
            ),
            and_(RES.c.ehr == _EHR, _in(RES.c.key, "patients", d)),
        ),
    )
)
_SELECT_BODIES = _per_dialect(lambda d: select(RES.c.key, RES.c.body).where(RES.c.ehr == _EHR, _key_in("keys", d)))


def stored_version(conn: Connection, key: str, *, ehr: str = DEFAULT_EHR) -> tuple[str | None, str | None] | None:
    row = conn.execute(_SELECT_VERSION, {"ehr": ehr, "k": key}).first()
    return (row.version_id, row.last_updated) if row else None


def get(conn: Connection, key: str, *, ehr: str = DEFAULT_EHR) -> dict[str, Any] | None:
    body = conn.execute(_SELECT_BODY, {"ehr": ehr, "k": key}).scalar_one_or_none()
    return dict(body) if body is not None else None


def encounters_for(conn: Connection, key: str, *, ehr: str = DEFAULT_EHR) -> list[str]:
    """Encounters (of the same EHR) whose claims a change to resource ``key`` can affect."""
    row = conn.execute(_SELECT_LINKS, {"ehr": ehr, "k": key}).first()
    if row is None:
        return []
    if row.encounter:
        return [row.encounter]
    if row.resource_type in PATIENT_LEVEL and row.patient:
        rows = conn.execute(_SELECT_PATIENT_ENCOUNTERS, {"ehr": ehr, "patient": row.patient})
        return sorted(key for key, body in rows if not is_history(dict(body)))
    return []


def load_context(
    conn: Connection,
    encounter_key: str,
    *,
    ehr: str = DEFAULT_EHR,
    held: Mapping[str, dict[str, Any]] | None = None,
) -> EncounterContext | None:
    """The encounter, everything linked to it or its patient, and the resources they reference (one EHR's).

    ``held``: resources the caller knows to be the stored bodies of their keys in this EHR (those
    the job has just written: ``upsert_resources(..., written=)``); they are taken as they are instead of
    being read and decoded again. Which resources belong to the context is still the mirror's
    answer, so the context is the same as without them.
    """
    return load_contexts(conn, [encounter_key], ehr=ehr, held=held)[encounter_key]


def load_contexts(
    conn: Connection,
    encounters: Sequence[str],
    *,
    ehr: str = DEFAULT_EHR,
    held: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, EncounterContext | None]:
    """:func:`load_context` of each of ``encounters``, their rows read by one query for all of them
    (and each round of referenced resources by one more), split per encounter with the query's
    predicates: each context is the one :func:`load_context` alone would build."""
    held = held or {}
    bodies_of = {e: dict(held[e]) for e in encounters if e in held}
    if missing := sorted(set(encounters) - bodies_of.keys()):
        bodies_of.update(
            (r.key, dict(r.body))
            for r in conn.execute(_SELECT_BODIES[conn.dialect.name], {"ehr": ehr, "keys": missing})
        )
    found = {e: body for e in dict.fromkeys(encounters) if (body := bodies_of.get(e)) is not None}
    patients = {e: patient_of(body) for e, body in found.items()}
    params = {
        "ehr": ehr,
        "encounters": sorted(found),
        "patients": sorted({p for p in patients.values() if p}),
        "have": sorted(held),
    }
    rows = list(conn.execute(_SELECT_CONTEXT_ROWS[conn.dialect.name], params)) if found else []
    by_encounter: dict[str, list[Any]] = {}
    by_patient: dict[str, list[Any]] = {}  # the patient-level rows and encounters of each patient
    by_key: dict[str, Any] = {}
    for r in rows:  # split per encounter with the query's predicates
        if r.encounter is not None:
            by_encounter.setdefault(r.encounter, []).append(r)
        if r.patient is not None and (r.encounter is None or r.resource_type == "Encounter"):
            by_patient.setdefault(r.patient, []).append(r)
        by_key[r.key] = r
    walks: dict[str, tuple[dict[str, dict[str, Any]], list[dict[str, Any]], set[str]]] = {}
    for e, patient in patients.items():
        mine = {r.key: r for r in by_encounter.get(e, ())}
        if patient:
            mine.update((r.key, r) for r in by_patient.get(patient, ()))
            if (own := by_key.get(patient)) is not None:
                mine[patient] = own
        bodies = _in_key_order((k, dict(r.body) if r.body is not None else dict(held[k])) for k, r in mine.items())
        walks[e] = (bodies, list(bodies.values()), set(bodies))
    for _ in range(2):  # referenced resources, and what those reference (Coverage -> payor Organization)
        # Only the bodies added by the previous round are walked again, and a key asked for once is
        # not asked again (it was found, or the mirror does not have it).
        wanted_of = {}
        for e, (_, walk, asked) in walks.items():
            wanted = {k for body in walk for k in _references(body)} - asked
            asked |= wanted
            wanted_of[e] = wanted
        unread = sorted({k for wanted in wanted_of.values() for k in wanted} - held.keys())
        read = (
            {r.key: r.body for r in conn.execute(_SELECT_BODIES[conn.dialect.name], {"ehr": ehr, "keys": unread})}
            if unread
            else {}
        )
        for e, wanted in wanted_of.items():
            bodies, _, asked = walks[e]
            pairs = [(k, dict(held[k])) for k in wanted if k in held] + [
                (k, dict(read[k])) for k in wanted if k in read
            ]
            added = _in_key_order(pairs)
            bodies.update(added)
            walks[e] = (bodies, list(added.values()), asked)
    contexts: dict[str, EncounterContext | None] = dict.fromkeys(encounters)
    for e, (bodies, _, _) in walks.items():
        history = [b for k, b in bodies.items() if b.get("resourceType") == "Encounter" and k != e]
        current = [b for k, b in bodies.items() if not (b.get("resourceType") == "Encounter" and k != e)]
        built = build_contexts(current, history=history)
        contexts[e] = replace(built[0], ehr=ehr) if built else None
    return contexts


def _in_key_order(pairs: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Rows by key, in key order: the context's order never depends on the query plan or the database."""
    return dict(sorted(pairs, key=lambda pair: pair[0]))


def _references(resource: dict[str, Any]) -> Iterable[str]:
    for name in REFERENCE_ELEMENTS:
        if name in resource:
            yield from _walk_references(resource[name])


def _walk_references(value: Any) -> Iterable[str]:
    if isinstance(value, list):
        for item in value:
            yield from _walk_references(item)
    elif isinstance(value, dict):
        key = ref_of(value) if isinstance(value.get("reference"), str) else None
        if key and not key.startswith("urn:"):
            yield key
        for child in value.values():
            if isinstance(child, dict | list):
                yield from _walk_references(child)
