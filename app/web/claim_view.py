"""The draft claim as a biller reads it, and findings grouped by who must act (pure: dicts in, dicts out)."""

from __future__ import annotations

from typing import Any

#: who must act on a finding, by category (the order the groups are shown in)
ACTORS: dict[str, tuple[str, ...]] = {
    "Clinician": ("documentation", "undercoding", "charge-capture"),
    "Coder / biller": ("coding", "duplicate", "timely-filing"),
    "Front desk": ("eligibility", "prior-auth", "missing-data"),
}
OTHER = "Billing office"


def actor_for(category: str) -> str:
    return next((who for who, cats in ACTORS.items() if category in cats), OTHER)


def group_findings(findings: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """``[(who, findings)]`` in a fixed order, errors first inside a group, empty groups left out."""
    rank = {"error": 0, "warning": 1, "info": 2}
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        groups.setdefault(actor_for(str(f.get("category", ""))), []).append(f)
    order = [*ACTORS, OTHER]
    return [
        (who, sorted(groups[who], key=lambda f: (rank.get(str(f.get("severity")), 3), f.get("id") or 0)))
        for who in order
        if who in groups
    ]


def _code(concept: Any) -> str:
    if not isinstance(concept, dict):
        return "-"
    codings = concept.get("coding") or []
    if codings and isinstance(codings[0], dict):
        return str(codings[0].get("code") or "-")
    return str(concept.get("text") or "-")


def _money(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) else None


def claim_lines(claim: dict[str, Any]) -> dict[str, Any]:
    """Lines (code, modifiers, units, charge, diagnosis pointers as codes), diagnoses, insurance and total."""
    diagnoses = []
    by_sequence: dict[int, str] = {}
    for dx in claim.get("diagnosis") or []:
        code = _code(dx.get("diagnosisCodeableConcept"))
        by_sequence[int(dx.get("sequence", 0))] = code
        diagnoses.append({"sequence": dx.get("sequence"), "code": code})
    lines = []
    for item in claim.get("item") or []:
        pointers = [int(p) for p in item.get("diagnosisSequence") or []]
        lines.append(
            {
                "sequence": item.get("sequence"),
                "code": _code(item.get("productOrService")),
                "modifiers": [_code(m) for m in item.get("modifier") or []],
                "units": (item.get("quantity") or {}).get("value", 1),
                "charge": _money(item.get("net")) or _money(item.get("unitPrice")),
                "pointers": pointers,
                "pointer_codes": [by_sequence.get(p, "?") for p in pointers],
                "service_date": item.get("servicedDate"),
            }
        )
    insurance = [
        {
            "sequence": ins.get("sequence"),
            "focal": ins.get("focal"),
            "coverage": (ins.get("coverage") or {}).get("reference") or (ins.get("coverage") or {}).get("display"),
        }
        for ins in claim.get("insurance") or []
    ]
    insurer = claim.get("insurer") or {}
    return {
        "lines": lines,
        "diagnoses": diagnoses,
        "insurance": insurance,
        "insurer": insurer.get("display") or insurer.get("reference") or (insurer.get("identifier") or {}).get("value"),
        "total": _money(claim.get("total")),
    }
