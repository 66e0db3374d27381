"""A visit billed through ChargeItems, or through Procedures, goes out as a pyx12-valid 837P."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.cli.x12 import run_build
from app.x12.tokenizer import SegmentReader
from tests.x12.x12_pyx12 import assert_valid_837p

ROOT = Path(__file__).resolve().parents[2]
CPT = "http://www.ama-assn.org/go/cpt"
# A clean new-patient visit (99203, 31 minutes) of the sample data.
VISIT = ROOT / "examples" / "bundles" / "encounter-003.json"


def _charge(kind: str, n: int, code: str, quantity: int = 1) -> dict[str, Any]:
    common = {
        "id": f"{kind.lower()}-003-{n}",
        "code": {"coding": [{"system": CPT, "code": code}]},
        "subject": {"reference": "Patient/pat-003"},
        "performer": [{"actor": {"reference": "Practitioner/prac-006"}}],
    }
    if kind == "ChargeItem":
        return {
            "resourceType": "ChargeItem",
            **common,
            "status": "billable",
            "context": {"reference": "Encounter/enc-003"},
            "quantity": {"value": quantity},
        }
    return {
        "resourceType": "Procedure",
        **common,
        "status": "completed",
        "encounter": {"reference": "Encounter/enc-003"},
        "performedDateTime": "2026-10-02T08:45:00-04:00",
        "reasonReference": [{"reference": "Condition/cond-003-1"}],
    }


def billed_by(kind: str) -> dict[str, Any]:
    """The sample visit with its E/M level and an EKG recorded as ``kind`` resources, not on the Encounter."""
    bundle = copy.deepcopy(json.loads(VISIT.read_text()))
    encounter = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")
    encounter.pop("type")
    for n, code in enumerate(("99203", "93000"), start=1):
        bundle["entry"].append({"resource": _charge(kind, n, code)})
    return bundle


@pytest.mark.parametrize("kind", ["ChargeItem", "Procedure"])
def test_visit_billed_by_fhir_native_charges_writes_a_valid_837p(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(billed_by(kind)))
    out = tmp_path / "claims.837"
    result = run_build(
        path, out=out, config_dir=ROOT / "config", refdata_dir=tmp_path / "none", today=date(2026, 11, 25),
        state_file=tmp_path / "isa13",
    )  # fmt: skip
    assert not result.left_out, result.left_out
    text = out.read_text()
    assert_valid_837p(text)
    sv1 = [seg.elements for seg in SegmentReader(text) if seg.tag == "SV1"]
    assert [s[1] for s in sv1] == ["HC:99203", "HC:93000"]
    assert [s[2] for s in sv1] == ["170.0", "60.0"]
    clm = next(seg.elements for seg in SegmentReader(text) if seg.tag == "CLM")
    assert clm[2] == "230.0"


NURSE = {
    "resourceType": "Practitioner",
    "id": "prac-rn",
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1679576722"}],
    "name": [{"family": "OKAFOR", "given": ["ADA"]}],
}


@pytest.mark.parametrize("kind", ["ChargeItem", "Procedure"])
def test_a_line_performed_by_another_clinician_has_its_own_2420a(kind: str, tmp_path: Path) -> None:
    bundle = billed_by(kind)
    ekg = bundle["entry"][-1]["resource"]
    ekg["performer"] = [{"actor": {"reference": "Practitioner/prac-rn"}}]
    bundle["entry"].append({"resource": NURSE})
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    out = tmp_path / "claims.837"
    result = run_build(
        path, out=out, config_dir=ROOT / "config", refdata_dir=tmp_path / "none", today=date(2026, 11, 25),
        state_file=tmp_path / "isa13",
    )  # fmt: skip
    assert not result.left_out, result.left_out
    text = out.read_text()
    assert_valid_837p(text)
    segs = [seg.elements for seg in SegmentReader(text) if seg.tag in ("LX", "SV1", "NM1")]
    after_clm = segs[[s[1] for s in segs].index("82") :]
    assert [(s[0], s[1], s[-1] if s[0] == "NM1" else "") for s in after_clm] == [
        ("NM1", "82", "1260489731"),  # 2310B: the encounter's rendering provider
        ("LX", "1", ""),
        ("SV1", "HC:99203", ""),
        ("LX", "2", ""),
        ("SV1", "HC:93000", ""),
        ("NM1", "82", "1679576722"),  # 2420A: who did the EKG
    ]
