"""Prior-authorization decisions in a ``ClaimResponse`` (plain R4 and Da Vinci PAS). Pure.

A Da Vinci PAS response decides per item, in the ``reviewAction`` extension
(``.../extension-reviewAction``: on ``item.adjudication`` in PAS 2.0.x, on ``item`` itself in later
versions; both are read, and on ``addItem`` too):

- ``reviewActionCode`` (X12 306 action code): ``A1`` certified in total, ``A2`` certified partial,
  ``A3`` not certified, ``A4`` pended, ``A6`` modified, ``C`` cancelled, ``CT`` contact payer,
  ``NA`` no action required; any other code (a pended placeholder) is read as undecided;
- ``number``: the authorization number (else the response's ``preAuthRef``);
- the item's ``itemPreAuthPeriod`` (else the response's ``preAuthPeriod``) is the window;
- ``itemAuthorizedDetail`` says what was authorized when it differs from the request: its
  ``productOrServiceCode`` (a procedure code; an X12 service-type category restricts nothing) and
  ``quantity``; without it the codes come from ``addItem.productOrService`` or from the item with the
  same ``sequence`` in the request Claim (when the caller has it).

Only ``A1``, ``A2`` and ``A6`` authorize, each for what it names; a denial or a pended item never
does, whatever ``preAuthRef`` the response carries. A response with no review action anywhere is
plain R4: one decision from ``preAuthRef`` / ``preAuthPeriod`` / ``addItem``. Cancelled,
entered-in-error and ``outcome: error`` responses decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Resource = dict[str, Any]

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
REVIEW_ACTION = PAS + "extension-reviewAction"
REVIEW_ACTION_CODE = PAS + "extension-reviewActionCode"
ITEM_PREAUTH_PERIOD = PAS + "extension-itemPreAuthPeriod"
AUTHORIZED_DETAIL = PAS + "extension-itemAuthorizedDetail"
SERVICE_TYPE_SYSTEM = "https://codesystem.x12.org/005010/1365"  # a category, not a billable code

ACTIONS = {
    "A1": "approved", "A2": "partial", "A3": "denied", "A4": "pended", "A6": "modified",
    "C": "cancelled", "CT": "contact-payer", "NA": "no-action-required",
}  # fmt: skip
AUTHORIZING = frozenset({"approved", "partial", "modified"})


@dataclass(frozen=True)
class Decision:
    """One decision: the action, its number, window (``YYYY-MM-DD`` or open), codes and units named."""

    action: str  # a value of ACTIONS, or "undecided"
    number: str | None
    start: str | None = None
    end: str | None = None
    codes: frozenset[str] = frozenset()
    units: dict[str, float] = field(default_factory=dict)

    @property
    def authorizes(self) -> bool:
        return self.action in AUTHORIZING and bool(self.number)

    def covers(self, day: str | None) -> bool:
        """Whether the window holds ``day`` (``YYYY-MM-DD``; no day: yes)."""
        return not day or ((not self.start or self.start <= day) and (not self.end or day <= self.end))


def _ext(element: Any, url: str) -> Resource | None:
    if not isinstance(element, dict):
        return None
    return next((e for e in element.get("extension") or () if isinstance(e, dict) and e.get("url") == url), None)


def _codes(concept: Any, *, skip: str | None = None) -> frozenset[str]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return frozenset(
        str(c["code"]).strip()
        for c in codings or ()
        if isinstance(c, dict) and c.get("code") and (skip is None or c.get("system") != skip)
    )


def _day(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and len(value) >= 10 else None


def _quantity(value: Any) -> float | None:
    raw = value.get("value") if isinstance(value, dict) else None
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def review_action(entry: Resource) -> Resource | None:
    """The ``reviewAction`` extension of an item or addItem (on the item or on one of its adjudications)."""
    found = _ext(entry, REVIEW_ACTION)
    for adjudication in entry.get("adjudication") or ():
        found = found or _ext(adjudication, REVIEW_ACTION)
    return found


def _action(review: Resource) -> tuple[str, str | None]:
    code_ext = _ext(review, REVIEW_ACTION_CODE) or _ext(review, "code")
    codes = _codes((code_ext or {}).get("valueCodeableConcept"))
    number_ext = _ext(review, "number")
    number = (number_ext or {}).get("valueString")
    action = next((ACTIONS[c] for c in sorted(codes) if c in ACTIONS), "undecided")
    return action, number if isinstance(number, str) and number.strip() else None


def _requested_codes(request: Resource | None, sequence: Any) -> frozenset[str]:
    for item in (request or {}).get("item") or ():
        if isinstance(item, dict) and item.get("sequence") == sequence:
            return _codes(item.get("productOrService"))
    return frozenset()


def _item_decision(response: Resource, entry: Resource, review: Resource, request: Resource | None) -> Decision:
    action, number = _action(review)
    top = response.get("preAuthRef")
    period = (_ext(entry, ITEM_PREAUTH_PERIOD) or {}).get("valuePeriod") or response.get("preAuthPeriod") or {}
    detail = _ext(entry, AUTHORIZED_DETAIL) or {}
    codes = _codes((_ext(detail, "productOrServiceCode") or {}).get("valueCodeableConcept"), skip=SERVICE_TYPE_SYSTEM)
    codes = codes or _codes(entry.get("productOrService")) or _requested_codes(request, entry.get("itemSequence"))
    quantity = _quantity((_ext(detail, "quantity") or {}).get("valueQuantity"))
    quantity = _quantity(entry.get("quantity")) if quantity is None else quantity
    return Decision(
        action=action, number=number or (top if isinstance(top, str) and top else None),
        start=_day(period.get("start")), end=_day(period.get("end")), codes=codes,
        units=dict.fromkeys(codes, quantity) if quantity is not None else {},
    )  # fmt: skip


def _first_code(concept: Any) -> str | None:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return next((str(c["code"]).strip() for c in codings or () if isinstance(c, dict) and c.get("code")), None)


def _plain_decision(response: Resource) -> list[Decision]:
    number = response.get("preAuthRef")
    if not isinstance(number, str) or not number:
        return []
    period = response.get("preAuthPeriod") or {}
    entries = [e for key in ("addItem", "item") for e in response.get(key) or () if isinstance(e, dict)]
    codes = frozenset().union(*(_codes(e.get("productOrService")) for e in entries))
    units: dict[str, float] = {}
    for entry in response.get("addItem") or ():
        code, qty = _first_code((entry or {}).get("productOrService")), _quantity((entry or {}).get("quantity"))
        if code and qty is not None:
            units[code] = units.get(code, 0.0) + qty
    return [Decision("approved", number, _day(period.get("start")), _day(period.get("end")), codes, units)]


def decisions(response: Resource, *, request: Resource | None = None) -> list[Decision]:
    """Every decision in ``response``, item by item (PAS) or the one plain-R4 decision."""
    if response.get("status") in ("cancelled", "entered-in-error") or response.get("outcome") == "error":
        return []
    entries = [e for key in ("item", "addItem") for e in response.get(key) or () if isinstance(e, dict)]
    reviewed = [(e, r) for e in entries if (r := review_action(e)) is not None]
    if not reviewed:
        return _plain_decision(response)
    return [_item_decision(response, entry, review, request) for entry, review in reviewed]


def grants(response: Resource, *, request: Resource | None = None) -> list[Decision]:
    """The authorizing decisions of ``response``, merged per (number, window): codes joined, units summed."""
    merged: dict[tuple[str, str | None, str | None], Decision] = {}
    for d in decisions(response, request=request):
        if not d.authorizes or d.number is None:
            continue
        key = (d.number, d.start, d.end)
        if (seen := merged.get(key)) is not None:
            units = dict(seen.units)
            for code, qty in d.units.items():
                units[code] = units.get(code, 0.0) + qty
            d = Decision(seen.action, d.number, d.start, d.end, seen.codes | d.codes, units)
        merged[key] = d
    return list(merged.values())
