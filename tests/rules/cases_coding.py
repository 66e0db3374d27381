"""Failing and passing variations for the coding rules."""

from __future__ import annotations

import copy
from datetime import date, timedelta

from tests.rules.cases import Case
from tests.rules.factories import CPT, HCPCS, ICD, NDC, VARIANTS, Scenario, coding, dx

THIRTEEN = ["E11.9", "I10", "E78.5", "J06.9", "M54.50", "R51.9", "K21.9", "F41.1", "G47.00", "N39.0", "R05.9",
            "Z79.4", "E66.9"]  # fmt: skip


def _dx(*codes: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.claim["diagnosis"] = [dx(n, c) for n, c in enumerate(codes, start=1)]
        for line in sc.items:
            line["diagnosisSequence"] = [1]

    return change


def _dx_by_reference(sc: Scenario) -> None:
    sc.res["condition"] = {
        "resourceType": "Condition",
        "id": "cond1",
        "code": coding(ICD, "E11.9"),
        "subject": {"reference": "Patient/p1"},
        "encounter": {"reference": "Encounter/e1"},
    }
    sc.claim["diagnosis"] = [{"sequence": 1, "diagnosisReference": {"reference": "Condition/cond1"}},
                             sc.claim["diagnosis"][1]]  # fmt: skip


def _pointers(index: int, pointers: list[object] | None):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        if pointers is None:
            sc.items[index].pop("diagnosisSequence")
        else:
            sc.items[index]["diagnosisSequence"] = pointers

    return change


def _third_dx(pointed: bool):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.claim["diagnosis"].append(dx(3, "E78.5"))
        if pointed:
            sc.items[2]["diagnosisSequence"] = [1, 3]

    return change


def _code(index: int, code: str, system: str = CPT):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.items[index]["productOrService"] = coding(system, code)

    return change


def _mods(index: int, *mods: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.items[index]["modifier"] = [coding(CPT, m) for m in mods]

    return change


def _drug(code: str, ndc: str | None = "00009-3073-01", **kw: object):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        line = sc.add_item(code, net=30.0, system=HCPCS, **kw)  # type: ignore[arg-type]
        if ndc:
            line["detail"] = [{"sequence": 1, "productOrService": coding(NDC, ndc), "quantity": {"value": 1}}]

    return change


def _other_claim(code: str, *, days: int, modifiers: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    """Another claim of the same provider with ``code`` ``days`` after this claim's date of service."""

    def change(sc: Scenario) -> None:
        other = sc.copy_claim("c0")
        when = (date.fromisoformat(sc.items[0]["servicedDate"]) + timedelta(days=days)).isoformat()
        line = copy.deepcopy(sc.items[1])
        line.update(sequence=1, productOrService=coding(CPT, code), servicedDate=when,
                    encounter=[{"reference": "Encounter/e0"}])  # fmt: skip
        if modifiers:
            line["modifier"] = [coding(CPT, m) for m in modifiers]
        other["item"], other["billablePeriod"] = [line], {"start": when, "end": when}
        sc.prior_claims.append(other)

    return change


def _same_day_claim(*codes: str, qty: float = 1):  # type: ignore[no-untyped-def]
    """An earlier claim (another encounter) by the same provider on the same date."""

    def change(sc: Scenario) -> None:
        other = sc.copy_claim("c0")
        template = sc.items[1]
        other["item"] = []
        for n, code in enumerate(codes, start=1):
            line = copy.deepcopy(template)
            line.update(sequence=n, productOrService=coding(CPT, code), quantity={"value": qty},
                        encounter=[{"reference": "Encounter/e0"}])  # fmt: skip
            other["item"].append(line)
        sc.prior_claims.append(other)

    return change


def _sex(gender: str):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        sc.res["patient"]["gender"] = gender
        sc.claim["diagnosis"].append(dx(3, "C61"))
        sc.items[0]["diagnosisSequence"] = [1, 2, 3]

    return change


def _dates(day: str):  # type: ignore[no-untyped-def]
    """Every line (and the billable period) on ``day``."""

    def change(sc: Scenario) -> None:
        for line in sc.items:
            line["servicedDate"] = day
        sc.claim["billablePeriod"] = {"start": day, "end": day}

    return change


def _vaccines(*lines: str | tuple[str, float]):  # type: ignore[no-untyped-def]
    def change(sc: Scenario) -> None:
        for line in lines:
            code, qty = line if isinstance(line, tuple) else (line, 1.0)
            sc.add_item(code, net=20.0 * qty, qty=qty, system=HCPCS if code.startswith("G") else CPT)

    return change


MEDICARE = [v for v in VARIANTS if v.payer_id == "01112"]
CASES = [
    Case("coding.vaccine-admin-unpaired",  # Medicare: G0008/G0009/G0010 per vaccine, paired with its product
         fail=[_vaccines("90686", "90715", "90471"), _vaccines("90686", "90471", "90472", "90472"),
               _vaccines("90686", "90732", "90471", ("90472", 2))],
         ok=[_vaccines("90686", "90471"), _vaccines("90686", "90715", "90471", "90472"),
             _vaccines("90686", "90715", "90471", "G0008"), _vaccines("90715", "90471", "90472", "90715"),
             _vaccines("90715", "90471")],
         variants=MEDICARE),
    Case("coding.vaccine-admin-unpaired",  # other payers keep 90471/90472 whatever the count
         fail=[], ok=[_vaccines("90686", "90715", "90471")],
         variants=[v for v in VARIANTS if v.payer_id != "01112"]),
    Case("coding.diagnosis-missing",
         fail=[lambda sc: sc.claim.update(diagnosis=[])],
         ok=[_dx_by_reference]),
    Case("coding.icd10-invalid",
         fail=[_dx("Z99.99", "I10"), lambda sc: sc.claim["diagnosis"].__setitem__(
             1, {"sequence": 2, "diagnosisCodeableConcept": coding("http://hl7.org/fhir/sid/icd-10", "I10")})],
         ok=[_dx("E11.A", "I10"), _dx("e119", "I10")]),
    Case("coding.icd10-release-missing",  # the loaded release is FY2026 (Oct 1 2025 - Sep 30 2026)
         fail=[_dates("2026-10-01"), _dates("2027-03-02")],
         ok=[_dates("2026-09-30"), _dates("2025-10-01")]),
    Case("coding.icd10-not-billable",
         fail=[_dx("M54.5"), _dx("S52.521")],
         ok=[_dx("M54.50"), _dx("S52.521A")]),
    Case("coding.principal-dx-manifestation",
         fail=[_dx("G63", "E11.42"), _dx("F02.80", "G30.9")],
         ok=[_dx("E11.42", "G63"), _dx("G30.9", "F02.80")]),
    Case("coding.principal-dx-external-cause",
         fail=[_dx("W19.XXXA", "S52.521A")],
         ok=[_dx("S52.521A", "W19.XXXA")]),
    Case("coding.dx-duplicate",
         fail=[_dx("E11.9", "E11.9")],
         ok=[_dx("E11.9", "E11.65")]),
    Case("coding.dx-too-many",
         fail=[_dx(*THIRTEEN)],
         ok=[_dx(*THIRTEEN[:12])]),
    Case("coding.dx-pointer-missing",
         fail=[_pointers(1, None), _pointers(1, [])],
         ok=[_pointers(1, [2, 1])]),
    Case("coding.dx-pointer-invalid",
         fail=[_pointers(1, [9]), _pointers(0, [1, 2, 1, 2, 1]), _pointers(1, ["1"])],
         ok=[_pointers(1, [2, 1])]),
    Case("coding.dx-not-pointed",
         fail=[_third_dx(pointed=False)],
         ok=[_third_dx(pointed=True)]),
    Case("coding.procedure-code-format",
         fail=[_code(1, "9921"), _code(1, "99213A"), _code(1, "D0120", HCPCS),
               _code(1, "VENIPUNCTURE", "http://example.org/fhir/CodeSystem/local-orders")],
         ok=[_code(1, "3044F"), _code(1, "G2211", HCPCS),
             _code(1, "G2211", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets")]),
    Case("coding.hcpcs-inactive",
         fail=[lambda sc: sc.add_item("G2211", system=HCPCS, dos=date(2023, 6, 1))],
         ok=[lambda sc: sc.add_item("G2211", system=HCPCS)]),
    Case("coding.hcpcs-unknown",
         fail=[_drug("J9999")],
         ok=[_drug("J1885")]),
    Case("coding.em-pos-mismatch",
         fail=[lambda sc: sc.set_pos("21"), lambda sc: (_code(0, "99223")(sc), sc.set_pos("11"))],
         ok=[lambda sc: (_code(0, "99223")(sc), sc.set_pos("21"))]),
    Case("coding.age-conflict",
         fail=[lambda sc: sc.add_item("99395", net=150.0),
               lambda sc: (_dx("O80")(sc), sc.res["patient"].update(birthDate="1950-01-01"))],
         ok=[lambda sc: sc.add_item("99396", net=150.0), _dx("E11.9")]),
    Case("coding.sex-conflict",
         fail=[_sex("female")],
         ok=[_sex("male"), lambda sc: (_sex("female")(sc), _mods(2, "KX")(sc)), _sex("unknown")]),
    Case("coding.modifier-format",
         fail=[_mods(1, "5"), _mods(1, "91", "QW", "XU", "LT", "RT")],
         ok=[_mods(1, "91", "QW", "XU", "LT")]),
    Case("coding.modifier-unknown",
         fail=[_mods(1, "ZZ"), _mods(1, "98")],
         ok=[_mods(1, "XS"), _mods(1, "91")]),
    Case("coding.modifier-contradiction",
         fail=[_mods(1, "LT", "RT"), _mods(1, "26", "TC"), _mods(1, "59", "XS")],
         ok=[_mods(1, "LT"), _mods(1, "26")]),
    Case("coding.modifier-25-missing",
         fail=[lambda sc: sc.add_item("20610", net=70.0), lambda sc: sc.add_item("11102", net=90.0),
               lambda sc: sc.add_item("94010", net=35.0)],  # XXX, but NCCI pairs it with the E/M
         ok=[lambda sc: (sc.add_item("20610", net=70.0), _mods(0, "25")(sc)),
             lambda sc: sc.add_item("96372", net=25.0),  # XXX without an NCCI pair with the E/M
             lambda sc: sc.add_item("29881", net=900.0)]),  # 090: the decision for surgery takes 57
    Case("coding.modifier-57-missing",
         fail=[lambda sc: sc.add_item("29881", net=900.0), _other_claim("29881", days=1),
               lambda sc: (sc.add_item("29881", net=900.0), _mods(0, "25")(sc))],
         ok=[lambda sc: (sc.add_item("29881", net=900.0), _mods(0, "57")(sc)), _other_claim("29881", days=2),
             _other_claim("29881", days=-1), lambda sc: sc.add_item("20610", net=70.0)]),
    Case("coding.modifier-57-earlier-visit",  # the E/M claim went out before the surgery was recorded
         fail=[lambda sc: (sc.add_item("29881", net=900.0), _other_claim("99213", days=-1)(sc)),
               lambda sc: (sc.add_item("29881", net=900.0), _other_claim("99214", days=0)(sc))],
         ok=[lambda sc: (sc.add_item("29881", net=900.0), _other_claim("99213", days=-2)(sc)),
             lambda sc: (sc.add_item("29881", net=900.0), _other_claim("99213", days=-1, modifiers=("57",))(sc)),
             lambda sc: (sc.add_item("29881", net=900.0), _other_claim("99213", days=1)(sc)),
             lambda sc: (sc.add_item("20610", net=70.0), _other_claim("99213", days=-1)(sc)),
             lambda sc: sc.add_item("29881", net=900.0)]),
    Case("coding.modifier-24-missing",
         fail=[_other_claim("29881", days=-30), _other_claim("10060", days=-10)],
         ok=[lambda sc: (_other_claim("29881", days=-30)(sc), _mods(0, "24")(sc)), _other_claim("29881", days=-91),
             _other_claim("10060", days=-11), _other_claim("20610", days=-3)]),
    Case("coding.modifier-25-misused",
         fail=[_mods(1, "25")],
         ok=[_mods(0, "25")]),
    Case("coding.distinct-modifier-on-em",
         fail=[_mods(0, "XS"), _mods(0, "59")],
         ok=[_mods(1, "XS")]),
    Case("coding.ncci-ptp-not-allowed",
         fail=[lambda sc: sc.add_item("80048", net=20.0),
               lambda sc: sc.add_item("80048", net=20.0, modifiers=("59",)),
               _same_day_claim("80048")],
         ok=[lambda sc: (sc.add_item("85025", net=10.0), sc.add_item("85027", net=10.0)),
             lambda sc: sc.add_item("80048", net=20.0, dos=date(2026, 3, 1))]),
    Case("coding.ncci-ptp-modifier-required",
         fail=[lambda sc: (sc.add_item("20610", net=70.0), sc.add_item("96372", net=25.0))],
         ok=[lambda sc: (sc.add_item("20610", net=70.0), sc.add_item("96372", net=25.0, modifiers=("XU",)),
                         _mods(0, "25")(sc))]),
    Case("coding.mue-exceeded",
         fail=[lambda sc: sc.items[1].update(quantity={"value": 2}), _same_day_claim("36415"),
               lambda sc: sc.add_item("20610", net=210.0, qty=3)],
         ok=[lambda sc: sc.add_item("71046", net=60.0, qty=2),
             lambda sc: (_same_day_claim("71046")(sc), sc.add_item("71046", net=30.0, modifiers=("76",)))]),
]  # fmt: skip
