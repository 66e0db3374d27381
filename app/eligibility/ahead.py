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
  inserted ``pending`` as usual. Once the round commits, the identities it planned go into the
  process's :class:`~app.eligibility.triggers.Requested` (shared with the jobs' ``Runtime``): a job in
  this process then plans them as ``known`` without asking whether they are stored (a check row is
  never deleted), and reads the payer's Organization from the bodies it has just stored. Each
  notification's parse goes to its job's prefetch (:class:`~app.intake.parsed.ParsedNotes`) once
  the round is over (the round only reads the resources it parsed, and no longer once it returns).

The job that evaluates the claim after the answer is stored uses it and marks it applied
(:func:`app.db.eligibility_repo.results_applied`), so no re-evaluation follows. Reads and short
inserts only, in the caller's transaction; no payer is called here.

Rows are read after a cursor (the last inbox id looked at). On PostgreSQL an inbox id is taken when
its row is inserted, not when it commits, so a row can become visible after a higher id was read: the
ids skipped below the cursor are kept (:class:`Cursor`, ``GAP_SECONDS``, at most ``GAPS_MAX``, the
highest) and asked again each round until they show up waiting (planned then) or the time runs out (a
rolled-back insert, or a row whose job ran meanwhile). Still an optimisation only: a notification it
misses has its check planned by its job.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.db import eligibility_repo, mirror_repo, queue_repo
from app.db.eligibility_repo import DueCheck
from app.domain.context import key_of
from app.domain.eligibility import CheckKey, EligibilityEndpoint, EligibilityRequest
from app.domain.payers import PayerDirectory
from app.eligibility.gather import Skip, request_for
from app.eligibility.triggers import Identity, Requested, identity, plan_checks
from app.fhir.r4 import InvalidResource, validate_resource
from app.intake.notification import InvalidNotification, Notification, parse_notification

#: The resources a check's planning or request reads (validated before anything is sent from them).
READ_TYPES = frozenset({"Encounter", "Appointment", "Coverage", "Patient", "Organization"})
#: The resources whose change calls for a check (:func:`~app.eligibility.triggers.plan_checks`).
TRIGGER_TYPES = frozenset({"Encounter", "Appointment", "Coverage"})

Ready = tuple[DueCheck, EligibilityRequest, EligibilityEndpoint]


#: How long an inbox id skipped below the cursor is looked for again (its insert may not have committed).
GAP_SECONDS = 10.0
#: At most this many skipped ids are kept (the highest: the ones most likely still committing).
GAPS_MAX = 256


@dataclass
class Cursor:
    """Where the ahead rounds are: the last inbox id looked at, and the ids skipped below it (id ->
    until when it is looked for)."""

    after: int | None = None
    gaps: dict[int, datetime] = field(default_factory=dict)

    def advance(self, seen: Iterable[int], *, now: datetime) -> None:
        """After a round that read the rows ``seen``: move past them, remember the ids skipped."""
        ids = set(seen)
        for inbox in ids:
            self.gaps.pop(inbox, None)
        for inbox in [i for i, until in self.gaps.items() if until <= now]:
            del self.gaps[inbox]
        top = max(ids, default=None)
        if top is None or (self.after is not None and top <= self.after):
            return
        if self.after is not None:  # the first round starts at the first waiting row: nothing skipped
            until = now + timedelta(seconds=GAP_SECONDS)
            for inbox in range(max(self.after + 1, top - GAPS_MAX), top):
                if inbox not in ids:
                    self.gaps[inbox] = until
            if len(self.gaps) > GAPS_MAX:
                for inbox in sorted(self.gaps)[: len(self.gaps) - GAPS_MAX]:
                    del self.gaps[inbox]
        self.after = top


@dataclass
class Planned:
    """One round ahead: the inbox rows looked at, the checks to send now, how many were skipped."""

    seen: list[int]
    ready: list[Ready]
    skipped: int = 0
    #: The identities of the checks planned, stored once the round's transaction commits.
    requested: list[Identity] = field(default_factory=list)
    #: The notifications parsed (inbox id, parse): the round reads them no more once it returns.
    notes: list[tuple[int, Notification]] = field(default_factory=list)


def plan_ahead(
    conn: Connection,
    *,
    after: int | None,
    limit: int,
    payers: PayerDirectory,
    now: datetime,
    lease: float,
    also: Collection[int] = (),
    requested: Requested | None = None,
) -> Planned:
    """The checks of up to ``limit`` waiting notifications after inbox row ``after`` (None: the first
    waiting) or among the rows ``also``, inserted (leased) and built."""
    inboxes = eligibility_repo.waiting_notifications(conn, after=after, limit=limit, also=also)
    planned = Planned(seen=[inbox for inbox, _ in inboxes], ready=[])
    if not inboxes:
        return planned
    bodies = queue_repo.inbox_bodies(conn, [inbox for inbox, _ in inboxes])
    notes = [(ehr, read) for inbox, ehr in inboxes if (read := _read(inbox, bodies[inbox], planned.notes))]
    stored: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for ehr in dict.fromkeys(ehr for ehr, _ in notes):  # the versions stored: one query per EHR for the round
        keys = (key_of(r) for e, read in notes if e == ehr for r in read)
        stored[ehr] = mirror_repo.stored_versions(conn, keys, ehr=ehr)
    for ehr, read in notes:
        changed = [r for r in read if not mirror_repo.is_known(r, stored[ehr])]
        if not any(r.get("resourceType") in TRIGGER_TYPES for r in changed) or not _valid(changed):
            continue  # nothing that calls for a check, or left to its job (which dead-letters it)
        held = {key_of(r): r for r in changed}
        for key in plan_checks(conn, changed, payers=payers, now=now, ehr=ehr, held=held, requested=requested):
            _request(conn, key, held, planned, now=now, lease=lease, payers=payers)
            planned.requested.append(identity(key))  # inserted, or found stored
    return planned


def _read(inbox: int, body: bytes, notes: list[tuple[int, Notification]]) -> list[dict[str, Any]]:
    """The notification's resources that a check's planning or request reads ([]: unreadable, none);
    its parse is kept in ``notes`` (for its job's prefetch, once the round is over)."""
    try:
        note = parse_notification(body)
    except InvalidNotification:
        return []
    notes.append((inbox, note))
    resources = [r for r, _ in note.resources]
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
