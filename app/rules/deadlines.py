"""Timely filing: the payer deadline of a claim (for rules and for ordering a submission queue)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from app.domain.payers import PayerProfile
from app.rules.facts import Line, read_lines
from app.rules.values import obj, parse_date


def filing_start(claim: dict[str, Any], lines: Sequence[Line]) -> date | None:
    """The date the filing window runs from: the earliest line date of service (lines default to
    billablePeriod.start), else billablePeriod.start, else Claim.created."""
    dates = [line.dos for line in lines if line.dos]
    if dates:
        return min(dates)
    return parse_date(obj(claim.get("billablePeriod")).get("start")) or parse_date(claim.get("created"))


def deadline_from(start: date, profile: PayerProfile) -> date:
    return start + timedelta(days=profile.timely_filing_days)


def filing_deadline(claim: dict[str, Any], profile: PayerProfile) -> date:
    """Last day the payer accepts the claim: first DOS + ``timely_filing_days``.

    Falls back to ``Claim.created`` when no service date is present; raises ``ValueError`` if the
    claim has no date at all.
    """
    start = filing_start(claim, read_lines(claim))
    if start is None:
        raise ValueError("claim has no service date and no created date")
    return deadline_from(start, profile)
