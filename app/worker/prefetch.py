"""Step 1b of the pipeline, run by the worker OUTSIDE the job's transaction: fetch what the notification lacks.

For each claimed job: read its stored notification and its subscription (one short read for the
batch: a query for the bodies, one for the subscriptions), then

- the subscription has no EHR, or the notification carries the focus AND more than the
  events' foci (its context)                                       -> nothing to fetch;
- an id-only focus, or a full-resource focus alone (an encounter or order without its context)
                                                                   -> :func:`~app.ehr.fetch.fetch_focus`;
- no focus at all (empty payload, plain R4 ping, recovered gap)    -> a notified pull since the
  subscription's pull mark (or the event's time, minus a margin, the first time).

The fetches of a whole batch run concurrently on the gateway's loop (one bounded HTTP client per
EHR). Outcomes per job: a :class:`Prepared` (possibly ``gone``), or the exception to classify
(temporary: retried with the worker's backoff; fatal: dead letter).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from app.db import ehr_repo, queue_repo
from app.db.ehr_repo import SubscriptionInfo
from app.db.engine import read_only
from app.db.queue_repo import ClaimedJob
from app.ehr.fetch import CONTEXT_TYPES, Fetched, fetch_focus, instant, instant_sort_key, pull_changes, shift_instant
from app.ehr.gateway import EhrGateway
from app.fhir.errors import ResourceGone
from app.intake.notification import InvalidNotification, Notification, parse_notification
from app.intake.parsed import ParsedNotes
from app.worker.errors import FatalJobError, TemporaryJobError


@dataclass(frozen=True)
class Prepared:
    """A job's parsed notification and what was fetched for it (None: nothing to fetch)."""

    note: Notification
    ehr: str | None
    fetched: Fetched | None = None


Outcome = Prepared | BaseException


CONTEXT_FOCI = CONTEXT_TYPES | {"Encounter"}


def prefetch_batch(
    engine: Engine,
    jobs: Sequence[ClaimedJob],
    *,
    gateway: EhrGateway,
    now: datetime,
    parsed: ParsedNotes | None = None,
) -> dict[int, Outcome]:
    """Prepare every job of a batch; EHR fetches run concurrently. ``parsed``: notifications parsed already."""
    out: dict[int, Outcome] = {}
    plans: list[tuple[ClaimedJob, Prepared, Coroutine[Any, Any, Fetched]]] = []
    notes = {job.id: note for job in jobs if parsed is not None and (note := parsed.take(job.inbox_id))}
    with read_only(engine) as conn:  # two queries for the whole batch
        bodies = queue_repo.inbox_bodies(conn, (job.inbox_id for job in jobs if job.id not in notes))
        subs = ehr_repo.subscription_infos(conn, (job.subscription_id for job in jobs))
    for job in jobs:
        note, sub = notes.get(job.id), subs.get(job.subscription_id)
        try:
            prepared, work = plan(job, bodies[job.inbox_id] if note is None else note, sub, gateway=gateway, now=now)
        except Exception as exc:  # classified by the caller
            out[job.id] = exc
            continue
        if work is None:
            out[job.id] = prepared
        else:
            plans.append((job, prepared, work))
    if plans:
        results = gateway.run(_gather([work for _, _, work in plans]))
        for (job, prepared, _), result in zip(plans, results, strict=True):
            out[job.id] = _outcome(job, prepared, result, now=now)
    return out


async def _gather(works: list[Coroutine[Any, Any, Fetched]]) -> list[Fetched | BaseException]:
    return list(await asyncio.gather(*works, return_exceptions=True))


def plan(
    job: ClaimedJob,
    body: bytes | Notification,
    sub: SubscriptionInfo | None,
    *,
    gateway: EhrGateway,
    now: datetime,
) -> tuple[Prepared, Coroutine[Any, Any, Fetched] | None]:
    """What the job needs fetched; ``body``: the stored notification, or its parse."""
    try:
        note = body if isinstance(body, Notification) else parse_notification(body)
    except InvalidNotification as exc:  # stored bodies were checked at intake; this is corruption
        raise FatalJobError(f"stored notification unreadable: {exc}") from exc
    ehr = sub.ehr if sub else None
    prepared = Prepared(note=note, ehr=ehr)
    if ehr is None or sub is None or (job.focus is not None and not lacks(note, job.focus)):
        return prepared, None
    client = gateway.connection(ehr).reader
    if job.focus is not None:
        return prepared, fetch_focus(client, job.focus)
    since = pull_since(
        note,
        job,
        sub,
        margin=gateway.settings.pull_margin_seconds,
        fallback=now - timedelta(seconds=gateway.settings.pull_lookback_seconds),
    )
    return prepared, pull_changes(client, resource_types=sub.resource_types, since=since)


def lacks(note: Notification, focus: str) -> bool:
    """True when the notification lacks ``focus``, or carries it without the context claims need."""
    carried = {f"{r.get('resourceType')}/{r.get('id')}" for r, _ in note.resources}
    if focus not in carried:
        return True
    foci = {e.focus for e in note.events}
    return focus.partition("/")[0] in CONTEXT_FOCI and carried <= foci


def _outcome(job: ClaimedJob, prepared: Prepared, result: Fetched | BaseException, *, now: datetime) -> Outcome:
    if isinstance(result, ResourceGone):
        gone = Fetched(ehr=prepared.ehr, gone=job.focus or "pull")
        return Prepared(prepared.note, prepared.ehr, gone)
    if isinstance(result, BaseException):
        return result
    fetched = Fetched(**{**result.__dict__, "ehr": prepared.ehr, "started_at": now})
    if job.focus and job.version_id:
        _check_not_behind(job, fetched)
    return Prepared(prepared.note, prepared.ehr, fetched)


def _check_not_behind(job: ClaimedJob, fetched: Fetched) -> None:
    """The EHR answered an older version than it notified (a lagging replica): try again later."""
    focus = next((r for r in fetched.resources if f"{r['resourceType']}/{r.get('id')}" == job.focus), None)
    current = str(((focus or {}).get("meta") or {}).get("versionId") or "")
    notified = job.version_id or ""
    if current.isdigit() and notified.isdigit() and int(current) < int(notified):
        raise TemporaryJobError(f"{job.focus}: EHR returned version {current}, notification named {notified}")


def pull_since(note: Notification, job: ClaimedJob, sub: SubscriptionInfo, *, margin: float, fallback: datetime) -> str:
    """Earliest of the subscription's pull mark and the event's time minus ``margin`` (EHR clock)."""
    candidates = [sub.pulled_through] if sub.pulled_through else []
    stamp = next((e.timestamp for e in note.events if e.number == job.event_number and e.timestamp), None)
    if stamp:
        shifted = shift_instant(stamp, -margin)
        candidates.append(shifted or stamp)
    if not candidates:
        return instant(fallback)
    return min(candidates, key=instant_sort_key)
