"""The same service recorded twice is billed once: merging charge lines across sources. Pure.

Lines come from ServiceRequests, MedicationRequests, ChargeItems and Procedures. Two lines are the
same service when

1. one names the other: ``ChargeItem.service`` (an order, a Procedure, a drug order) or
   ``Procedure.basedOn`` (its order); links are followed transitively (a ChargeItem for a Procedure
   based on an order is one service). A link to a drug order merges only lines of the same code: a
   ChargeItem for the administration (96372) of a drug order is a service of its own;
2. or, with no link, one is a ChargeItem or Procedure, the other of another resource type, with the
   same billed code and the same date of service (the encounter is the same by construction). Each
   line is matched at most once per resource type: two Procedures of one code and one ChargeItem of
   that code are two services.

A merged service is billed from the best source: ChargeItem, then Procedure, then the order (then
by id). Empty parts of the kept line (performer, reasons, requester, date, modifiers, a drug's NDC)
are filled from the others. Each merge is an info finding ``duplicate.same-service``; an explicit
link between different codes is also a ``coding.charge-code-differs`` warning (the kept code is billed).
"""

from __future__ import annotations

from dataclasses import replace

from app.domain.findings import Finding
from app.mappers.charges import Line
from app.mappers.issues import make_finding

_RANK = {"ChargeItem": 0, "Procedure": 1}
_DRUG_TYPES = frozenset({"MedicationRequest", "MedicationAdministration"})


def _type(line: Line) -> str:
    return line.source.split("/", 1)[0]


def _rank(line: Line) -> tuple[int, str]:
    return _RANK.get(_type(line), 2), line.source


class _Groups:
    """Union-find over line indexes."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i in range(len(self.parent)):
            out.setdefault(self.find(i), []).append(i)
        return out


def _link(lines: list[Line], groups: _Groups) -> set[frozenset[int]]:
    """Union explicitly linked lines; the pairs whose codes differ."""
    by_source = {line.source: i for i, line in enumerate(lines)}
    differing: set[frozenset[int]] = set()
    for i, line in enumerate(lines):
        for target in line.links:
            j = by_source.get(target)
            if j is None or j == i:
                continue
            same_code = lines[j].code.code == line.code.code
            if _type(lines[j]) in _DRUG_TYPES and not same_code:
                continue
            groups.union(i, j)
            if not same_code:
                differing.add(frozenset((i, j)))
    return differing


def _match_implicit(lines: list[Line], groups: _Groups, default_date: str | None) -> None:
    """Union groups of different resource types with the same code and date of service."""
    for i, line in enumerate(lines):
        for j in range(i + 1, len(lines)):
            other = lines[j]
            if _type(line) not in _RANK and _type(other) not in _RANK:
                continue  # two orders (or an order and a drug) are matched only through a link
            if other.code.code != line.code.code or (other.date or default_date) != (line.date or default_date):
                continue
            members = groups.members()
            types_i = {_type(lines[k]) for k in members[groups.find(i)]}
            types_j = {_type(lines[k]) for k in members[groups.find(j)]}
            if groups.find(i) != groups.find(j) and not types_i & types_j:
                groups.union(i, j)


def _merge(kept: Line, others: list[Line]) -> Line:
    for other in others:
        drug = other.code if other.code.entry.ndc and other.code.code == kept.code.code else None
        kept = replace(
            kept,
            code=kept.code if kept.code.entry.ndc or drug is None else drug,
            ndc_amount=kept.ndc_amount or (other.ndc_amount if drug is not None else None),
            waste_units=kept.waste_units if kept.waste_units is not None else other.waste_units,
            performer=kept.performer or other.performer,
            requester=kept.requester or other.requester,
            reason_refs=kept.reason_refs or other.reason_refs,
            reason_codes=kept.reason_codes or other.reason_codes,
            date=kept.date or other.date,
            modifiers=kept.modifiers or other.modifiers,
        )
    return kept


def merge_same_services(lines: list[Line], *, default_date: str | None) -> tuple[list[Line], list[Finding]]:
    """One line per service (in the order of each service's first line) and the merge findings."""
    groups = _Groups(len(lines))
    differing = _link(lines, groups)
    _match_implicit(lines, groups, default_date)
    out: list[Line] = []
    findings: list[Finding] = []
    for root, members in sorted(groups.members().items()):
        ordered = sorted((lines[i] for i in members), key=_rank)
        kept = _merge(ordered[0], ordered[1:])
        out.append(kept)
        if len(members) > 1:
            findings.append(_merged_finding(kept, ordered[1:]))
        findings += [_differs(lines[a], lines[b]) for a, b in map(sorted, differing) if groups.find(a) == root]
    return out, findings


def _merged_finding(kept: Line, others: list[Line]) -> Finding:
    names = ", ".join(o.source for o in others)
    return make_finding(
        "duplicate.same-service",
        message=f"{names} and {kept.source} record one service ({kept.code.code}); billed once from {kept.source}",
        location=kept.location,
        source=kept.source,
    )


def _differs(a: Line, b: Line) -> Finding:
    kept, other = sorted((a, b), key=_rank)
    return make_finding(
        "coding.charge-code-differs",
        message=f"{kept.source} ({kept.code.code}) is linked to {other.source} ({other.code.code}); "
        f"{kept.code.code} is billed",
        location=kept.location,
        source=kept.source,
    )
