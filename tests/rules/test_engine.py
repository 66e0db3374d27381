"""The engine: registry invariants, the public API, filing deadlines and robustness to bad input."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest

from app.domain.context import build_contexts
from app.domain.findings import Category, Severity
from app.domain.history import History
from app.refdata import RefData
from app.rules import all_rules, check_claim, filing_deadline, register
from app.rules.registry import RegistryError
from tests.rules.factories import DOS, ROOT, VARIANTS, base_claim, scenario


def test_catalogue_size_and_invariants() -> None:
    rules = all_rules()
    assert len(rules) >= 40
    categories = {r.category for r in rules}
    assert categories >= {Category.MISSING_DATA, Category.ELIGIBILITY, Category.PRIOR_AUTH, Category.CODING,
                          Category.DUPLICATE, Category.DOCUMENTATION, Category.TIMELY_FILING}  # fmt: skip
    for rule in rules:
        assert rule.id.startswith(rule.category.value + ".")
        assert rule.summary and rule.fix
        assert all(code.isalnum() for code in rule.carc_expected)


def test_duplicate_or_malformed_registration_fails_loudly() -> None:
    def check(f: Any, p: Any) -> list[Any]:
        return []

    with pytest.raises(RegistryError, match="registered twice"):
        register("coding.dx-too-many", category=Category.CODING, severity=Severity.ERROR, summary="s", fix="f")(check)
    with pytest.raises(RegistryError, match="must be"):
        register("coding.Bad_Id", category=Category.CODING, severity=Severity.ERROR, summary="s", fix="f")
    with pytest.raises(RegistryError, match="must be"):
        register("duplicate.x", category=Category.CODING, severity=Severity.ERROR, summary="s", fix="f")
    with pytest.raises(RegistryError, match="CARC"):
        register("coding.new-rule", category=Category.CODING, severity=Severity.ERROR, summary="s", fix="f",
                 carc=("not a code",))  # fmt: skip


def test_docs_list_every_rule() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    missing = [r.id for r in all_rules() if f"`{r.id}`" not in text]
    assert missing == []


@pytest.mark.parametrize(("payer_id", "days"), [("01112", 365), ("MCDOH", 365), ("60054", 90), ("LKSH1", 180),
                                                ("SCHMO", 90), ("UNKNOWN", 90)])  # fmt: skip
def test_filing_deadline_per_payer(payer_id: str, days: int, refdata: RefData) -> None:
    payers = scenario(VARIANTS[0], refdata).payers
    claim = base_claim("11")
    assert filing_deadline(claim, payers.profile_for(payer_id)) == DOS + timedelta(days=days)


def test_filing_deadline_uses_earliest_line_then_created() -> None:
    from app.domain.payers import DEFAULT_PROFILE

    claim = base_claim("11")
    claim["item"][2]["servicedDate"] = "2026-02-20"
    assert filing_deadline(claim, DEFAULT_PROFILE) == date(2026, 2, 20) + timedelta(days=90)
    for line in claim["item"]:
        line.pop("servicedDate")
    claim.pop("billablePeriod")
    assert filing_deadline(claim, DEFAULT_PROFILE) == date(2026, 3, 3) + timedelta(days=90)
    claim.pop("created")
    with pytest.raises(ValueError, match="no service date"):
        filing_deadline(claim, DEFAULT_PROFILE)


def test_findings_point_into_the_claim_or_a_source_resource(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.items[1]["diagnosisSequence"] = [7]
    sc.res["patient"].pop("gender")
    found = {f.rule: f for f in sc.findings()}
    pointer = found["coding.dx-pointer-invalid"]
    assert pointer.location == "Claim.item[1].diagnosisSequence" and pointer.source == "Claim/c1"
    sex = found["missing-data.patient-sex-missing"]
    assert sex.location == "Patient.gender" and sex.source == "Patient/p1"


MALFORMED: list[Any] = [
    {},
    {"resourceType": "Claim", "item": "nope", "diagnosis": [None, 3], "insurance": [{"coverage": 5}]},
    {"resourceType": "Claim", "item": [{"quantity": "x", "net": {"value": True}, "servicedDate": "2026-02-30",
                                        "modifier": [{"coding": [{}]}], "diagnosisSequence": [None]}],
     "careTeam": [None, {"provider": "Practitioner/zz"}], "total": "lots", "related": ["x"]},
]  # fmt: skip


@pytest.mark.parametrize("claim", MALFORMED)
def test_malformed_claims_give_findings_not_exceptions(claim: Any, refdata: RefData) -> None:
    sc = scenario(VARIANTS[1], refdata)
    ctx = build_contexts(list(sc.res.values()))[0]
    findings = check_claim(claim, ctx, rules=sc.rules, payers=sc.payers, refdata=refdata,
                           history=History(prior_claims=(copy.deepcopy(claim),)), today=date(2026, 3, 10))  # fmt: skip
    assert findings  # the claim is unusable, and says why
    assert all(f.severity in Severity for f in findings)


def test_empty_refdata_skips_table_rules_but_runs_the_rest(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.refdata = RefData()
    sc.claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] = "M54.5"
    sc.add_item("80048", net=20.0)
    assert sc.findings() == []  # no ICD or PTP table: nothing to judge those by
    sc.res["billing"]["identifier"][0]["value"] = "1234567890"
    assert {f.rule for f in sc.findings()} == {"missing-data.billing-npi-invalid"}


def test_prior_auth_missing_names_an_authorization_on_file(refdata: RefData) -> None:
    sc = scenario(VARIANTS[2], refdata)
    sc.add_item("72148", net=400.0)
    sc.res["auth"] = {
        "resourceType": "ClaimResponse", "id": "auth1", "status": "active", "use": "preauthorization",
        "outcome": "complete", "patient": {"reference": "Patient/p1"}, "preAuthRef": "PA-1",
        "preAuthPeriod": {"start": "2026-02-01", "end": "2026-04-30"},
        "addItem": [{"productOrService": {"coding": [{"code": "72148"}]}}],
    }  # fmt: skip
    found = [f for f in sc.findings() if f.rule == "prior-auth.prior-auth-missing"]
    assert len(found) == 1
    assert "PA-1 is on file" in found[0].message and found[0].source == "ClaimResponse/auth1"
    assert "preAuthRef" in found[0].fix
