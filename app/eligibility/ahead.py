"""Checks sent ahead of their claim jobs: planned from the notifications of the jobs still waiting.

A visit's notification carries what its verification needs (the Encounter, the Coverage, the
patient, the payer's Organization). Waiting for its claim job to store them in the mirror would put
every check behind the job queue (200 visits arriving at once: the last check could not start
before the 200th job). So the eligibility duty, each round, reads the notifications stored since it
last looked whose work waits (not expanded into jobs yet, or with a pending job) and plans their
checks with :func:`~app.eligibility.triggers.plan_checks` over those resources (``held``: read before
the mirror's versions), exactly as the job will:

- the resources are the ones the job will call ``changed`` (not already stored at that version), of
  the types a planning or a request reads (the stored versions asked in one query per round); they
  are validated against R4 first, and a notification that fails is left to its job (which
  dead-letters it): nothing is sent from an invalid resource;
- each check is inserted already leased to this worker (``running``), so no other worker claims it
  and reads a mirror that lacks its Coverage; its job later plans the same (coverage, date of
  service, trigger) and the insert is ignored (idempotent). A check due later (day-before) is
  inserted ``pending`` as usual.

The job that evaluates the claim after the answer is stored uses it and marks it applied
(:func:`app.db.eligibility_repo.results_applied`), so no re-evaluation follows. Reads and short
inserts only, in the caller's transaction; no payer is called here. An optimisation only: a
notification it misses (stored out of id order on PostgreSQL) has its check planned by its job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.db import eligibility_repo, mirror_repo, queue_repo
from app.db.eligibility_repo import DueCheck
from app.domain.context import key_of
from app.domain.eligibility import CheckKey, EligibilityEndpoint, EligibilityRequest
from app.domain.payers import PayerDirectory
from app.eligibility.gather import Skip, request_for
from app.eligibility.triggers import plan_checks
from app.fhir.r4 import InvalidResource, validate_resource
from app.intake.notification import InvalidNotification, parse_notification

#: The resources a check's planning or request reads (validated before anything is sent from them).
READ_TYPES = frozenset({"Encounter", "Appointment", "Coverage", "Patient", "Organization"})
#: The resources whose change calls for a check (:func:`~app.eligibility.triggers.plan_checks`).
TRIGGER_TYPES = frozenset({"Encounter", "Appointment", "Coverage"})

Ready = tuple[DueCheck, EligibilityRequest, EligibilityEndpoint]


@dataclass
class Planned:
    """One round ahead: the last inbox row looked at, the checks to send now, how many were skipped."""

    cursor: int | None
    ready: list[Ready]
    skipped: int = 0


def plan_ahead(
    conn: Connection, *, after: int | None, limit: int, payers: PayerDirectory, now: datetime, lease: float
) -> Planned:
    """The checks of up to ``limit`` waiting notifications after inbox row ``after`` (None: the first
    waiting), inserted (leased) and built."""
    inboxes = eligibility_repo.waiting_notifications(conn, after=after, limit=limit)
    planned = Planned(cursor=max((inbox for inbox, _ in inboxes), default=after), ready=[])
    if not inboxes:
        return planned
    bodies = queue_repo.inbox_bodies(conn, [inbox for inbox, _ in inboxes])
    notes = [(ehr, read) for inbox, ehr in inboxes if (read := _read(bodies[inbox]))]
    stored: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for ehr in dict.fromkeys(ehr for ehr, _ in notes):  # the versions stored: one query per EHR for the round
        keys = (key_of(r) for e, read in notes if e == ehr for r in read)
        stored[ehr] = mirror_repo.stored_versions(conn, keys, ehr=ehr)
    for ehr, read in notes:
        changed = [r for r in read if not mirror_repo.is_known(r, stored[ehr])]
        if not any(r.get("resourceType") in TRIGGER_TYPES for r in changed) or not _valid(changed):
            continue  # nothing that calls for a check, or left to its job (which dead-letters it)
        held = {key_of(r): r for r in changed}
        for key in plan_checks(conn, changed, payers=payers, now=now, ehr=ehr, held=held):
            _request(conn, key, held, planned, now=now, lease=lease, payers=payers)
    return planned


def _read(body: bytes) -> list[dict[str, Any]]:
    """The notification's resources that a check's planning or request reads ([]: unreadable, none)."""
    try:
        resources = [r for r, _ in parse_notification(body).resources]
    except InvalidNotification:
        return []
    read = [r for r in resources if r.get("resourceType") in READ_TYPES]
    return read if any(r.get("resourceType") in TRIGGER_TYPES for r in read) else []


def _valid(resources: Iterable[dict[str, Any]]) -> bool:
    try:
        for resource in resources:
            validate_resource(resource)
    except InvalidResource:
        return False
    return True


def _request(
    conn: Connection,
    key: CheckKey,
    held: dict[str, dict[str, Any]],
    planned: Planned,
    *,
    now: datetime,
    lease: float,
    payers: PayerDirectory,
) -> None:
    if key.known:  # stored already: its job or another worker has it
        return
    if key.due_at > now:  # a day-before check: the duty claims it when it falls due
        eligibility_repo.request_checks(conn, [key], now=now)
        return
    check_id = eligibility_repo.request_leased(conn, key, now=now, lease=lease)
    if check_id is None:  # known already: its job or another worker has it
        return
    got = request_for(conn, coverage_key=key.coverage, service_date=key.service_date, payers=payers,
                      encounter_key=key.encounter, trace=f"cb-elig-{check_id}", ehr=key.ehr, held=held)  # fmt: skip
    if isinstance(got, Skip):
        eligibility_repo.skip(conn, check_id, reason=got.reason, now=now)
        planned.skipped += 1
        return
    check = DueCheck(check_id, key.coverage, key.service_date, key.trigger, key.patient, key.payer_id, key.encounter,
                     key.appointment, 1, key.ehr, key.due_at)  # fmt: skip
    planned.ready.append((check, *got))
