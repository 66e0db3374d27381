"""The manifest tells the truth: every problem tag is checked against the bundle data by an independent
predicate (written here from the shared vocabulary, not taken from the generator), in both directions."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

from app.domain.context import ResourceIndex, ref_of

with warnings.catch_warnings():  # its legacy importlib.resources calls warn at import (open_text, read_text)
    warnings.simplefilter("ignore", DeprecationWarning)
    import simple_icd_10_cm as cm

Resource = dict[str, Any]
NPI = "http://hl7.org/fhir/sid/us-npi"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
PAYER_ID = "urn:claimbridge:payer-id"
REFERRAL = "urn:claimbridge:referral-number"
HISTORY = ("urn:claimbridge:encounter-role", "history")
_L = "[AC-HJKMNP-RT-Y]"  # MBI letters: no S, L, O, I, B, Z
MBI = re.compile(rf"^[1-9]{_L}[AC-HJKMNP-RT-Y\d]\d{_L}[AC-HJKMNP-RT-Y\d]\d{_L}{{2}}\d{{2}}$")
# Order codes the shared vocabulary maps to a billable code (LOINC, local), or CPT directly.
MAPPED_ORDERS = {
    "24323-8",
    "58410-2",
    "4548-4",
    "57698-3",
    "3016-3",
    "24356-8",
    "XR-CHEST-2V",
    "MRI-LSPINE-WO",
    "MRI-BRAIN-WWO",
    "CT-HEAD-WO",
    "VENIPUNCTURE",
    "EKG-12",
    "INJ-IM",
    "JOINT-INJ-MAJOR",
    "FLU-VAX-ADMIN",
}
# Payers whose profiles put MRI 72148 / 70553 on the prior-auth list (the vocabulary names 60054; the payer
# profiles in config/payers add Medicaid, Lakeshore and the HMO). Medicare needs none.
PA_PAYERS = {"60054", "MCDOH", "LKSH1", "SCHMO"}
PA_ORDERS = {"MRI-LSPINE-WO": "72148", "MRI-BRAIN-WWO": "70553", "72148": "72148", "70553": "70553"}
EM_MINUTES = {
    "99202": 15,
    "99203": 30,
    "99204": 45,
    "99205": 60,
    "99211": 0,
    "99212": 10,
    "99213": 20,
    "99214": 30,
    "99215": 40,
}
REQUIRED_TAGS = {
    "npi-invalid",
    "icd10-not-billable",
    "external-cause-principal",
    "em-undercoded",
    "em-overcoded",
    "order-unmappable",
    "prior-auth-missing",
    "encounter-not-finished",
    "coverage-inactive",
    "subscriber-id-not-mbi",
    "dob-after-dos",
    "duplicate-encounter",
    "coverage-missing",
    "eligibility-stale",
    "eligibility-missing",
    "drug-dose-missing",
    "referral-missing",
    "note-not-final",
    "em-new-patient-established",
}


class View:
    """One bundle seen from its encounter."""

    def __init__(self, bundle: Resource) -> None:
        self.index = ResourceIndex()
        for entry in bundle["entry"]:
            self.index.add(entry["resource"], entry["fullUrl"])
        self.encounter = bundle["entry"][0]["resource"]
        self.key = f"Encounter/{self.encounter['id']}"
        self.dos = date.fromisoformat(self.encounter["period"]["start"][:10])
        self.code = self.encounter["type"][0]["coding"][0]["code"]
        self.coverages = sorted(self.of("Coverage"), key=lambda c: c.get("order", 1))

    def of(self, rtype: str) -> list[Resource]:
        return self.index.of_type(rtype)

    def linked(self, rtype: str, element: str = "encounter") -> list[Resource]:
        return [r for r in self.of(rtype) if ref_of(r.get(element)) == self.key]

    def payer_id(self, coverage: Resource) -> str:
        org = self.index.resolve(coverage["payor"][0])
        assert org is not None
        return next(i["value"] for i in org["identifier"] if i["system"] == PAYER_ID)

    def primary_payer(self) -> str | None:
        return self.payer_id(self.coverages[0]) if self.coverages else None

    def history(self) -> list[Resource]:
        return [
            e
            for e in self.of("Encounter")
            if any((t["system"], t["code"]) == HISTORY for t in e["meta"].get("tag", []))
        ]


def day(value: str) -> date:
    return date.fromisoformat(value[:10])


def npi_ok(npi: str) -> bool:
    digits = [int(c) for c in "80840" + npi]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(reversed(digits)))
    return len(npi) == 10 and npi[0] in "12" and total % 10 == 0


def time_level(view: View) -> int | None:
    minutes = view.encounter.get("length", {}).get("value")
    if minutes is None:
        return None
    family = view.code[:4]
    return max(int(c) for c, m in EM_MINUTES.items() if c.startswith(family) and m <= minutes)


def npi_invalid(view: View, _: list[View]) -> bool:
    return any(not npi_ok(i["value"]) for r in view.index for i in r.get("identifier", []) if i["system"] == NPI)


def icd10_not_billable(view: View, _: list[View]) -> bool:
    return any(not cm.is_leaf(c["code"]["coding"][0]["code"]) for c in view.linked("Condition"))


def external_cause_principal(view: View, _: list[View]) -> bool:
    first = next(d for d in view.encounter["diagnosis"] if d["rank"] == 1)
    condition = view.index.resolve(first["condition"])
    return condition is not None and condition["code"]["coding"][0]["code"][0] in "VWXY"


def em_undercoded(view: View, _: list[View]) -> bool:
    level = time_level(view)
    return level is not None and level > int(view.code)


def em_overcoded(view: View, _: list[View]) -> bool:
    level = time_level(view)
    return level is not None and level < int(view.code)


def em_new_patient_established(view: View, _: list[View]) -> bool:
    provider = ref_of(view.encounter["serviceProvider"])
    return view.code.startswith("9920") and any(
        ref_of(h["serviceProvider"]) == provider and (view.dos - day(h["period"]["start"])).days <= 3 * 365
        for h in view.history()
    )


def order_unmappable(view: View, _: list[View]) -> bool:
    codes = [c for sr in view.linked("ServiceRequest") for c in sr["code"]["coding"]]
    return any(c["code"] not in MAPPED_ORDERS and not c["system"].endswith("/cpt") for c in codes)


def prior_auth_missing(view: View, _: list[View]) -> bool:
    if view.primary_payer() not in PA_PAYERS:
        return False
    needed = {
        PA_ORDERS[c["code"]]
        for sr in view.linked("ServiceRequest")
        for c in sr["code"]["coding"]
        if c["code"] in PA_ORDERS
    }
    granted = {
        i["productOrService"]["coding"][0]["code"]
        for cr in view.of("ClaimResponse")
        if cr["use"] == "preauthorization"
        and day(cr["preAuthPeriod"]["start"]) <= view.dos <= day(cr["preAuthPeriod"]["end"])
        for i in cr.get("addItem", [])
    }
    return bool(needed - granted)


def referral_missing(view: View, _: list[View]) -> bool:
    if view.primary_payer() != "SCHMO":
        return False
    referrals = [view.index.resolve(b) for b in view.encounter.get("basedOn", [])]
    return not any(
        r
        and any(i["system"] == REFERRAL for i in r.get("identifier", []))
        and day(r["occurrencePeriod"]["start"]) <= view.dos <= day(r["occurrencePeriod"]["end"])
        for r in referrals
    )


def note_not_final(view: View, _: list[View]) -> bool:
    notes = [d for d in view.of("DocumentReference") if ref_of(d["context"]["encounter"][0]) == view.key]
    return any(d["docStatus"] != "final" for d in notes)


def coverage_inactive(view: View, _: list[View]) -> bool:
    return any(
        day(c["period"]["start"]) > view.dos or ("end" in c["period"] and day(c["period"]["end"]) < view.dos)
        for c in view.coverages
    )


def subscriber_id_not_mbi(view: View, _: list[View]) -> bool:
    return any(view.payer_id(c) == "01112" and not MBI.match(c["subscriberId"]) for c in view.coverages)


def dob_after_dos(view: View, _: list[View]) -> bool:
    patient = view.index.resolve(view.encounter["subject"])
    return patient is not None and date.fromisoformat(patient["birthDate"]) > view.dos


def duplicate_encounter(view: View, views: list[View]) -> bool:
    mine = (ref_of(view.encounter["subject"]), view.dos, view.code)
    return any(o.key < view.key and (ref_of(o.encounter["subject"]), o.dos, o.code) == mine for o in views)


def eligibility_answers(view: View) -> list[Resource]:
    primary = f"Coverage/{view.coverages[0]['id']}"
    return [
        e
        for e in view.of("CoverageEligibilityResponse")
        if any(ref_of(i["coverage"]) == primary for i in e["insurance"])
    ]


def eligibility_stale(view: View, _: list[View]) -> bool:
    answers = eligibility_answers(view) if view.coverages else []
    return bool(answers) and max(day(e["created"]) for e in answers) < view.dos - timedelta(days=30)


def eligibility_missing(view: View, _: list[View]) -> bool:
    return bool(view.coverages) and not eligibility_answers(view)


def drug_dose_missing(view: View, _: list[View]) -> bool:
    in_office = [
        m
        for m in view.linked("MedicationRequest")
        if m["category"][0]["coding"][0]["code"] in ("inpatient", "outpatient")
    ]
    return any(
        not any("doseQuantity" in r for d in m["dosageInstruction"] for r in d.get("doseAndRate", []))
        for m in in_office
    )


PREDICATES: dict[str, Callable[[View, list[View]], bool]] = {
    "npi-invalid": npi_invalid,
    "icd10-not-billable": icd10_not_billable,
    "external-cause-principal": external_cause_principal,
    "em-undercoded": em_undercoded,
    "em-overcoded": em_overcoded,
    "em-new-patient-established": em_new_patient_established,
    "order-unmappable": order_unmappable,
    "prior-auth-missing": prior_auth_missing,
    "referral-missing": referral_missing,
    "encounter-not-finished": lambda v, _: v.encounter["status"] != "finished",
    "note-not-final": note_not_final,
    "coverage-inactive": coverage_inactive,
    "subscriber-id-not-mbi": subscriber_id_not_mbi,
    "dob-after-dos": dob_after_dos,
    "duplicate-encounter": duplicate_encounter,
    "coverage-missing": lambda v, _: not v.coverages,
    "eligibility-stale": eligibility_stale,
    "eligibility-missing": eligibility_missing,
    "drug-dose-missing": drug_dose_missing,
}


def test_manifest_rows_match_bundles_and_cover_every_problem(dataset: Any) -> None:
    assert [row["file"] for row in dataset.manifest] == sorted(dataset.bundles)
    for row in dataset.manifest:
        assert dataset.bundles[row["file"]]["entry"][0]["resource"]["id"] == row["encounter"]
        assert set(row) == {"file", "encounter", "payer_id", "scenario", "expected"}
        assert row["scenario"]
    tags = [t for row in dataset.manifest for t in row["expected"]]
    assert set(tags) == REQUIRED_TAGS
    share = sum(1 for row in dataset.manifest if row["expected"]) / len(dataset.manifest)
    assert 0.15 <= share <= 0.3


def test_predicates_cover_exactly_the_required_tags() -> None:
    assert set(PREDICATES) == REQUIRED_TAGS


@pytest.mark.parametrize("tag", sorted(REQUIRED_TAGS))
def test_tag_is_listed_exactly_where_the_data_has_the_problem(dataset: Any, tag: str) -> None:
    views = [View(dataset.bundles[row["file"]]) for row in dataset.manifest]
    for row, view in zip(dataset.manifest, views, strict=True):
        assert PREDICATES[tag](view, views) == (tag in row["expected"]), f"{row['file']}: {tag}"
