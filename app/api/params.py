"""Typed, bounded request parameters shared by the routes (out-of-range values are 400, never a 500).

Integers fit a signed 64-bit column (SQLite and PostgreSQL ``bigint``); text path parameters are
bounded; dates stay within years 1900-2999, so date arithmetic cannot overflow.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Path, Query

from app.api.outcomes import OutcomeError

DB_INT_MAX = 2**63 - 1
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)

Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX)]
RowId = Annotated[int, Path(ge=0, le=DB_INT_MAX)]
TextId = Annotated[str, Path(min_length=1, max_length=200)]


def checked_date(value: date | None, name: str) -> date | None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise OutcomeError(400, f"{name} {value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    return value
