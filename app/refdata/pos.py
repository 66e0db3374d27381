"""The CMS place-of-service code set (codes only; public domain), current as of 2026."""

from __future__ import annotations

POS_SYSTEM = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"

_RANGES = ((1, 27), (31, 34), (41, 42), (49, 58), (60, 62), (65, 66), (71, 72), (81, 81), (99, 99))

POS_CODES: frozenset[str] = frozenset(f"{n:02d}" for lo, hi in _RANGES for n in range(lo, hi + 1))
