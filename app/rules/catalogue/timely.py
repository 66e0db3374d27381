"""Timely filing: past the payer's deadline is an error; inside the warning window a warning."""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.rules.deadlines import deadline_from, filing_start
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register

TF = Category.TIMELY_FILING


def days_left(f: ClaimFacts) -> tuple[int, str] | None:
    """Days from today to the deadline (negative once passed), computed once per claim."""
    if "days_left" not in f.memo:
        start = filing_start(f.claim, f.lines)
        deadline = deadline_from(start, f.profile) if start else None
        f.memo["days_left"] = ((deadline - f.today).days, deadline.isoformat()) if deadline else None
    left: tuple[int, str] | None = f.memo["days_left"]
    return left


@register(
    "timely-filing.deadline-passed", category=TF, severity=Severity.ERROR, carc=("29",),
    summary="Today is not past the payer's filing deadline (first DOS + timely_filing_days).",
    fix="Send at once with proof of timely filing if any (999/277CA dates), or write off per policy.",
)  # fmt: skip
def check_deadline_passed(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    left = days_left(f)
    if left is not None and left[0] < 0:
        yield Hit(f"Filing deadline {left[1]} passed {-left[0]} days ago "
                  f"({f.profile.timely_filing_days}-day limit).", "Claim.item.servicedDate", f.claim_key)  # fmt: skip


@register(
    "timely-filing.deadline-near", category=TF, severity=Severity.WARNING, carc=("29",),
    summary="Warns when the filing deadline is within the warning window (default 30 days).",
    fix="Prioritise this claim: resolve its findings and submit before the deadline.",
    params={"warning_days": 30},
)  # fmt: skip
def check_deadline_near(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    left = days_left(f)
    if left is not None and 0 <= left[0] <= p["warning_days"]:
        yield Hit(f"{left[0]} days left to file (deadline {left[1]}).", "Claim.item.servicedDate", f.claim_key)
