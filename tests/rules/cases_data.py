"""Failing and passing variations for the missing-data rules (see test_catalogue.py)."""

from __future__ import annotations

from tests.rules.cases import Case
from tests.rules.factories import NPI, POS, Scenario, coding


def _billing_npi(value: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.res["billing"]["identifier"][0]["value"] = value

    return change


def _practitioner_role(sc: Scenario) -> None:
    sc.res["role"] = {"resourceType": "PractitionerRole", "id": "role1",
                      "practitioner": {"reference": "Practitioner/pr1"}}  # fmt: skip
    sc.claim["careTeam"][0]["provider"] = {"reference": "PractitionerRole/role1"}


def _addr(sc: Scenario, **changes: object) -> None:
    sc.res["billing"]["address"][0].update(changes)


def _old_then_good_address(sc: Scenario) -> None:
    good = sc.res["billing"]["address"][0]
    sc.res["billing"]["address"] = [{"use": "old", "line": ["1 Old Rd"]}, good]


def _tin_by_type(sc: Scenario) -> None:
    sc.res["billing"]["identifier"][1] = {"type": coding("http://terminology.hl7.org/CodeSystem/v2-0203", "TAX"),
                                          "value": "987654321"}  # fmt: skip


def _member_as_identifier(sc: Scenario) -> None:
    cov = sc.res["coverage"]
    member = cov.pop("subscriberId")
    cov["identifier"] = [{"type": coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MB"), "value": member}]


def _bad_member(sc: Scenario) -> None:
    sc.res["coverage"]["subscriberId"] = "123456789A" if sc.payer_id == "01112" else "bad id!"


def _set(path: str, value: object):  # type: ignore[no-untyped-def]
    """Set ``res[key].a.b`` (or delete it when value is None)."""
    key, *steps = path.split(".")

    def change(sc: Scenario) -> None:
        target = sc.res[key]
        for step in steps[:-1]:
            target = target[step]
        if value is None:
            target.pop(steps[-1], None)
        else:
            target[steps[-1]] = value

    return change


def _item(index: int, **changes: object):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        line = sc.items[index]
        for key, value in changes.items():
            if value is None:
                line.pop(key, None)
            else:
                line[key] = value

    return change


def _price_by_unit(sc: Scenario) -> None:
    line = sc.items[1]
    line.pop("net")
    line["unitPrice"] = {"value": 7.5}
    line["quantity"] = {"value": 2}
    sc.claim["total"]["value"] = 120.0 + 15.0 + 40.0


def _no_dates(sc: Scenario) -> None:
    sc.items[0].pop("servicedDate")
    sc.claim.pop("billablePeriod")


def _class(code: str, pos: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.res["encounter"]["class"]["code"] = code
        sc.set_pos(pos)

    return change


def _no_clia(sc: Scenario) -> None:
    billing = sc.res["billing"]
    billing["identifier"] = [i for i in billing["identifier"] if i["system"] != "urn:oid:2.16.840.1.113883.4.7"]


def _clia_info(sc: Scenario) -> None:
    sc.claim["supportingInfo"] = [{"sequence": 1, "category": coding("http://terminology.hl7.org/CodeSystem/"
                                   "claiminformationcategory", "info"),
                                   "code": coding("urn:claimbridge:claim-info", "clia-number"),
                                   "valueString": "36D0912345"}]  # fmt: skip


CASES = [
    Case("missing-data.payer-profile-missing",
         fail=[_set("payer.identifier", [{"system": "urn:claimbridge:payer-id", "value": "ZZ999"}])],
         ok=[lambda sc: sc.res["payer"]["identifier"].insert(0, {"system": "urn:x:naic", "value": "12345"})]),
    Case("missing-data.billing-npi-invalid",
         fail=[_billing_npi("1234567890"), _billing_npi("3234567893"), _billing_npi("12345")],
         ok=[_billing_npi("1912301953")]),
    Case("missing-data.rendering-npi-invalid",
         fail=[_set("practitioner.identifier", []),
               _set("practitioner.identifier", [{"system": NPI, "value": "1912301954"}])],
         ok=[_practitioner_role]),
    Case("missing-data.referring-npi-invalid",
         fail=[_set("referrer.identifier", [{"system": NPI, "value": "1456789010"}])],
         ok=[lambda sc: sc.claim.pop("referral")]),
    Case("missing-data.billing-tin-missing",
         fail=[lambda sc: sc.res["billing"]["identifier"].pop(1),
               lambda sc: sc.res["billing"]["identifier"][1].update(value="00-1234567")],
         ok=[_tin_by_type, lambda sc: sc.res["billing"]["identifier"][1].update(value="123456789")]),
    Case("missing-data.billing-address-incomplete",
         fail=[lambda sc: _addr(sc, city=""), _set("billing.address", [])],
         ok=[_old_then_good_address]),
    Case("missing-data.billing-zip-not-9-digits",
         fail=[lambda sc: _addr(sc, postalCode="43215"), lambda sc: _addr(sc, postalCode="43215-12AB")],
         ok=[lambda sc: _addr(sc, postalCode="432151234")]),
    Case("missing-data.billing-address-po-box",
         fail=[lambda sc: _addr(sc, line=["PO Box 4410"]), lambda sc: _addr(sc, line=["P.O. BOX 12"])],
         ok=[lambda sc: _addr(sc, line=["1 Boxwood Ave", "Suite 2"])]),
    Case("missing-data.subscriber-id-missing",
         fail=[_set("coverage.subscriberId", None)],
         ok=[_member_as_identifier]),
    Case("missing-data.subscriber-id-format",
         fail=[_bad_member],
         ok=[_member_as_identifier]),
    Case("missing-data.patient-name-missing",
         fail=[_set("patient.name", []), _set("patient.name", [{"given": ["Ana"]}])],
         ok=[_set("patient.name", [{"use": "old", "family": "Old"}, {"family": "Rivera"}])]),
    Case("missing-data.patient-dob-missing",
         fail=[_set("patient.birthDate", "1970"), _set("patient.birthDate", None)],
         ok=[_set("patient.birthDate", "1999-12-31")]),
    Case("missing-data.patient-sex-missing",
         fail=[_set("patient.gender", None)],
         ok=[_set("patient.gender", "unknown"), _set("patient.gender", "male")]),
    Case("missing-data.dob-after-dos",
         fail=[_set("patient.birthDate", "2026-03-05")],
         ok=[_set("patient.birthDate", "2026-03-02")]),
    Case("missing-data.total-mismatch",
         fail=[lambda sc: sc.claim["total"].update(value=999.0), lambda sc: sc.claim.pop("total")],
         ok=[_price_by_unit]),
    Case("missing-data.line-units-invalid",
         fail=[_item(1, quantity={"value": 0}), _item(1, quantity=None)],
         ok=[_item(1, quantity={"value": 0.5})]),
    Case("missing-data.line-charge-invalid",
         fail=[lambda sc: (sc.items[2].update(net={"value": 0}), sc.retotal())],
         ok=[_price_by_unit]),
    Case("missing-data.service-date-invalid",
         fail=[_item(0, servicedDate="2026-04-01"), _no_dates],
         ok=[_item(0, servicedDate=None, servicedPeriod={"start": "2026-03-02", "end": "2026-03-02"})]),
    Case("missing-data.pos-invalid",
         fail=[_item(0, locationCodeableConcept=coding(POS, "1X")),
               _item(0, locationCodeableConcept=coding(POS, "30")), _item(0, locationCodeableConcept=None)],
         ok=[_item(0, locationCodeableConcept=coding(POS, "19"))]),
    Case("missing-data.pos-encounter-mismatch",
         fail=[_class("VR", "11"), _class("AMB", "02"), _class("IMP", "11")],
         ok=[_class("VR", "10"), _class("AMB", "11"), _class("IMP", "21")]),
    Case("missing-data.clia-number-missing",
         fail=[_no_clia, lambda sc: (_no_clia(sc), sc.add_item("85025", net=12.0))],
         ok=[lambda sc: (_no_clia(sc), _clia_info(sc)), lambda sc: (_no_clia(sc), sc.items.pop(2), sc.retotal())]),
]  # fmt: skip
