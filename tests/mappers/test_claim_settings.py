"""Payer codes and provider settings applied to a mapped Claim (issue 11 items 2, 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.config.payers import load_payers
from app.config.providers import load_providers
from app.domain.context import build_contexts
from app.domain.payers import DEFAULT_PROFILE
from app.domain.providers import ProviderSettings
from app.errors import ConfigError
from app.mappers.claim_settings import apply_claim_settings, line_code

CONFIG = Path(__file__).resolve().parents[2] / "config"
CPT = "http://www.ama-assn.org/go/cpt"
ENCOUNTER = {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": {"reference": "Patient/p1"}}


def claim(*codes: str) -> dict[str, Any]:
    items = [{"sequence": n, "productOrService": {"coding": [{"system": CPT, "code": c}]}, "net": {"value": 10.0}}
             for n, c in enumerate(codes, start=1)]  # fmt: skip
    return {"resourceType": "Claim", "id": "c1", "item": items, "billablePeriod": {"start": "2026-11-02"}}


def infos(c: dict[str, Any]) -> dict[str, str]:
    return {i["code"]["coding"][0]["code"]: i["valueString"] for i in c.get("supportingInfo") or ()}


CTX = build_contexts([ENCOUNTER])[0]
PAYERS = load_payers(CONFIG)


def test_medicare_bills_g0008_for_flu_administration_only() -> None:
    medicare, medicaid = PAYERS.profile_for("01112"), PAYERS.profile_for("MCDOH")
    source = claim("99213", "90686", "90471")
    out = apply_claim_settings(source, CTX, profile=medicare, provider=None)
    assert [line_code(i) for i in out["item"]] == ["99213", "90686", "G0008"]
    assert out["item"][2]["net"] == {"value": 10.0} and line_code(source["item"][2]) == "90471"  # input unchanged
    pneumo = apply_claim_settings(claim("90732", "90471"), CTX, profile=medicare, provider=None)
    assert line_code(pneumo["item"][1]) == "G0009"
    other = apply_claim_settings(claim("90715", "90471"), CTX, profile=medicare, provider=None)  # Tdap: no G-code
    assert line_code(other["item"][1]) == "90471"
    kept = apply_claim_settings(source, CTX, profile=medicaid, provider=None)
    assert line_code(kept["item"][2]) == "90471"


def codes_at(profile_id: str, *lines: str | tuple[str, float]) -> list[str]:
    source = claim(*(c if isinstance(c, str) else c[0] for c in lines))
    for item, line in zip(source["item"], lines, strict=True):
        if isinstance(line, tuple):
            item["quantity"] = {"value": line[1]}
    out = apply_claim_settings(source, CTX, profile=PAYERS.profile_for(profile_id), provider=None)
    return [line_code(i) for i in out["item"]]


def test_medicare_pairs_each_vaccine_administration_with_its_vaccine() -> None:
    assert codes_at("01112", "90686", "90732", "90471", "90472") == ["90686", "90732", "G0008", "G0009"]
    assert codes_at("01112", "90746", "90686", "90472", "90471") == ["90746", "90686", "G0010", "G0008"]
    # flu + Tdap: the Tdap administration keeps 90471 (the first other vaccine), the flu one is G0008
    assert codes_at("01112", "90686", "90715", "90471", "90472") == ["90686", "90715", "90471", "G0008"]
    assert codes_at("01112", "90715", "90707", "90471", "90472") == ["90715", "90707", "90471", "90472"]
    # three vaccines, one of them flu: 90471, 90472, G0008
    assert codes_at("01112", "90686", "90715", "90707", "90471", "90472", "90472") == [
        "90686", "90715", "90707", "90471", "90472", "G0008"
    ]  # fmt: skip
    already = ["90686", "90715", "90471", "G0008"]
    assert codes_at("01112", *already) == already  # applied twice: unchanged
    assert codes_at("MCDOH", "90686", "90732", "90471", "90472") == ["90686", "90732", "90471", "90472"]


def test_medicare_vaccine_administration_is_not_guessed_when_counts_differ() -> None:
    # one administration for two vaccines, or a 2-unit 90472: which one is the flu shot is unknown
    assert codes_at("01112", "90686", "90715", "90471") == ["90686", "90715", "90471"]
    assert codes_at("01112", "90686", "90732", "90471", ("90472", 2)) == ["90686", "90732", "90471", "90472"]
    assert codes_at("01112", "90686", "90471", "90472") == ["90686", "90471", "90472"]


def test_clia_number_on_lab_claims_and_qw_under_a_certificate_of_waiver() -> None:
    lab = ProviderSettings(npi="1", clia_number="36D0912345", clia_certificate="waiver", taxonomy="261QP2300X",
                           assignment="C")  # fmt: skip
    out = apply_claim_settings(claim("99213", "87880", "81002", "80053"), CTX, profile=DEFAULT_PROFILE, provider=lab)
    assert infos(out) == {"clia-number": "36D0912345", "billing-taxonomy": "261QP2300X", "assignment": "C"}
    mods = [[m["coding"][0]["code"] for m in i.get("modifier") or ()] for i in out["item"]]
    assert mods == [[], ["QW"], [], []]  # 87880 waived; 81002 exempt from QW; 80053 not waived
    no_lab = apply_claim_settings(claim("99213"), CTX, profile=DEFAULT_PROFILE, provider=lab)
    assert "clia-number" not in infos(no_lab)


def test_accident_from_an_external_cause_diagnosis() -> None:
    c = claim("99213")
    c["diagnosis"] = [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "S09.90XA"}]
            },
        },
        {
            "sequence": 2,
            "diagnosisCodeableConcept": {
                "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "W19.XXXA"}]
            },
        },
    ]
    out = apply_claim_settings(c, CTX, profile=DEFAULT_PROFILE, provider=None)
    assert out["accident"] == {"date": "2026-11-02"}
    c["diagnosis"].pop()
    assert "accident" not in apply_claim_settings(c, CTX, profile=DEFAULT_PROFILE, provider=None)


def test_provider_file_is_checked(tmp_path: Path) -> None:
    assert load_providers(CONFIG).settings_for("1543829075") is not None
    assert load_providers(tmp_path).settings_for("1543829075") is None
    (tmp_path / "providers.yaml").write_text('providers:\n  "1":\n    clia_number: "36X12"\n')
    with pytest.raises(ConfigError, match="clia_number"):
        load_providers(tmp_path)


def test_the_encounter_location_is_the_claim_facility_and_a_supervisor_joins_the_care_team() -> None:
    site = {"resourceType": "Location", "id": "hopd", "name": "HOPD"}
    boss = {"resourceType": "Practitioner", "id": "boss"}
    role = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claimcareteamrole", "code": "supervisor"}]}
    enc = {
        **ENCOUNTER,
        "location": [{"location": {"reference": "Location/hopd"}}],
        "participant": [{"type": [role], "individual": {"reference": "Practitioner/boss"}}],
    }
    ctx = build_contexts([enc, site, boss])[0]
    out = apply_claim_settings(claim("99213"), ctx, profile=DEFAULT_PROFILE, provider=None)
    assert out["facility"] == {"reference": "Location/hopd"}
    assert out["careTeam"][-1]["provider"] == {"reference": "Practitioner/boss"}
    assert out["careTeam"][-1]["role"]["coding"][0]["code"] == "supervisor"


def drug_claim(waste: float) -> dict[str, Any]:
    c = claim("20610", "J1030")
    drug = c["item"][1]
    drug.update(quantity={"value": 2}, unitPrice={"value": 12.5}, net={"value": 25.0})
    drug["extension"] = [{"url": "http://claimbridge.example.org/fhir/StructureDefinition/single-dose-waste",
                          "valueDecimal": waste}]  # fmt: skip
    drug["detail"] = [{"sequence": 1, "productOrService": {"coding": [{"system": "http://hl7.org/fhir/sid/ndc",
                       "code": "00009307301"}]}, "quantity": {"value": 2, "unit": "ML"}}]  # fmt: skip
    c["total"] = {"value": 35.0, "currency": "USD"}
    return c


def test_medicare_single_dose_drugs_get_jz_or_a_jw_line() -> None:
    medicare = PAYERS.profile_for("01112")
    none_wasted = apply_claim_settings(drug_claim(0), CTX, profile=medicare, provider=None)
    assert [m["coding"][0]["code"] for m in none_wasted["item"][1]["modifier"]] == ["JZ"]
    wasted = apply_claim_settings(drug_claim(1), CTX, profile=medicare, provider=None)
    jw = wasted["item"][2]
    assert line_code(jw) == "J1030" and [m["coding"][0]["code"] for m in jw["modifier"]] == ["JW"]
    assert jw["quantity"] == {"value": 1} and jw["net"]["value"] == 12.5 and wasted["total"]["value"] == 47.5
    assert "modifier" not in wasted["item"][1]
    other = apply_claim_settings(drug_claim(1), CTX, profile=PAYERS.profile_for("MCDOH"), provider=None)
    assert len(other["item"]) == 2 and "modifier" not in other["item"][1]


def test_the_input_claim_is_never_changed() -> None:
    import copy

    source = drug_claim(0)
    source["item"][0]["modifier"] = [{"coding": [{"system": CPT, "code": "25"}]}]
    before = copy.deepcopy(source)
    lab = ProviderSettings(npi="1", clia_number="36D0912345", clia_certificate="waiver", taxonomy="261QP2300X")
    apply_claim_settings(source, CTX, profile=PAYERS.profile_for("01112"), provider=lab)
    assert source == before


def test_the_jw_line_is_priced_in_decimal_cents() -> None:
    """1.005 x 3 is 3.0149999... in binary floating point: the JW line must still round half up to 3.02."""
    c = drug_claim(3)
    c["item"][1]["unitPrice"] = {"value": 1.005}
    wasted = apply_claim_settings(c, CTX, profile=PAYERS.profile_for("01112"), provider=None)
    assert wasted["item"][2]["net"]["value"] == 3.02 and wasted["total"]["value"] == 38.02
