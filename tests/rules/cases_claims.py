"""Failing and passing variations for duplicate, documentation and timely-filing rules."""

from __future__ import annotations

import copy
from datetime import timedelta

from tests.rules.cases import Case
from tests.rules.factories import CPT, DOS, HCPCS, NDC, VARIANTS, Scenario, coding

PRIOR = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"


def _earlier_original(status: str = "active"):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.prior_claims.append(sc.copy_claim("c0", status=status))

    return change


def _replacement(number: str | None):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        related: dict[str, object] = {"claim": {"reference": "Claim/c0"}, "relationship": coding(PRIOR, "prior")}
        if number:
            related["reference"] = {"value": number}
        sc.claim["related"] = [related]

    return change


def _billed_before(dos_shift: int = 0, qty: float = 1, status: str = "active", **line_changes: object):  # type: ignore[no-untyped-def]
    """Another claim (another encounter) that carries the venipuncture line."""

    def change(sc: Scenario) -> None:
        other = sc.copy_claim("c0", status=status)
        line = copy.deepcopy(sc.items[1])
        line.update(encounter=[{"reference": "Encounter/e0"}], quantity={"value": qty},
                    servicedDate=(DOS + timedelta(days=dos_shift)).isoformat(), **line_changes)  # fmt: skip
        other["item"] = [line]
        sc.prior_claims.append(other)

    return change


def _repeat(*mods: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.add_item("71046", net=60.0)
        sc.add_item("71046", net=60.0, modifiers=mods)

    return change


def _drug(ndc: str | None, code: str = "J1030"):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        line = sc.add_item(code, net=12.0, system=HCPCS)
        if ndc:
            line["detail"] = [{"sequence": 1, "productOrService": coding(NDC, ndc), "quantity": {"value": 1}}]

    return change


def _note(**changes: object):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.res["note"].update(changes)

    return change


def _no_note(sc: Scenario) -> None:
    sc.res.pop("note")


def _today(days_after_deadline: int):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        limit = sc.payers.profile_for(sc.payer_id).timely_filing_days
        sc.today = DOS + timedelta(days=limit + days_after_deadline)

    return change


def _attachment(sc: Scenario) -> None:
    sc.claim["supportingInfo"] = [{
        "sequence": 1, "category": coding("http://terminology.hl7.org/CodeSystem/claiminformationcategory",
                                          "attachment"),
        "valueAttachment": {"contentType": "application/pdf", "title": "operative note"},
    }]  # fmt: skip


CASES = [
    Case("duplicate.original-claim-exists",
         fail=[_earlier_original()],
         ok=[lambda sc: (_earlier_original()(sc), _replacement("PCN-2026-0001")(sc)),
             _earlier_original(status="cancelled")]),
    Case("duplicate.replacement-missing-payer-claim-number",
         fail=[_replacement(None)],
         ok=[_replacement("PCN-2026-0001")]),
    Case("duplicate.line-already-billed",
         fail=[_billed_before()],
         ok=[_billed_before(dos_shift=-7), _billed_before(qty=2),
             _billed_before(modifier=[coding(CPT, "91")]), _billed_before(status="entered-in-error")]),
    Case("duplicate.repeat-service-modifier-missing",
         fail=[_repeat(), _billed_before(modifier=[coding(CPT, "91")])],
         ok=[_repeat("76"), _repeat("XS")]),
    Case("documentation.encounter-not-finished",
         fail=[lambda sc: sc.res["encounter"].update(status="in-progress"),
               lambda sc: sc.res["encounter"].pop("status")],
         ok=[lambda sc: sc.res["encounter"].update(status="finished")]),
    Case("documentation.visit-note-not-final",
         fail=[_note(docStatus="preliminary"), _note(status="entered-in-error")],
         ok=[_note(docStatus="amended"), _note(type=coding("http://loinc.org", "34109-9"))]),
    Case("documentation.visit-note-missing",
         fail=[_no_note],
         ok=[lambda sc: None],
         variants=[v for v in VARIANTS if v.payer_id == "MCDOH"]),
    Case("documentation.visit-note-missing",
         fail=[],
         ok=[_no_note],
         variants=[v for v in VARIANTS if v.payer_id != "MCDOH"]),
    Case("documentation.drug-ndc-missing",
         fail=[_drug(None), _drug(None, "J0696")],
         ok=[_drug("00009-3073-01"), _drug(None, "G0008")],
         variants=[v for v in VARIANTS if v.payer_id != "01112"]),
    Case("documentation.drug-ndc-missing",  # Medicare Part B: J-codes are paid by HCPCS units, no NDC needed
         fail=[],
         ok=[_drug(None), _drug(None, "J0696")],
         variants=[v for v in VARIANTS if v.payer_id == "01112"]),
    Case("documentation.drug-ndc-invalid",
         fail=[_drug("0009-3073-01"), _drug("00009-3073-1")],
         ok=[_drug("00009307301"), _drug("00009-3073-01")]),
    Case("documentation.attachment-missing",
         fail=[lambda sc: sc.add_item("64999", net=300.0),
               lambda sc: sc.add_item("20610", net=90.0, modifiers=("22", "25"))],
         ok=[lambda sc: (sc.add_item("64999", net=300.0), _attachment(sc)),
             lambda sc: sc.add_item("20610", net=90.0, modifiers=("25",))]),
    Case("timely-filing.deadline-passed",
         fail=[_today(1), _today(200)],
         ok=[_today(0), _today(-40)]),
    Case("timely-filing.deadline-near",
         fail=[_today(0), _today(-30), _today(-10)],
         ok=[_today(-31), _today(1)]),
]  # fmt: skip
