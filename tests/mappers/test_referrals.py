"""Referrals: Encounter.basedOn -> Claim.referral, the referral number and the referring provider."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.config.mappings import load_mappings
from app.domain.context import build_contexts, key_of, resources_from_bundle
from app.fhir.r4 import validate_resource
from app.mappers import map_encounter
from app.mappers.referrals import CLAIM_INFO_SYSTEM, INFO_CATEGORY
from tests.mappers.conftest import CREATED
from tests.mappers.factories import LOCAL, Visit, condition, practitioner, ref, referral, service_request

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PCP = ("pcp-1", "1679576722")


def referred_visit(**kwargs) -> Visit:
    """A specialist visit based on a PCP referral (the referral and the PCP are in the context)."""
    visit = Visit()
    pcp = practitioner(*PCP)
    found = referral("ref-1", visit.pat, requester=pcp, **kwargs)
    visit.enc["basedOn"] = [ref(found)]
    visit.extra += [pcp, found]
    return visit


def roles(claim: dict) -> list[tuple[str, str]]:
    return [(m["provider"]["reference"], m["role"]["coding"][0]["code"]) for m in claim.get("careTeam", [])]


def referral_numbers(claim: dict) -> list[str]:
    return [
        info["valueString"]
        for info in claim.get("supportingInfo", [])
        if info["code"]["coding"][0] == {"system": CLAIM_INFO_SYSTEM, "code": "referral-number"}
    ]


def test_referral_becomes_claim_referral_with_number_and_referring_provider(run) -> None:
    result = run(referred_visit(number="SCR97110098").context())
    claim = result.claim
    assert claim["referral"] == {"reference": "ServiceRequest/ref-1"}
    assert referral_numbers(claim) == ["SCR97110098"]
    info = claim["supportingInfo"][0]
    assert info["sequence"] == 1 and info["category"]["coding"][0] == {"system": INFO_CATEGORY, "code": "info"}
    assert roles(claim) == [("Practitioner/prac-1", "primary"), ("Practitioner/pcp-1", "referring")]
    # claim-level referring provider: the E/M line is the rendering clinician's alone
    assert claim["item"][0]["careTeamSequence"] == [1]
    assert not result.findings
    assert claim["item"] and claim["total"]["value"] == 145.0  # the referral is never a charge line


def test_irrelevant_fields_and_order_do_not_change_the_referral(run) -> None:
    baseline = run(referred_visit().context())
    for seed in range(4):
        assert run(referred_visit().context(rng=random.Random(seed))) == baseline


def test_referral_without_number_is_a_warning_and_keeps_the_reference(run) -> None:
    result = run(referred_visit(number=None).context())
    assert result.claim["referral"] == {"reference": "ServiceRequest/ref-1"}
    assert referral_numbers(result.claim) == []
    assert [(f.rule, f.severity.value, f.source) for f in result.findings] == [
        ("missing-data.referral-number", "warning", "ServiceRequest/ref-1")
    ]


@pytest.mark.parametrize("number", ["", "   "])
def test_blank_referral_number_counts_as_missing(run, number: str) -> None:
    result = run(referred_visit(number=number).context())
    assert {f.rule for f in result.findings} == {"missing-data.referral-number"}
    assert "supportingInfo" not in result.claim


def test_based_on_an_ordinary_order_or_nothing_known_is_not_a_referral(run) -> None:
    visit = Visit()
    order = service_request("sr-xr", visit.pat, visit.enc, LOCAL, "XR-CHEST-2V", category="363679005")
    visit.enc["basedOn"] = [ref(order), {"reference": "ServiceRequest/not-here"}, {"reference": "CarePlan/cp-1"}]
    visit.extra.append(order)
    result = run(visit.context())
    assert "referral" not in result.claim
    assert "supportingInfo" not in result.claim
    assert roles(result.claim) == [("Practitioner/prac-1", "primary")]
    assert not {f.rule for f in result.findings} & {"missing-data.referral-number"}


def test_first_referral_among_based_on_targets_wins(run) -> None:
    visit = referred_visit(number="FIRST")
    other = referral("ref-2", visit.pat, number="SECOND")
    visit.enc["basedOn"] = [{"reference": "CarePlan/cp-1"}, *visit.enc["basedOn"], ref(other)]
    visit.extra.append(other)
    result = run(visit.context())
    assert result.claim["referral"] == {"reference": "ServiceRequest/ref-1"}
    assert referral_numbers(result.claim) == ["FIRST"]


def test_self_referral_keeps_one_primary_care_team_member(run) -> None:
    visit = Visit()
    found = referral("ref-1", visit.pat, requester=visit.prac)
    visit.enc["basedOn"] = [ref(found)]
    visit.extra.append(found)
    result = run(visit.context())
    assert roles(result.claim) == [("Practitioner/prac-1", "primary")]
    assert result.claim["referral"] == {"reference": "ServiceRequest/ref-1"}


def test_referral_requester_who_also_ordered_a_line_is_one_care_team_member(run) -> None:
    visit = referred_visit()
    pcp = next(r for r in visit.extra if r["id"] == PCP[0])
    visit.extra.append(service_request("sr-xr", visit.pat, visit.enc, LOCAL, "XR-CHEST-2V", requester=pcp))
    result = run(visit.context())
    assert roles(result.claim) == [("Practitioner/prac-1", "primary"), ("Practitioner/pcp-1", "referring")]
    assert result.claim["item"][1]["careTeamSequence"] == [1, 2]


def test_referral_number_follows_the_onset_supporting_info(run) -> None:
    visit = referred_visit(number="N-1")
    visit.cond = condition("cond-1", visit.pat, visit.enc, "E11.9", onset="2024-11-01")
    result = run(visit.context())
    infos = result.claim["supportingInfo"]
    assert [(i["sequence"], i["category"]["coding"][0]["code"]) for i in infos] == [(1, "onset"), (2, "info")]
    assert infos[1]["valueString"] == "N-1"


def test_referral_number_system_is_configuration(config_copy, chargemaster) -> None:
    path = config_copy / "mappings" / "professional-claim.yaml"
    text = path.read_text()
    assert "system = 'urn:claimbridge:referral-number'" in text
    path.write_text(text.replace("urn:claimbridge:referral-number", "http://payer.example/referrals"))
    custom = load_mappings(config_copy)
    visit = referred_visit(number="P-77", number_system="http://payer.example/referrals")
    result = map_encounter(visit.context(), mappings=custom, chargemaster=chargemaster, created=CREATED)
    assert result is not None
    assert referral_numbers(result.claim) == ["P-77"]


def test_without_the_referral_fields_nothing_is_mapped(config_copy, chargemaster) -> None:
    path = config_copy / "mappings" / "professional-claim.yaml"
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  encounter.referrals:"))
    del lines[start : start + 2]
    path.write_text("".join(lines))
    result = map_encounter(
        referred_visit().context(), mappings=load_mappings(config_copy), chargemaster=chargemaster, created=CREATED
    )
    assert result is not None and "referral" not in result.claim


def _sample_contexts() -> list[tuple[dict, object]]:
    out = []
    for path in sorted((EXAMPLES / "bundles").glob("*.json")):
        bundle = json.loads(path.read_text())
        first = bundle["entry"][0]["resource"]  # the encounter of the bundle comes first
        contexts = {c.key: c for c in build_contexts(resources_from_bundle(bundle))}
        out.append((first, contexts[key_of(first)]))
    return out


def test_sample_referrals_reach_the_claim(mappings, chargemaster) -> None:
    manifest = {row["encounter"]: row for row in json.loads((EXAMPLES / "manifest.json").read_text())}
    seen = missing = 0
    for encounter, ctx in _sample_contexts():
        result = map_encounter(ctx, mappings=mappings, chargemaster=chargemaster, created=CREATED)
        if result is None:
            continue
        validate_resource(result.claim)
        row = manifest[encounter["id"]]
        if not encounter.get("basedOn"):
            assert "referral" not in result.claim
            missing += "referral-missing" in row["expected"]
            continue
        seen += 1
        target = ctx.resolve(encounter["basedOn"][0])  # type: ignore[attr-defined]
        number = next(i["value"] for i in target["identifier"] if i["system"] == "urn:claimbridge:referral-number")
        assert result.claim["referral"] == {"reference": key_of(target)}
        assert referral_numbers(result.claim) == [number]
        assert (target["requester"]["reference"], "referring") in roles(result.claim)
        assert "referral-missing" not in row["expected"]
    assert seen >= 3 and missing >= 1
