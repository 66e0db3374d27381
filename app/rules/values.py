"""Small readers over FHIR R4 JSON (dicts): dates, codings, identifiers, NPIs. Pure and cheap."""

from __future__ import annotations

from collections.abc import Container
from datetime import date
from functools import lru_cache
from typing import Any

from stdnum import luhn

from app.domain.context import ref_of, reference_key
from app.rules.codes import NPI

Resource = dict[str, Any]
_MEMO_LIMIT = 16384
# Exact-string memos for the hot readers (dates and references repeat across lines and claims);
# DATES is read inline by the line reader (a hit there is parse_date's answer for that string).
DATES: dict[str, date | None] = {}
_REFS: dict[str, str | None] = {}


def obj(value: Any) -> Resource:
    """``value`` if it is a JSON object, else an empty dict (for safe ``.get`` chains)."""
    return value if isinstance(value, dict) else {}


def parse_date(value: Any) -> date | None:
    """A full ``YYYY-MM-DD`` date (a dateTime is cut to its date); partial or bad dates -> None."""
    if value.__class__ is str:
        try:
            return DATES[value]
        except KeyError:
            pass
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        found: date | None = date.fromisoformat(value[:10])
    except ValueError:
        found = None
    if value.__class__ is str:
        if len(DATES) >= _MEMO_LIMIT:
            DATES.clear()
        DATES[value] = found
    return found


def ref_key(value: Any) -> str | None:
    """:func:`app.domain.context.ref_of` with an exact-string memo (same results, same errors)."""
    raw = value.get("reference") if value.__class__ is dict else value if value.__class__ is str else None
    if raw.__class__ is str:
        try:
            return _REFS[raw]
        except KeyError:
            if len(_REFS) >= _MEMO_LIMIT:
                _REFS.clear()
            key = _REFS[raw] = reference_key(raw)
            return key
    return ref_of(value)


def number(value: Any) -> float | None:
    """``value`` of a Quantity/Money dict (or a bare number) as float."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def codings(concept: Any) -> list[Resource]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, dict)]


def code_in(concept: Any, systems: Container[str] | None = None) -> tuple[str, str] | None:
    """``(system, code)`` of the first coding in ``systems`` (any coding when ``systems`` is None)."""
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            code = coding.get("code")
            if code and isinstance(code, str) and (systems is None or coding.get("system") in systems):
                return str(coding.get("system") or ""), code.strip()
    return None


def preferred_code(concept: Any, systems: Container[str]) -> tuple[str, str] | None:
    """The first coding in ``systems``, else the first coding at all (one pass)."""
    if not isinstance(concept, dict):
        return None
    fallback = None
    for coding in concept.get("coding") or ():
        if isinstance(coding, dict):
            code = coding.get("code")
            if code and isinstance(code, str):
                system = coding.get("system")
                if system in systems:
                    return str(system), code.strip()
                if fallback is None:
                    fallback = (str(system or ""), code.strip())
    return fallback


def identifier_values(resource: Resource | None, system: str | None = None) -> list[str]:
    """Identifier values of a resource (optionally only those of ``system``)."""
    if not resource:
        return []
    out = []
    for ident in resource.get("identifier") or ():
        ok = isinstance(ident, dict) and isinstance(ident.get("value"), str)
        if ok and (system is None or ident.get("system") == system):
            out.append(ident["value"].strip())
    return out


def identifier_by_type(resource: Resource | None, type_code: str) -> str | None:
    """The value of the identifier whose ``type`` has coding ``type_code`` (e.g. TAX, MB)."""
    for ident in (resource or {}).get("identifier") or ():
        if isinstance(ident, dict) and any(c.get("code") == type_code for c in codings(ident.get("type"))):
            value = ident.get("value")
            if isinstance(value, str):
                return value.strip()
    return None


def npi_of(resource: Resource | None) -> str | None:
    values = identifier_values(resource, NPI)
    return values[0] if values else None


@lru_cache(maxsize=4096)
def npi_problem(npi: str | None) -> str | None:
    """Why ``npi`` is not a valid NPI (10 digits, first 1/2, Luhn over 80840+NPI), or None."""
    if not npi:
        return "missing"
    if len(npi) != 10 or not npi.isdigit():
        return f"{npi!r} is not 10 digits"
    if npi[0] not in "12":
        return f"{npi!r} does not start with 1 or 2"
    if not luhn.is_valid("80840" + npi):
        return f"{npi!r} fails the check digit"
    return None


def age_on(birth: date, on: date) -> int:
    """Whole years of age on a date."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def key_of(resource: Resource | None) -> str | None:
    if not resource:
        return None
    return f"{resource.get('resourceType')}/{resource.get('id')}"
