"""When to verify: the resources a job changed -> the verifications to request (idempotent).

- a **Coverage** created or changed (status active): verify it for today;
- an **Appointment** booked: verify each of the patient's active coverages for the appointment's
  date now, and again 24 hours before it starts (a ``day-before`` check due then: the worker's
  eligibility duty is the scheduler); the ``appointment-book`` CDS hook asks the same booking check
  when the EHR calls it, before the Appointment is even stored (:func:`plan_booking`);
- an **Encounter** becoming ``arrived`` / ``in-progress`` (check-in): verify for its date;
  ``finished`` without an answer from the payer within the profile's ``eligibility_max_age_days``:
  verify for its date.

Only payers whose profile has an ``eligibility`` section are asked. A Coverage that also gets an
encounter or appointment check in the same job is not checked a second time for today.
Called by the pipeline inside the job's transaction with the job's EHR (identity is per EHR: the
coverages, payers and answers read are that EHR's): it only inserts rows; nothing calls a payer here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from app.bounded import Bounded
from app.db import eligibility_repo, mirror_repo
from app.domain.context import is_history, key_of, patient_of, ref_of
from app.domain.eligibility import CHECK_IN_STATUSES, CheckKey
from app.domain.payers import PayerDirectory
from app.domain.tenancy import DEFAULT_EHR
from app.eligibility.gather import Held, endpoint_of

DAY_BEFORE = timedelta(hours=24)

#: A check's identity: (ehr, coverage, service_date, trigger), unique in ``eligibility_check``.
Identity = tuple[str, str, date, str]


def identity(key: CheckKey) -> Identity:
    return (key.ehr, key.coverage, key.service_date, key.trigger)


class Requested(Bounded[Identity, None]):
    """Check identities this process knows to be stored: inserted (or found stored) by a transaction that
    committed. A check row is never deleted and its identity is unique, so such a key stays requested: a
    later planning in this process marks it ``known`` (not inserted again) without asking the database.
    What it does not hold is asked as before. Bounded (the oldest are forgotten); shared by threads."""

    def __init__(self, most: int = 8192) -> None:
        super().__init__(most)

    def add(self, keys: Iterable[Identity]) -> None:
        self.put_all((key, None) for key in keys)


def local_date(value: Any) -> date | None:
    """The calendar date of a FHIR date/dateTime/instant as written (its own offset)."""
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


#: Payer ids found in one planning (coverage key and meta.versionId -> payer id or None).
Memo = dict[tuple[str, object], str | None]


def _payer_of(
    conn: Connection,
    coverage: dict[str, Any],
    payers: PayerDirectory,
    ehr: str,
    memo: Memo | None = None,
    held: Held = None,
) -> str | None:
    if coverage.get("status") != "active":
        return None
    key = (key_of(coverage), (coverage.get("meta") or {}).get("versionId"))
    if memo is not None and key in memo:
        return memo[key]
    found = endpoint_of(conn, coverage, payers, ehr=ehr, held=held)
    payer = found[0].payer_id if found else None
    if memo is not None:
        memo[key] = payer
    return payer


def patient_coverages(conn: Connection, patient: str, *, ehr: str, held: Held = None) -> list[dict[str, Any]]:
    """The patient's Coverages: the mirror's, each replaced by its ``held`` version, and the held ones new to it."""
    found = {key_of(c): c for c in eligibility_repo.patient_coverages(conn, patient, ehr=ehr)}
    for key, resource in (held or {}).items():
        if resource.get("resourceType") == "Coverage":
            found.pop(key, None)
            if patient_of(resource) == patient:
                found[key] = resource
    return list(found.values())


def _covered(
    conn: Connection,
    patient: str | None,
    payers: PayerDirectory,
    ehr: str,
    memo: Memo | None = None,
    held: Held = None,
) -> list[tuple[str, str]]:
    """(coverage key, payer id) of the patient's active coverages whose payer has an endpoint."""
    if not patient:
        return []
    out = []
    for cov in patient_coverages(conn, patient, ehr=ehr, held=held):
        payer = _payer_of(conn, cov, payers, ehr, memo, held)
        if payer:
            out.append((key_of(cov), payer))
    return sorted(out)


def plan_checks(
    conn: Connection,
    changed: Iterable[dict[str, Any]],
    *,
    payers: PayerDirectory,
    now: datetime,
    ehr: str = DEFAULT_EHR,
    held: Held = None,
    requested: Requested | None = None,
) -> list[CheckKey]:
    """The checks ``changed`` calls for. ``held``: resources not stored yet (a waiting job's
    notification), read before the mirror's versions, so the checks are the ones its job will plan
    (or the bodies the job has just stored: the same as reading them back). ``requested``: identities
    known to be stored (:class:`Requested`): their keys come back ``known`` without a lookup."""
    if not any(p.eligibility for p in payers.profiles.values()):
        return []  # no payer verifies in real time: nothing to read
    keys: list[CheckKey] = []
    coverages: list[CheckKey] = []
    memo: Memo = {}
    for resource in changed:
        kind = resource.get("resourceType")
        if kind == "Coverage":
            payer = _payer_of(conn, resource, payers, ehr, memo, held)
            patient = ref_of(resource.get("beneficiary"))
            if payer and patient:
                coverages.append(CheckKey(key_of(resource), now.date(), "coverage", patient, payer, now, ehr=ehr))
        elif kind == "Appointment":
            keys += _appointment(conn, resource, payers=payers, now=now, ehr=ehr, memo=memo, held=held)
        elif kind == "Encounter":
            keys += _encounter(conn, resource, payers=payers, now=now, ehr=ehr, memo=memo, held=held,
                               requested=requested)  # fmt: skip
    planned = {k.coverage for k in keys}
    keys += [k for k in coverages if k.coverage not in planned]
    if requested is None:
        return keys
    return [replace(k, known=True) if not k.known and identity(k) in requested else k for k in keys]


#: Appointment statuses the ``appointment-book`` hook is not booking (nothing to verify).
NOT_BOOKING = frozenset({"cancelled", "noshow", "entered-in-error", "fulfilled"})


def plan_booking(
    conn: Connection,
    appointments: Iterable[dict[str, Any]],
    *,
    patient: str,
    payers: PayerDirectory,
    now: datetime,
    ehr: str = DEFAULT_EHR,
) -> list[CheckKey]:
    """The ``appointment-book`` CDS hook: verify the patient's active coverages for each appointment's
    day now. The key is the ``appointment`` one the booked Appointment's notification plans, so the
    payer is asked once; that notification adds the day-before check (the hook's appointments are
    usually ``proposed`` and not in the mirror yet)."""
    if not any(p.eligibility for p in payers.profiles.values()):
        return []
    memo: Memo = {}
    keys: dict[tuple[str, date], CheckKey] = {}
    for appt in appointments:
        day = local_date(appt.get("start"))
        if appt.get("resourceType") != "Appointment" or appt.get("status") in NOT_BOOKING or day is None:
            continue
        for coverage, payer in _covered(conn, patient, payers, ehr, memo):
            keys.setdefault((coverage, day), CheckKey(coverage, day, "appointment", patient, payer, now, ehr=ehr))
    return list(keys.values())


def appointment_patient(appointment: dict[str, Any]) -> str | None:
    for part in appointment.get("participant") or ():
        ref = ref_of((part or {}).get("actor"))
        if ref and ref.startswith("Patient/"):
            return ref
    return None


def _appointment(
    conn: Connection,
    appt: dict[str, Any],
    *,
    payers: PayerDirectory,
    now: datetime,
    ehr: str,
    memo: Memo,
    held: Held = None,
) -> list[CheckKey]:
    start = instant(appt.get("start"))
    day = local_date(appt.get("start"))
    patient = appointment_patient(appt)
    if appt.get("status") != "booked" or start is None or day is None or patient is None:
        return []
    key = key_of(appt)
    out = []
    for coverage, payer in _covered(conn, patient, payers, ehr, memo, held):
        out.append(CheckKey(coverage, day, "appointment", patient, payer, now, appointment=key, ehr=ehr))
        if start - DAY_BEFORE > now:
            out.append(CheckKey(coverage, day, "day-before", patient, payer, start - DAY_BEFORE, appointment=key,
                                ehr=ehr))  # fmt: skip
    return out


def _encounter(
    conn: Connection,
    enc: dict[str, Any],
    *,
    payers: PayerDirectory,
    now: datetime,
    ehr: str,
    memo: Memo,
    held: Held = None,
    requested: Requested | None = None,
) -> list[CheckKey]:
    status = enc.get("status")
    if (status not in CHECK_IN_STATUSES and status != "finished") or is_history(enc):
        return []
    patient = ref_of(enc.get("subject"))
    day = local_date((enc.get("period") or {}).get("start")) or now.date()
    key = key_of(enc)
    out = []
    for coverage, payer in _covered(conn, patient, payers, ehr, memo, held):
        known = False
        if status == "finished" and requested is not None and (ehr, coverage, day, "finished") in requested:
            known = True  # stored: planned again (not inserted), whatever the fresh answer
        elif status == "finished":
            window = payers.profile_for(payer).eligibility_max_age_days
            since = datetime.combine(day - timedelta(days=window), datetime.min.time(), tzinfo=now.tzinfo)
            # a fresh answer: no check, unless this very one is known (asked ahead of this job from its
            # notification, its answer is the fresh one): planned again (``known``: not inserted again), so
            # the Coverage is not checked a second time
            known, fresh = eligibility_repo.answer_state(conn, coverage, day, "finished", since=since, ehr=ehr)
            if fresh and not known:
                continue
        trigger = "finished" if status == "finished" else "check-in"
        out.append(CheckKey(coverage, day, trigger, patient or "", payer, now, encounter=key, ehr=ehr, known=known))
    return out


def still_wanted(
    conn: Connection, *, appointment: str | None, service_date: date, ehr: str = DEFAULT_EHR
) -> str | None:
    """Why a scheduled check is no longer needed (the appointment was cancelled or moved), else None."""
    if appointment is None:
        return None
    appt = mirror_repo.get(conn, appointment, ehr=ehr)
    if appt is None:
        return f"{appointment} is no longer in the mirror"
    if appt.get("status") != "booked":
        return f"{appointment} is {appt.get('status')}"
    if local_date(appt.get("start")) != service_date:
        return f"{appointment} moved to another day"
    return None
