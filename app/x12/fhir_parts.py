"""Small readers of R4 datatypes (HumanName, Address, Identifier, CodeableConcept) for the 837P input.

Each returns ``None`` or raises :class:`MissingPart` with a FHIRPath-like location, so
:mod:`app.x12.from_fhir` can report every missing piece of a claim at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from app.errors import FatalError
from app.x12.inputs import Address, PersonName

Resource = dict[str, Any]


class MissingPart(FatalError, ValueError):
    """A required part of a FHIR resource is missing or unusable."""


def identifier_value(resource: Resource, systems: str | Iterable[str]) -> str | None:
    wanted = {systems} if isinstance(systems, str) else set(systems)
    for identifier in resource.get("identifier") or ():
        if identifier.get("system") in wanted and identifier.get("value"):
            return str(identifier["value"])
    return None


def coding_code(concept: Any, systems: str | Iterable[str]) -> str | None:
    wanted = {systems} if isinstance(systems, str) else set(systems)
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        if coding.get("system") in wanted and coding.get("code"):
            return str(coding["code"])
    return None


def first_code(concept: Any) -> str | None:
    """The first coding's code of a CodeableConcept, whatever its system."""
    if not isinstance(concept, dict):
        return None
    return next((str(c["code"]) for c in concept.get("coding") or () if c.get("code")), None)


def person_name(resource: Resource, where: str) -> PersonName:
    names = resource.get("name") or []
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if not chosen or not chosen.get("family"):
        raise MissingPart(f"{where}.name.family is missing")
    given = chosen.get("given") or []
    suffix = chosen.get("suffix") or []
    return PersonName(
        last=chosen["family"],
        first=given[0] if given else "",
        middle=given[1] if len(given) > 1 else "",
        suffix=suffix[0] if suffix else "",
    )


def organization_name(resource: Resource, where: str) -> str:
    name = resource.get("name")
    if not name:
        raise MissingPart(f"{where}.name is missing")
    return str(name)


def address(resource: Resource, where: str) -> Address:
    addresses = resource.get("address") or []
    chosen = next((a for a in addresses if a.get("use") in (None, "work", "home", "billing")), None)
    if chosen is None:
        raise MissingPart(f"{where}.address is missing")
    lines = chosen.get("line") or []
    missing = [f for f in ("city", "state", "postalCode") if not chosen.get(f)]
    if not lines or missing:
        raise MissingPart(f"{where}.address lacks {', '.join(missing or ['line'])}")
    return Address(
        line1=lines[0],
        line2=lines[1] if len(lines) > 1 else "",
        city=chosen["city"],
        state=chosen["state"],
        postal_code=str(chosen["postalCode"]).replace("-", "").replace(" ", ""),
    )


def sex_code(gender: Any) -> str:
    return {"male": "M", "female": "F"}.get(str(gender), "U")


def parse_date(value: Any, where: str) -> date:
    if not isinstance(value, str) or len(value) < 10:
        raise MissingPart(f"{where} is missing or not a full date")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise MissingPart(f"{where} {value!r} is not a date") from exc


def decimal_of(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise MissingPart(f"{where} is missing")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise MissingPart(f"{where} {value!r} is not a number") from exc


def ndc_11(value: str) -> str:
    """An NDC in 11-digit 5-4-2 form, from 5-4-2, 4-4-2, 5-3-2 or 5-4-1 (dashed) or 11 digits."""
    parts = value.split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        widths = (5, 4, 2)
        return "".join(p.zfill(w) for p, w in zip(parts, widths, strict=True))
    return value
