"""Real-time eligibility answers (``History.verifications``): in force, benefit period, identity, COB,
authorizations the payer requires, and verifications that could not be made.

The answer that counts is the latest one the payer gave about the claim's coverage (``active``,
``inactive`` or ``error``); a later ``unverified`` attempt adds a warning but never hides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.domain.eligibility import in_period
from app.domain.findings import Category, Severity
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register

EL, PA = Category.ELIGIBILITY, Category.PRIOR_AUTH
ERR, WARN = Severity.ERROR, Severity.WARNING
ANSWERED = frozenset({"active", "inactive", "error"})


def _mine(f: ClaimFacts) -> list[dict[str, Any]]:
    cached: list[dict[str, Any]] | None = f.memo.get("verifications")
    if cached is None:
        cached = f.memo["verifications"] = [
            r for r in f.history.verifications if f.coverage_key and r.get("coverage") == f.coverage_key
        ]
    return cached


def latest_answer(f: ClaimFacts) -> dict[str, Any] | None:
    """The latest answered verification of this coverage (computed once per claim)."""
    memo = f.memo
    if "latest_answer" not in memo:
        answered = [r for r in _mine(f) if r.get("status") in ANSWERED]
        memo["latest_answer"] = max(answered, key=lambda r: str(r.get("checked_at")), default=None)
    latest: dict[str, Any] | None = memo["latest_answer"]
    return latest


def _where(result: dict[str, Any]) -> str:
    return f"{result.get('source', 'payer')} answer of {str(result.get('checked_at'))[:10]}"


@register(
    "eligibility.payer-inactive", category=EL, severity=ERR, carc=("27",),
    summary="The payer's latest real-time answer says the coverage is in force.",
    fix="Ask the patient for current insurance; update the Coverage and re-verify.",
)  # fmt: skip
def check_payer_inactive(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    if latest is not None and (latest.get("status") == "inactive" or latest.get("inforce") is False):
        words = f" ({latest['outcome']})" if latest.get("outcome") else ""
        yield Hit(f"The payer says the coverage is not in force{words}: {_where(latest)}.", "Coverage", f.coverage_key)


@register(
    "eligibility.payer-benefit-period", category=EL, severity=ERR, carc=("26", "27"),
    summary="The date of service lies in the benefit period of the payer's latest answer.",
    fix="Check the plan dates with the patient; bill the coverage in force on the date of service.",
)  # fmt: skip
def check_payer_period(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    if latest is None or f.dos is None or latest.get("status") != "active":
        return
    period = latest.get("benefit_period")
    if period and not in_period(period, f.dos):
        start, end = period[0] or "open", period[1] or "open"
        yield Hit(f"Date of service {f.dos} is outside the payer's benefit period {start} to {end}.",
                  "Coverage.period", f.coverage_key)  # fmt: skip


@register(
    "eligibility.payer-identity", category=EL, severity=ERR, carc=("31",),
    summary="The payer matched the member (no member ID, name or birth-date rejection: AAA 58/64-76).",
    fix="Correct the registration the payer rejected, then re-verify.",
)  # fmt: skip
def check_payer_identity(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    for err in (latest or {}).get("errors") or ():
        if err.get("identity"):
            yield Hit(f"The payer rejected the inquiry: {err.get('text')} (code {err.get('code')}).", "Coverage",
                      f.coverage_key, fix=err.get("fix"))  # fmt: skip


@register(
    "eligibility.payer-rejected", category=EL, severity=ERR, carc=("31",),
    summary="The payer accepted the inquiry (no provider or other rejection).",
    fix="Read the payer's reason, correct it and re-verify.",
)  # fmt: skip
def check_payer_rejected(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    for err in (latest or {}).get("errors") or ():
        if not err.get("identity") and not err.get("temporary"):
            yield Hit(f"The payer rejected the inquiry: {err.get('text')} (code {err.get('code')}).", "Coverage",
                      f.coverage_key, fix=err.get("fix"))  # fmt: skip


@register(
    "eligibility.payer-other-primary", category=EL, severity=WARN, carc=("22",),
    summary="The payer's latest answer names no other payer (coordination of benefits).",
    fix="Ask the patient about other insurance; record it and set Coverage.order, then bill the primary first.",
)  # fmt: skip
def check_payer_cob(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    if latest is not None and latest.get("other_payer"):
        yield Hit(f"The payer names another payer ({latest['other_payer']}) that may be primary.", "Coverage.order",
                  f.coverage_key)  # fmt: skip


@register(
    "prior-auth.payer-authorization-required", category=PA, severity=ERR, carc=("15", "197"),
    summary="Services the payer's eligibility answer marks as needing authorization carry one.",
    fix="Obtain the authorization (PAS / 278 / payer portal) and add its number to insurance.preAuthRef.",
)  # fmt: skip
def check_payer_auth(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    latest = latest_answer(f)
    needed = (latest or {}).get("authorization_required") or ()
    if needed and not f.pre_auth_refs:
        yield Hit(f"The payer requires authorization for service type(s) {', '.join(needed)}; none on the claim.",
                  f"{f.insurance_path}.preAuthRef", f.claim_key)  # fmt: skip


@register(
    "eligibility.unverified", category=EL, severity=WARN, carc=("27", "31"),
    summary="The latest real-time verification reached the payer (not timed out, down or circuit open).",
    fix="Re-verify eligibility (claimbridge eligibility check) or call the payer before submitting.",
)  # fmt: skip
def check_unverified(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    mine = _mine(f)
    latest = max(mine, key=lambda r: str(r.get("checked_at")), default=None)
    if latest is not None and latest.get("status") == "unverified":
        yield Hit(f"Could not verify eligibility with the payer: {latest.get('reason') or 'no answer'}.", "Coverage",
                  f.coverage_key)  # fmt: skip
