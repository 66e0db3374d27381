"""The SMART encounter view's eligibility and prior-authorization panels: read models and the two actions.

Reads only what the worker stored (``eligibility_check``, ``prior_auth_alert``, the mirror); the
actions queue work and never call a payer from the web request:

- **re-check eligibility** requests a ``manual`` verification due now (the trigger path: the worker's
  eligibility duty claims it, calls the payer with no transaction open, stores the answer, writes it
  back and re-evaluates the claim; the same row ``claimbridge eligibility check`` records);
- **request authorization** is :func:`app.priorauth.submit.submit_order` (``claimbridge pa submit``):
  the PAS request is built, checked and queued to the outbox in the caller's transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

from app.db import eligibility_repo, mirror_repo, priorauth_repo
from app.domain.context import key_of, ref_of
from app.domain.eligibility import CheckKey
from app.domain.payers import PayerDirectory
from app.eligibility.gather import endpoint_of, payer_profile
from app.eligibility.share import visit_estimate
from app.eligibility.triggers import local_date

#: Alert states from which a person may (re)start a PAS request (submit_order refuses the others).
REQUESTABLE = frozenset({"open", "denied"})
RECHECK_TRIGGER = "manual"


def _patient_and_day(conn: Connection, encounter: str, ehr: str) -> tuple[str | None, date | None]:
    enc = mirror_repo.get(conn, encounter, ehr=ehr) or {}
    return ref_of(enc.get("subject")), local_date((enc.get("period") or {}).get("start"))


def encounter_coverage(conn: Connection, encounter: str, claim: dict[str, Any] | None, *, ehr: str) -> str | None:
    """The visit's coverage: the claim's focal insurance, else the patient's first active Coverage (of ``ehr``)."""
    if claim is not None:
        insurance = sorted(claim["claim"].get("insurance") or (), key=lambda i: not i.get("focal"))
        for ins in insurance:
            ref = ref_of(ins.get("coverage"))
            if ref and ref.startswith("Coverage/"):
                return ref
    patient, _ = _patient_and_day(conn, encounter, ehr)
    if not patient:
        return None
    coverages = eligibility_repo.patient_coverages(conn, patient, ehr=ehr)
    active = sorted(key_of(c) for c in coverages if c.get("status") == "active")
    return active[0] if active else None


def eligibility_panel(
    conn: Connection,
    payers: PayerDirectory,
    *,
    encounter: str,
    claim: dict[str, Any] | None,
    now: datetime,
    ehr: str,
) -> dict[str, Any]:
    """Coverage, payer, whether it verifies in real time, the latest answer, a pending check, the estimate
    (all of ``ehr``, the session's data scope)."""
    coverage = encounter_coverage(conn, encounter, claim, ehr=ehr)
    if coverage is None:
        return {"coverage": None}
    resource = mirror_repo.get(conn, coverage, ehr=ehr)
    profile = payer_profile(conn, resource, payers, ehr=ehr) if resource else None
    checks = eligibility_repo.list_checks(conn, coverage=coverage, ehr=ehr, limit=50)
    # the newest answer, also while its row waits for a re-check (the panel then says "pending" beside it)
    latest = max((c for c in checks if c["status"]), key=lambda c: (_instant(c["checked_at"]), c["id"]), default=None)
    # a day-before check of a later appointment is not "pending" yet
    pending = next((c for c in checks if c["state"] in ("pending", "running") and _instant(c["due_at"]) <= now), None)
    skipped = checks[0] if checks and checks[0]["state"] == "skipped" else None
    return {
        "coverage": coverage,
        "payer": profile.name if profile is not None and not profile.is_default else None,
        "verifiable": resource is not None and endpoint_of(conn, resource, payers, ehr=ehr) is not None,
        "latest": latest,
        "checked": _shown(latest["checked_at"]) if latest else None,
        "pending": pending,
        "skipped": (skipped.get("result") or {}).get("reason") if skipped else None,
        "estimate": visit_estimate(conn, payers, latest, encounter=encounter) if latest else None,
    }


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


def _shown(value: str | None) -> str:
    """``2026-12-03 14:05 UTC`` for a person."""
    return _instant(value).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


def recheck_key(
    conn: Connection,
    payers: PayerDirectory,
    *,
    encounter: str,
    claim: dict[str, Any] | None,
    now: datetime,
    ehr: str,
) -> CheckKey | str:
    """The verification to queue for the visit's coverage (of ``ehr``), or why there is none (a sentence)."""
    coverage = encounter_coverage(conn, encounter, claim, ehr=ehr)
    if coverage is None:
        return "This encounter has no coverage on file to verify."
    resource = mirror_repo.get(conn, coverage, ehr=ehr)
    found = endpoint_of(conn, resource, payers, ehr=ehr) if resource else None
    if resource is None or found is None:
        return "This coverage's payer does not answer eligibility requests in real time."
    patient, day = _patient_and_day(conn, encounter, ehr)
    patient = patient or ref_of(resource.get("beneficiary"))
    if not patient:
        return "The coverage names no patient."
    payer_id = found[0].payer_id
    return CheckKey(coverage, day or now.date(), RECHECK_TRIGGER, patient, payer_id, now, encounter=encounter, ehr=ehr)


def priorauth_panel(conn: Connection, payers: PayerDirectory, encounter: str, *, ehr: str) -> list[dict[str, Any]]:
    """The alerts of the encounter's orders (of ``ehr``), oldest first: can it be requested now, does the
    payer take PAS."""
    out = []
    for alert in priorauth_repo.list_alerts(conn, encounter=encounter, ehr=ehr, limit=100):
        electronic = bool(payers.profile_for(alert.payer_id).prior_auth_endpoint)
        requestable = alert.status in REQUESTABLE and electronic
        out.append({**alert.view(), "requestable": requestable, "electronic": electronic})
    return out
