"""The demo's sample data, built as the demo builds it (map, check, 837P): what payers need is there.

Referral claims carry REF*9F and 2310A, lab claims REF*X4, Medicare flu claims G0008 (others keep
90471), and the whole batch still validates with pyx12 (issue 11).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from x12_pyx12 import assert_valid_837p

from app.cli.x12 import BuildResult, run_build
from app.x12.tokenizer import SegmentReader

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[BuildResult, dict[str, list[list[str]]]]:
    tmp = tmp_path_factory.mktemp("demo")
    result = run_build(
        EXAMPLES / "all-encounters.json", out=tmp / "demo.837", config_dir=ROOT / "config",
        refdata_dir=ROOT / "config" / "refdata", today=date(2026, 11, 25), state_file=tmp / "isa13",
    )  # fmt: skip
    text = (tmp / "demo.837").read_text()
    assert_valid_837p(text)
    by_pcn = {r.claim_input.claim_id: r.evaluation.encounter for r in result.plan.ready}
    claims: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for seg in SegmentReader(text):
        if seg.tag == "CLM":
            current = claims.setdefault(by_pcn[seg.elements[1]], [])
        elif seg.tag in ("HL", "SE"):
            current = None
        if current is not None:
            current.append(seg.elements)
    return result, claims


def _tags(segs: list[list[str]]) -> set[tuple[str, str]]:
    return {(s[0], s[1]) for s in segs}


def test_referral_claims_carry_ref_9f_and_2310a(built: tuple[BuildResult, dict[str, list[list[str]]]]) -> None:
    result, claims = built
    referred = [r.evaluation.encounter for r in result.plan.ready if r.evaluation.claim.get("referral")]
    assert len(referred) >= 5
    for encounter in referred:
        tags = _tags(claims[encounter])
        assert ("NM1", "DN") in tags and any(s[:2] == ["REF", "9F"] and s[2] for s in claims[encounter]), encounter
    others = [e for e in claims if e not in referred]
    assert others and all(("NM1", "DN") not in _tags(claims[e]) for e in others)


def test_lab_claims_carry_the_clia_number(built: tuple[BuildResult, dict[str, list[list[str]]]]) -> None:
    _, claims = built
    labs = [e for e, segs in claims.items() if any(s[0] == "SV1" and s[1][3:4] == "8" for s in segs)]
    assert len(labs) >= 10
    for encounter in labs:
        assert ["REF", "X4", "36D0912345"] in claims[encounter], encounter


def test_medicare_flu_claims_bill_g0008(built: tuple[BuildResult, dict[str, list[list[str]]]]) -> None:
    result, claims = built
    payer = {r.evaluation.encounter: r.evaluation.payer_id for r in result.plan.ready}
    flu = {e: segs for e, segs in claims.items() if any(s[0] == "SV1" and s[1] == "HC:90686" for s in segs)}
    medicare = [e for e in flu if payer[e] == "01112"]
    assert medicare and len(flu) > len(medicare)
    for encounter, segs in flu.items():
        codes = {s[1] for s in segs if s[0] == "SV1"}
        expected = "HC:G0008" if encounter in medicare else "HC:90471"
        assert expected in codes and ({"HC:G0008", "HC:90471"} - {expected}).isdisjoint(codes), encounter


def test_manifest_referral_visits_are_the_ones_with_2310a(
    built: tuple[BuildResult, dict[str, list[list[str]]]],
) -> None:
    _, claims = built
    rows = json.loads((EXAMPLES / "manifest.json").read_text())
    hmo = {f"Encounter/{r['encounter']}" for r in rows if r["payer_id"] == "SCHMO" and not r["expected"]}
    assert hmo and all(("NM1", "DN") in _tags(claims[e]) for e in hmo)


def test_drug_quantities_are_in_package_units(built: tuple[BuildResult, dict[str, list[list[str]]]]) -> None:
    _, claims = built
    ctps = [s for segs in claims.values() for s in segs if s[0] == "CTP"]
    assert ctps and all(s[5] in ("UN", "ML") for s in ctps), ctps
