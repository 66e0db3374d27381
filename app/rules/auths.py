"""Authorizations on file (History.authorizations), normalized for the prior-auth rules.

Two shapes are read:

- a ``ClaimResponse`` (use ``preauthorization``), read by :func:`app.domain.preauth.grants`: each
  approved, partially approved or modified Da Vinci PAS item (review action A1/A2/A6) with its
  number, ``itemPreAuthPeriod`` and the codes and units it authorized; a denied or pended item is
  no authorization. A plain R4 response (no review action): ``preAuthRef`` is the number,
  ``preAuthPeriod`` the window, ``addItem[].productOrService`` / ``addItem[].quantity`` the codes and
  units granted. Cancelled, entered-in-error and ``outcome: error`` responses are ignored;
- a local record ``{"number", "period": {"start", "end"}, "codes": [...], "units": n | {code: n},
  "patient": {"reference"}}`` where a bare ``units`` number is granted per listed code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from app.domain.preauth import grants
from app.rules.facts import read_lines
from app.rules.values import key_of, number, obj, parse_date, ref_key

if TYPE_CHECKING:
    from app.rules.facts import ClaimFacts


@dataclass(frozen=True)
class Authorization:
    number: str
    start: date | None
    end: date | None
    codes: frozenset[str] = frozenset()
    units: dict[str, float] = field(default_factory=dict)
    source: str | None = None
    patient: str | None = None

    def covers(self, dos: date) -> bool:
        return (self.start is None or self.start <= dos) and (self.end is None or dos <= self.end)


def _from_claim_response(resp: dict[str, Any]) -> list[Authorization]:
    source, patient = key_of(resp), ref_key(resp.get("patient"))
    return [
        Authorization(
            number=g.number,
            start=parse_date(g.start),
            end=parse_date(g.end),
            codes=g.codes,
            units=dict(g.units),
            source=source,
            patient=patient,
        )
        for g in grants(resp)
        if g.number
    ]


def _from_record(rec: dict[str, Any]) -> Authorization | None:
    num = rec.get("number")
    if not isinstance(num, str):
        return None
    period = obj(rec.get("period"))
    codes = frozenset(str(c) for c in rec.get("codes") or ())
    raw, each = rec.get("units"), number(rec.get("units"))
    units: dict[str, float] = {}
    if isinstance(raw, dict):
        units = {str(k): v for k, val in raw.items() if (v := number(val)) is not None}
    elif each is not None:
        units = dict.fromkeys(codes, each)
    return Authorization(
        number=num, start=parse_date(period.get("start")), end=parse_date(period.get("end")),
        codes=codes, units=units, source=f"authorization/{num}", patient=ref_key(rec.get("patient")),
    )  # fmt: skip


def normalize(records: Iterable[dict[str, Any]]) -> list[Authorization]:
    out = []
    for rec in records:
        if not isinstance(rec, dict):
            continue
        if rec.get("resourceType") == "ClaimResponse":
            out.extend(_from_claim_response(rec))
        elif (auth := _from_record(rec)) is not None:
            out.append(auth)
    return out


def authorizations_for(f: ClaimFacts) -> list[Authorization]:
    """Authorizations on file whose number is on the claim (and that are about this patient)."""
    if not f.pre_auth_refs:
        return []
    wanted = set(f.pre_auth_refs)
    return [
        a for a in normalize(f.history.authorizations)
        if a.number in wanted and (a.patient is None or a.patient == f.patient_key)
    ]  # fmt: skip


def units_billed(f: ClaimFacts, auth_number: str, code: str) -> float:
    """Units of ``code`` on this claim plus earlier claims that cite the same authorization."""
    total = sum(line.units or 0.0 for line in f.lines if line.code == code)
    for other in f.other_claims:
        if any(auth_number in (obj(ins).get("preAuthRef") or ()) for ins in other.get("insurance") or ()):
            total += sum(line.units or 0.0 for line in read_lines(other) if line.code == code)
    return total
