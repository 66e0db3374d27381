"""Issue 11 items 1, 6, 8, 11: referrals (REF*9F, 2310A), 2420E, 2310D, 2010AB, 2310C, PRV, CLM07-11."""

from __future__ import annotations

import io
from typing import Any

import pytest
from x12_factories import envelope
from x12_fhir_factories import NPI, claim, clinic, context
from x12_pyx12 import assert_valid_837p

from app.x12 import ClaimInput, X12BuildError, claim_input_from_fhir, write_837p
from app.x12.tokenizer import SegmentReader

C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"
ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
INFO = "urn:claimbridge:claim-info"


def person(pid: str, family: str, npi: str) -> dict[str, Any]:
    return {"resourceType": "Practitioner", "id": pid, "identifier": [{"system": NPI, "value": npi}],
            "name": [{"family": family, "given": ["ALEX"]}]}  # fmt: skip


def member(seq: int, ref: str, system: str, role: str) -> dict[str, Any]:
    return {"sequence": seq, "provider": {"reference": ref}, "role": {"coding": [{"system": system, "code": role}]}}


def info(seq: int, code: str, value: str) -> dict[str, Any]:
    return {"sequence": seq, "category": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
            "claiminformationcategory", "code": "info"}]}, "code": {"coding": [{"system": INFO, "code": code}]},
            "valueString": value}  # fmt: skip


def segments(built: ClaimInput) -> list[list[str]]:
    out = io.StringIO()
    write_837p([built], out, envelope=envelope())
    text = out.getvalue()
    assert_valid_837p(text)
    return [s.elements for s in SegmentReader(text)]


def referral_claim() -> tuple[dict[str, Any], Any]:
    pcp, lab_orderer, boss = person("pcp", "WELBY", "1003000126"), person("ord", "KILDARE", "1598765430"), person(
        "boss", "CASEY", "1234567893")  # fmt: skip
    referral = {"resourceType": "ServiceRequest", "id": "ref1", "status": "active", "intent": "order",
                "subject": {"reference": "Patient/pat0"}, "requester": {"reference": "Practitioner/pcp"}}  # fmt: skip
    c = claim(0, referral={"reference": "ServiceRequest/ref1"}, supportingInfo=[info(1, "referral-number", "SCR123")])
    c["careTeam"] += [member(2, "Practitioner/ord", C4BB, "referring"), member(3, "Practitioner/pcp", C4BB,
                      "referring"), member(4, "Practitioner/boss", ROLE, "supervisor")]  # fmt: skip
    c["item"][1]["careTeamSequence"] = [1, 2]
    return c, context(0, extra=(pcp, lab_orderer, boss, referral))


def test_referral_ordering_and_supervising_providers_reach_the_837p() -> None:
    c, ctx = referral_claim()
    built = claim_input_from_fhir(c, ctx)
    assert built.referral_number == "SCR123"
    assert built.referring_provider is not None and built.referring_provider.npi == "1003000126"
    assert built.supervising_provider is not None and built.supervising_provider.npi == "1234567893"
    assert built.lines[1].ordering_provider is not None and built.lines[1].ordering_provider.npi == "1598765430"
    segs = segments(built)
    assert ["REF", "9F", "SCR123"] in segs
    tags = [s[:2] for s in segs]
    assert tags.index(["NM1", "DN"]) < tags.index(["NM1", "82"]) < tags.index(["NM1", "DQ"]) < tags.index(["LX", "1"])
    assert ["NM1", "DK"] in tags and tags.index(["NM1", "DK"]) > tags.index(["LX", "2"])
    assert ["NM1", "DN", "1", "WELBY", "ALEX", "", "", "", "XX", "1003000126"] in segs


def test_without_referral_no_2310a_and_the_rendering_is_not_a_referring_member() -> None:
    c, ctx = referral_claim()
    c.pop("referral")
    c["supportingInfo"] = []
    built = claim_input_from_fhir(c, ctx)
    assert built.referral_number == "" and built.referring_provider is None
    assert built.rendering_provider is not None and built.rendering_provider.npi == "1912301953"
    assert ["NM1", "DN"] not in [s[:2] for s in segments(built)]


def test_pay_to_address_when_payments_go_elsewhere() -> None:
    org = clinic()
    org["address"][0]["type"] = "physical"
    org["address"].append({"use": "work", "type": "postal", "line": ["PO BOX 77"], "city": "COLUMBUS",
                           "state": "OH", "postalCode": "43216"})  # fmt: skip
    built = claim_input_from_fhir(claim(0), context(0, extra=(org,)))
    assert built.billing_provider.address.line1 == "400 HIGH ST"
    segs = segments(built)
    at = segs.index(["NM1", "87", "2"])
    assert segs[at + 1] == ["N3", "PO BOX 77"] and segs[at - 1][:2] == ["REF", "EI"]
    plain = claim_input_from_fhir(claim(0), context(0))
    assert plain.billing_provider.pay_to_address is None


def test_service_facility_accident_and_participation() -> None:
    site = {
        "resourceType": "Location",
        "id": "hopd",
        "name": "LAKEVIEW HOSPITAL OUTPATIENT",
        "identifier": [{"system": NPI, "value": "1003000126"}],
        "address": {"line": ["1 HOSPITAL DR"], "city": "COLUMBUS", "state": "OH", "postalCode": "43210"},
    }
    accident = {"date": "2026-10-30", "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                "v3-ActCode", "code": "MVA"}]}, "locationAddress": {"state": "OH"}}  # fmt: skip
    c = claim(0, facility={"reference": "Location/hopd"}, accident=accident,
              supportingInfo=[info(1, "assignment", "C"), info(2, "benefits-assignment", "N")])  # fmt: skip
    built = claim_input_from_fhir(c, context(0, extra=(site,)))
    segs = segments(built)
    clm = next(s for s in segs if s[0] == "CLM")
    assert clm[6:10] == ["Y", "C", "N", "Y"] and clm[11] == "AA:::OH"
    assert ["DTP", "439", "D8", "20261030"] in segs
    at = segs.index(["NM1", "77", "2", "LAKEVIEW HOSPITAL OUTPATIENT", "", "", "", "", "XX", "1003000126"])
    assert segs[at + 1] == ["N3", "1 HOSPITAL DR"]


def test_line_level_prior_authorization_only_where_it_differs() -> None:
    c = claim(0)
    c["item"][1]["extension"] = [{"url": "urn:claimbridge:line-prior-auth", "valueString": "PA-992"}]
    c["item"][0]["extension"] = [{"url": "urn:claimbridge:line-prior-auth", "valueString": "PA-991"}]
    built = claim_input_from_fhir(c, context(0))
    segs = segments(built)
    g1 = [(i, s) for i, s in enumerate(segs) if s[:2] == ["REF", "G1"]]
    lx2 = segs.index(["LX", "2"])
    assert [s for _, s in g1] == [["REF", "G1", "PA-991"], ["REF", "G1", "PA-992"]]
    assert g1[0][0] < segs.index(["LX", "1"]) and g1[1][0] > lx2


def test_a_void_without_the_payers_claim_number_is_refused() -> None:
    with pytest.raises(X12BuildError, match="nothing to void"):
        claim_input_from_fhir(claim(0, status="cancelled"), context(0))


def test_billing_taxonomy_from_the_settings_or_the_organization_type() -> None:
    org = clinic()
    org["type"] = [{"coding": [{"system": "http://nucc.org/provider-taxonomy", "code": "261QP2300X"}]}]
    assert ["PRV", "BI", "PXC", "261QP2300X"] in segments(claim_input_from_fhir(claim(0), context(0, extra=(org,))))
    stamped = claim(0, supportingInfo=[info(1, "billing-taxonomy", "207Q00000X")])
    assert ["PRV", "BI", "PXC", "207Q00000X"] in segments(claim_input_from_fhir(stamped, context(0)))
    assert not any(s[:2] == ["PRV", "BI"] for s in segments(claim_input_from_fhir(claim(0), context(0))))


def test_rendering_taxonomy_from_the_practitioner_role_when_the_care_team_has_none() -> None:
    nucc = "http://nucc.org/provider-taxonomy"
    role = {"resourceType": "PractitionerRole", "id": "doc-role", "practitioner": {"reference": "Practitioner/doc"},
            "specialty": [{"coding": [{"system": nucc, "code": "207R00000X"}]}]}  # fmt: skip
    bare = claim(0)
    bare["careTeam"][0].pop("qualification")
    assert ["PRV", "PE", "PXC", "207R00000X"] in segments(claim_input_from_fhir(bare, context(0, extra=(role,))))
    by_role = claim(0)
    by_role["careTeam"][0] = {**by_role["careTeam"][0], "provider": {"reference": "PractitionerRole/doc-role"}}
    by_role["careTeam"][0].pop("qualification")
    built = claim_input_from_fhir(by_role, context(0, extra=(role,)))
    assert built.rendering_provider is not None and built.rendering_provider.taxonomy == "207R00000X"
    assert not any(s[:2] == ["PRV", "PE"] for s in segments(claim_input_from_fhir(bare, context(0))))
