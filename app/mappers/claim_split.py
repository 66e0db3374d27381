"""Split a Claim too large for one 837P claim (over 50 lines or 12 diagnoses) into valid claims. Pure.

:func:`split_claim` returns the claim itself when it fits. Otherwise the lines are taken in order
into parts of at most 50 lines whose lines point at no more than 12 distinct diagnoses; each part
lists the diagnoses its lines point at (in the claim's order, renumbered; the first part also keeps
unpointed ones while there is room), its lines renumbered with their pointers remapped, its own
total, and ``Claim.related`` (relationship ``associated``) naming the first part. The first part
keeps the claim's id; part *n* gets ``<id>-p<n>``. Everything else (patient, provider, care team,
insurance, referral, supporting information) is the same on every part.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

MAX_LINES = 50
MAX_DIAGNOSES = 12
RELATED = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
Resource = dict[str, Any]


def _groups(items: list[Resource]) -> list[list[Resource]]:
    groups: list[list[Resource]] = [[]]
    pointed: set[Any] = set()
    for item in items:
        wanted = set(item.get("diagnosisSequence") or ())
        if len(groups[-1]) >= MAX_LINES or len(pointed | wanted) > MAX_DIAGNOSES:
            groups.append([])
            pointed = set()
        groups[-1].append(item)
        pointed |= wanted
    return groups


def _part(claim: Resource, items: list[Resource], number: int, first_id: str) -> Resource:
    part = copy.deepcopy(claim)
    diagnoses = sorted(claim.get("diagnosis") or (), key=lambda d: d.get("sequence", 0))
    used = {s for i in items for s in i.get("diagnosisSequence") or ()}
    kept = [d for d in diagnoses if d.get("sequence") in used]
    if number == 1:
        kept += [d for d in diagnoses if d.get("sequence") not in used][: MAX_DIAGNOSES - len(kept)]
        kept.sort(key=lambda d: d.get("sequence", 0))
    renumber = {d.get("sequence"): n for n, d in enumerate(kept, start=1)}
    part["diagnosis"] = [{**copy.deepcopy(d), "sequence": renumber[d.get("sequence")]} for d in kept]
    lines = []
    for n, item in enumerate(items, start=1):
        line = {**copy.deepcopy(item), "sequence": n}
        if item.get("diagnosisSequence"):
            line["diagnosisSequence"] = [renumber[s] for s in item["diagnosisSequence"]]
        lines.append(line)
    part["item"] = lines
    total = sum((Decimal(str((i.get("net") or {}).get("value", 0))) for i in lines), Decimal(0))
    part["total"] = {**(claim.get("total") or {}), "value": float(total)}
    if number > 1:
        part["id"] = f"{first_id}-p{number}"
        part["identifier"] = [
            {**i, "value": part["id"]} if i.get("value") == first_id else i for i in claim.get("identifier") or ()
        ]
        part["related"] = [*(claim.get("related") or ()), {"claim": {"reference": f"Claim/{first_id}"},
                           "relationship": {"coding": [{"system": RELATED, "code": "associated"}]}}]  # fmt: skip
    return part


def split_claim(claim: Resource) -> list[Resource]:
    """``[claim]`` when it fits one 837P claim, else its parts (see the module docs)."""
    items = sorted(claim.get("item") or (), key=lambda i: i.get("sequence", 0))
    if not items or (len(items) <= MAX_LINES and len(claim.get("diagnosis") or ()) <= MAX_DIAGNOSES):
        return [claim]
    groups = _groups(items)
    first_id = str(claim.get("id"))
    return [_part(claim, group, n, first_id) for n, group in enumerate(groups, start=1)]
