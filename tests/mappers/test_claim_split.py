"""A claim over 12 diagnoses or 50 lines becomes several valid claims (issue 11 item 11)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.config.loader import load_config
from app.domain.history import History
from app.evaluate import evaluate_encounter
from app.mappers.claim_split import split_claim
from app.x12 import claim_input_from_fhir, write_837p
from tests.mappers.factories import CPT, Visit, condition, service_request
from tests.x12.x12_factories import envelope
from tests.x12.x12_fhir_factories import claim as x12_claim
from tests.x12.x12_fhir_factories import context as x12_context
from tests.x12.x12_pyx12 import assert_valid_837p

CONFIG = Path(__file__).resolve().parents[2] / "config"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
# 14 billable ICD-10-CM codes and 14 priced CPT codes (synthetic charge master)
DX = ["E11.9", "I10", "E78.5", "J06.9", "M54.50", "R51.9", "K21.9", "F41.1", "G47.00", "N39.0", "R05.9",
      "E66.9", "M17.11", "R00.2"]  # fmt: skip


def big_claim(lines: int, diagnoses: int) -> dict[str, Any]:
    items = [
        {"sequence": n, "productOrService": {"coding": [{"system": CPT, "code": "36415"}]},
         "diagnosisSequence": [(n - 1) * diagnoses // lines + 1], "net": {"value": 10.0}}
        for n in range(1, lines + 1)
    ]  # fmt: skip
    dx = [{"sequence": n, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": f"Z{n:02d}"}]}}
          for n in range(1, diagnoses + 1)]  # fmt: skip
    return {"resourceType": "Claim", "id": "cb-1", "identifier": [{"system": "urn:claimbridge:claim", "value": "cb-1"}],
            "item": items, "diagnosis": dx, "total": {"value": 10.0 * lines, "currency": "USD"}}  # fmt: skip


def test_parts_respect_both_limits_and_add_up() -> None:
    claim = big_claim(120, 20)
    parts = split_claim(claim)
    assert [p["id"] for p in parts] == ["cb-1", "cb-1-p2", "cb-1-p3"]
    assert sum(len(p["item"]) for p in parts) == 120 and sum(p["total"]["value"] for p in parts) == 1200.0
    for part in parts:
        assert len(part["item"]) <= 50 and len(part["diagnosis"]) <= 12
        sequences = {d["sequence"] for d in part["diagnosis"]}
        assert all(set(i["diagnosisSequence"]) <= sequences for i in part["item"])
        assert [i["sequence"] for i in part["item"]] == list(range(1, len(part["item"]) + 1))
    assert parts[1]["related"][-1]["claim"] == {"reference": "Claim/cb-1"}
    assert split_claim(big_claim(50, 12)) == [big_claim(50, 12)]


def test_an_encounter_with_14_diagnoses_is_billed_as_two_valid_claims() -> None:
    visit = Visit()
    for n, code in enumerate(DX, start=1):
        reason = condition(f"cond-x{n}", visit.pat, visit.enc, code)
        order = service_request(f"sr-{n}", visit.pat, visit.enc, CPT, "36415" if n % 2 else "85025", reasons=[reason])
        visit.extra += [reason, order]
    visit.enc["diagnosis"] = [{"condition": {"reference": f"Condition/cond-x{n}"}} for n in range(1, len(DX) + 1)]
    config = load_config(CONFIG, refdata_dirs=[])
    ctx = visit.context()
    ev = evaluate_encounter(ctx, config=config, history=History(), today=date(2024, 11, 25),
                            now=datetime(2024, 11, 21, 12, tzinfo=UTC))  # fmt: skip
    assert ev is not None and len(ev.parts) >= 1
    claims = [e.claim for e in (ev, *ev.parts)]
    assert all(len(c["diagnosis"]) <= 12 for c in claims)
    assert {d["diagnosisCodeableConcept"]["coding"][0]["code"] for c in claims for d in c["diagnosis"]} >= set(DX)
    assert all("coding.dx-too-many" not in {f.rule for f in e.findings} for e in (ev, *ev.parts))


def test_the_parts_of_a_split_claim_write_a_valid_837p() -> None:
    big = x12_claim(0)
    big["diagnosis"] = [{"sequence": n, "diagnosisCodeableConcept": {"coding": [{"system": ICD, "code": code}]}}
                        for n, code in enumerate(DX, start=1)]  # fmt: skip
    template = big["item"][0]
    big["item"] = [{**template, "sequence": n, "diagnosisSequence": [n], "modifier": []} for n in range(1, 15)]
    big["total"] = {"value": 150.0 * 14, "currency": "USD"}
    parts = split_claim(big)
    assert len(parts) == 2 and [len(p["diagnosis"]) for p in parts] == [12, 2]
    ids = [{"system": "urn:claimbridge:patient-control-number", "value": f"PCN{n}"} for n in range(len(parts))]
    inputs = [claim_input_from_fhir({**p, "identifier": [i]}, x12_context(0)) for p, i in zip(parts, ids, strict=True)]
    assert [c.total_charge for c in inputs] == [1800, 300]
    out = io.StringIO()
    summary = write_837p(inputs, out, envelope=envelope())
    assert summary.claim_count == 2 and not summary.refused
    assert_valid_837p(out.getvalue())
