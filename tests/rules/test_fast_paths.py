"""The engine's fast paths give exactly what the general paths give.

Facts and rules take shortcuts for the usual shapes (a line read by subscripts, memoized dates and
references, dx order without a sort, a history claim skipped by its dates, memoized code-table
answers, Findings built positionally). Each test here feeds both the usual shape and the shapes
that must fall back, and compares with the general reader or with the rule's documented result.
"""

from __future__ import annotations

import copy
from collections import OrderedDict, defaultdict
from datetime import date
from types import MappingProxyType
from typing import Any

import pytest

from app.domain.context import build_contexts, ref_of
from app.domain.findings import Category, Severity
from app.domain.history import History
from app.domain.vaccine_admin import is_administration, pair_administrations
from app.refdata import RefData
from app.rules import all_rules, build_facts
from app.rules.catalogue.labs import is_clia_lab
from app.rules.claimlines import _read_any, _read_usual, default_dos, items_coded, items_on, read_line, read_lines
from app.rules.ruleset import RuleOverride, RuleSets
from app.rules.values import parse_date, ref_key
from tests.rules.factories import CPT, DOS, HCPCS, POS, VARIANTS, Scenario, coding, item, scenario

DEFAULT_DOS = date(2026, 3, 1)


def _usual() -> dict[str, Any]:
    return item(4, "99213", net=120.0, dx=(1, 2), modifiers=("25",))


def _set(path: str, value: Any) -> Any:
    """A change that sets (or, for ``...``, deletes) one element of the usual item."""

    def change(line: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = line
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        if value is ...:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    change.__name__ = f"{path}={value!r}"
    return change


SHAPES = [
    _set("productOrService.coding", ({"system": CPT, "code": "99213"},)),  # a tuple, not a list
    _set("productOrService.coding.0.system", ...),
    _set("productOrService.coding.0.code", ""),
    _set("productOrService.coding.0.code", " 99213 ".lower()),
    _set("productOrService.coding", [{"system": "http://x", "code": "A1"}, {"system": CPT, "code": "99214"}]),
    _set("productOrService", OrderedDict(coding=[{"system": CPT, "code": "99213"}])),
    _set("quantity.value", True),
    _set("quantity.value", "2"),
    _set("quantity.value", 2.5),
    _set("quantity", ...),
    _set("net", ...),
    _set("net.value", None),
    _set("servicedDate", "2026-03-02T10:30:00-05:00"),
    _set("servicedDate", "2026-02-30"),
    _set("servicedDate", ...),
    _set("servicedDate", 20260302),
    _set("locationCodeableConcept.coding.0.code", ""),
    _set("locationCodeableConcept.coding", [{"system": POS, "code": "11"}, {"system": POS, "code": "22"}]),
    _set("locationCodeableConcept.coding", {"code": "11"}),
    _set("encounter", ({"reference": "Encounter/e1"},)),
    _set("encounter", [{"reference": "Encounter/e2"}, {"reference": "Encounter/e1"}]),
    _set("encounter", [{"reference": "https://ehr.example/fhir/Encounter/e1/_history/3"}]),
    _set("encounter", []),
    _set("encounter", [{"display": "visit"}]),
    _set("encounter", ["Encounter/e1"]),
    _set("sequence", "4"),
    _set("diagnosisSequence", ...),
    _set("careTeamSequence", "12"),
    _set("detail", [{"productOrService": coding("http://hl7.org/fhir/sid/ndc", "00409-4888-02")}]),
]


def test_the_usual_item_takes_the_fast_path() -> None:
    line = _read_usual(_usual(), 0, DEFAULT_DOS, "Claim")
    assert line is not None
    assert line == _read_any(_usual(), 0, DEFAULT_DOS, "Claim")
    assert (line.code, line.units, line.charge, line.dos, line.pos) == ("99213", 1.0, 120.0, DOS, "11")
    assert (line.modifiers, line.dx_pointers, line.encounters, line.is_em) == (("25",), (1, 2), ("Encounter/e1",), True)


@pytest.mark.parametrize("change", SHAPES, ids=lambda c: c.__name__)
def test_every_other_shape_reads_as_the_general_reader_does(change: Any) -> None:
    line = _usual()
    change(line)
    for index, prefix in ((0, "Claim"), (3, "Claim[1]")):
        assert read_line(copy.deepcopy(line), index, DEFAULT_DOS, prefix) == _read_any(line, index, DEFAULT_DOS, prefix)


def _missing_net() -> defaultdict[str, Any]:
    return defaultdict(lambda: {"value": 9}, {k: v for k, v in _usual().items() if k != "net"})


@pytest.mark.parametrize("make", [lambda: OrderedDict(_usual()), _missing_net], ids=["OrderedDict", "defaultdict"])
def test_dict_subclasses_are_read_as_the_general_reader_does(make: Any) -> None:
    expected = _read_any(make(), 0, DEFAULT_DOS, "Claim")
    assert read_line(make(), 0, DEFAULT_DOS) == expected


@pytest.mark.parametrize(
    ("refs", "keys"),
    [
        ([{"reference": "Encounter/e1"}], ("Encounter/e1",)),
        ([{"reference": "http://x/fhir/Encounter/e1/_history/2"}], ("Encounter/e1",)),
        ([{"reference": "Encounter"}], ()),
        ([{"reference": ""}], ()),
        ([{"reference": "Encounter"}, {"reference": "Encounter/e2"}], ("Encounter/e2",)),
        ({"reference": "Encounter/e1"}, ()),
    ],
)
def test_encounter_keys_of_a_line(refs: Any, keys: tuple[str, ...]) -> None:
    line = _usual()
    line["encounter"] = refs
    for _ in range(2):  # the second read answers from the memo
        assert read_line(copy.deepcopy(line), 0, DEFAULT_DOS).encounters == keys


def test_read_lines_counts_object_items_only() -> None:
    claim = {"billablePeriod": {"start": "2026-03-01"}, "item": [None, _usual(), "x", _usual()]}
    claim["item"][3].pop("servicedDate")
    lines = read_lines(claim)
    assert [ln.path for ln in lines] == ["Claim.item[0]", "Claim.item[1]"]
    assert [ln.dos for ln in lines] == [DOS, DEFAULT_DOS]  # no servicedDate: billablePeriod.start


def test_lines_of_some_codes_read_as_read_lines_reads_them() -> None:
    """The global-surgery rules read only some codes of other claims: same indexes, paths and values."""
    other = copy.deepcopy(_usual())
    other["productOrService"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": " 99213 "}]}
    odd = copy.deepcopy(_usual())
    odd["productOrService"] = {"coding": [{"system": "urn:other", "code": "x"}, {"system": CPT, "code": "27447"}]}
    claim = {"billablePeriod": {"start": "2026-03-01"}, "item": [_usual(), "x", other, None, odd]}
    every = read_lines(claim, "Claim[2]")
    for wanted in ({"99213"}, {"27447"}, {"99213", "27447"}, set(), {every[0].code}):
        found = items_coded(claim, wanted)  # what the global-surgery rules read, then parse
        some = [read_line(item, n, default_dos(claim), "Claim[2]") for n, item in found]
        assert some == [ln for ln in every if ln.code in wanted]


def test_items_coded_and_items_on_pick_what_read_lines_reads() -> None:
    """The history readers pick other claims' items by code or date without parsing their lines: the
    same index and code as read_lines; by date, every item whose line may be on one of the dates."""
    shapes: list[Any] = [
        {"coding": [{"system": CPT, "code": " 99213 "}]},
        {"coding": [{"code": "27447"}]},  # no system: not the usual shape
        {"coding": [{"system": 5, "code": "27447"}]},
        {"coding": [{"system": "urn:other", "code": "x"}, {"system": CPT, "code": "11042"}]},
        {"coding": [{"system": CPT, "code": ""}]},
        {"coding": [{"system": CPT, "code": 99213}]},
        {"coding": ["x"]},
        {"coding": {"system": CPT, "code": "99214"}},
        "99215",
        None,
    ]
    dates: list[Any] = ["2026-03-02", "2026-03-02T10:30:00Z", "garbage", 20260302, None, ["2026-03-02"], "2026-W10-1"]
    items: list[Any] = ["x"]
    for n, concept in enumerate(shapes):
        line = copy.deepcopy(_usual())
        line["productOrService"] = concept
        served = dates[n % len(dates)]
        if served is None:
            line.pop("servicedDate")
        else:
            line["servicedDate"] = served
        items += [line, None]
    claim = {"billablePeriod": {"start": "2026-03-01"}, "item": items}
    every = read_lines(claim)
    assert default_dos(claim) == parse_date("2026-03-01")
    for wanted in ({"99213"}, {"27447", "11042"}, {""}, {"X", "99214"}, set(), {ln.code for ln in every}):
        found = items_coded(claim, wanted)
        assert [(n, item["productOrService"]) for n, item in found] == [
            (ln.index, shapes[ln.index]) for ln in every if ln.code in wanted
        ]
    objects = [i for i in items if isinstance(i, dict)]
    for on in ({date(2026, 3, 2)}, {date(2026, 3, 1)}, {parse_date("2026-W10-1")}, set()):
        found = items_on(claim, on)
        expected = [(n, i) for n, i in enumerate(objects) if parse_date(i.get("servicedDate")) in (None, *on)]
        assert [(n, id(i)) for n, i in found] == [(n, id(i)) for n, i in expected]
        parsed = [ln for ln in (read_line(i, n, default_dos(claim)) for n, i in found) if ln.dos in on]
        assert parsed == [ln for ln in every if ln.dos in on]  # no line on those dates is left out


@pytest.mark.parametrize("codes", [["90686", "90732"], ["90686", "99213"], ["99213"], []])
@pytest.mark.parametrize("units", [1.0, 2.0, None])
def test_vaccine_rule_shortcut_without_an_administration_line(codes: list[str], units: float | None) -> None:
    """coding.vaccine-admin-unpaired returns at once when no line is an administration: pairing would
    find no problem either (so the shortcut changes no finding); with one, it does find them."""
    table = {"G0008": frozenset({"90686"}), "G0009": frozenset({"90732"})}
    assert pair_administrations([(c, units) for c in codes], table).problem is None
    if codes and codes[0] == "90686":
        assert pair_administrations([(c, units) for c in [*codes, "90471", "90472", "90472"]], table).problem


@pytest.mark.parametrize("value", ["2026-03-02", "2026-03-02T23:59:59Z", "2026-02-30", "2026-03", "", None, 5, ["x"]])
def test_parse_date_answers_the_same_every_time(value: Any) -> None:
    first = parse_date(value)
    assert parse_date(value) == first == parse_date(copy.copy(value))
    if isinstance(value, str) and len(value) >= 10 and value[:10] != "2026-02-30":
        assert first == date.fromisoformat(value[:10])
    else:
        assert first is None


class _Text(str):
    pass


@pytest.mark.parametrize(
    "value",
    [
        {"reference": "Encounter/e1"},
        {"reference": "https://x/fhir/Patient/p1/_history/2"},
        {"reference": "urn:uuid:1234"},
        {"reference": "Patient"},
        {"reference": ""},
        {"display": "no reference"},
        "Organization/o1",
        _Text("Organization/o2"),
        None,
        7,
    ],
)
def test_ref_key_is_ref_of(value: Any) -> None:
    assert ref_key(value) == ref_key(value) == ref_of(value)


def test_ref_key_fails_where_ref_of_fails() -> None:
    with pytest.raises(AttributeError):
        ref_of({"reference": 5})
    with pytest.raises(AttributeError):
        ref_key({"reference": 5})


def _facts(sc: Scenario) -> Any:
    ctx = build_contexts(list(sc.res.values()))[0]
    history = History(prior_claims=tuple(sc.prior_claims), eligibility=tuple(sc.eligibility))
    return build_facts(sc.claim, ctx, history=history, payers=sc.payers, refdata=sc.refdata, today=sc.today)


@pytest.mark.parametrize(
    "sequences", [[1, 2, 3], [3, 1, 2], [1, 1, 2], ["2", 1], [True, 1, 3], [2, None, 1], [0, 2, 1]]
)
def test_diagnoses_come_in_sequence_order(sequences: list[Any], refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.claim["diagnosis"] = [
        {"sequence": s, "diagnosisCodeableConcept": coding("http://hl7.org/fhir/sid/icd-10-cm", f"E11.{n}")}
        for n, s in enumerate(sequences)
    ]
    listed = [(not isinstance(s, int), s or 0, n) for n, s in enumerate(sequences)]
    expected = [f"Claim.diagnosis[{n}]" for *_, n in sorted(listed)]
    assert [d.path for d in _facts(sc).dx] == expected


def test_history_lines_skip_other_dates_and_index_object_items(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    other = sc.copy_claim("old1")
    same_day, timed = copy.deepcopy(other["item"][0]), copy.deepcopy(other["item"][1])
    timed["servicedDate"] = DOS.isoformat() + "T16:00:00Z"
    for line in other["item"]:
        line["servicedDate"] = "2026-02-01"
    other["item"] = ["junk", other["item"][0], same_day, None, timed]
    sc.prior_claims = [sc.copy_claim("old0", item=[item(1, "99213", net=1.0, dos=date(2026, 1, 5))]), other]
    found = _facts(sc).history_lines
    assert [(claim["id"], line.path, line.code) for claim, line in found] == [
        ("old1", "Claim[1].item[1]", "99213"),
        ("old1", "Claim[1].item[2]", "36415"),
    ]


def test_history_lines_read_an_item_without_a_usable_date_as_read_lines_does(refdata: RefData) -> None:
    """An item whose servicedDate is no date takes the claim's billablePeriod start, as read_lines gives it."""
    sc = scenario(VARIANTS[0], refdata)
    other = sc.copy_claim("old1")
    other["billablePeriod"] = {"start": DOS.isoformat()}
    other["item"][0]["servicedDate"] = "garbage"
    other["item"][1]["servicedDate"] = "2026-W10-1"  # an ISO week date: Python reads it, so does read_line
    sc.prior_claims = [other]
    facts = _facts(sc)
    expected = [(ln.path, ln.code) for ln in read_lines(other, "Claim[0]") if ln.dos in {x.dos for x in facts.lines}]
    assert [(line.path, line.code) for _, line in facts.history_lines] == expected
    assert ("Claim[0].item[0]", other["item"][0]["productOrService"]["coding"][0]["code"]) in expected


def test_a_boolean_pointer_is_invalid_even_when_its_number_exists(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.items[1]["diagnosisSequence"] = [True]
    sc.items[2]["diagnosisSequence"] = [1, 2, 1, 2, 1]
    found = [(f.location, f.message) for f in sc.findings() if f.rule == "coding.dx-pointer-invalid"]
    assert found == [
        ("Claim.item[1].diagnosisSequence", "Line 36415 points at missing diagnosis [True]."),
        ("Claim.item[2].diagnosisSequence", "Line 80053 has more than 4 diagnosis pointers."),
    ]


def test_code_edit_answers_follow_the_reference_data(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"][0]["code"] = "N40.0"  # male only
    conflict = {"coding.sex-conflict"}
    female_n40 = RefData(sex_edits={("dx", "N40"): "female"})  # other tables, other answers
    for tables, expected in ((refdata, conflict), (RefData(), set()), (female_n40, set()), (refdata, conflict)):
        sc.refdata = tables
        assert sc.rule_ids() & conflict == expected


def test_unlisted_pattern_answers_are_kept_per_pattern(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.add_item("17999", net=80.0)
    assert "documentation.attachment-missing" in sc.rule_ids()
    override = RuleOverride(params={"unlisted_pattern": r"^\d{3}98$"})
    sc.rules = RuleSets(global_layer={"documentation.attachment-missing": override})
    assert "documentation.attachment-missing" not in sc.rule_ids()
    sc.items[-1]["productOrService"] = coding(CPT, "17998")
    assert "documentation.attachment-missing" in sc.rule_ids()


def test_cob_finding_names_the_first_coverage_in_order(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    second = copy.deepcopy(sc.res["coverage"])
    second["id"] = "cov0"  # same order 1: ties are broken by Type/id
    sc.res = {"coverage2": second, **sc.res}
    found = [f for f in sc.findings() if f.rule == "eligibility.cob-order-missing"]
    assert [(f.source, f.message) for f in found] == [
        ("Coverage/cov0", "2 coverages are in force without a distinct order.")
    ]


def test_an_identical_line_is_a_duplicate_not_a_missing_repeat_modifier(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    other = sc.copy_claim("old1", insurance=[{"focal": True, "coverage": {"reference": "Coverage/cov1"}}])
    other["item"] = [copy.deepcopy(sc.items[2]), copy.deepcopy(sc.items[1])]
    other["item"][1]["quantity"] = {"value": 2}  # same code and day, other units: a repeat
    other["item"][1]["net"] = other["item"][1]["unitPrice"] = {"value": 7.5}
    sc.prior_claims = [other]
    sc.claim["related"] = [{"claim": {"reference": "Claim/other"}, "relationship": coding("x", "prior")}]
    found = {(f.rule, f.location) for f in sc.findings() if f.rule.startswith("duplicate.")}
    assert found == {
        ("duplicate.line-already-billed", "Claim.item[2]"),
        ("duplicate.repeat-service-modifier-missing", "Claim.item[1].modifier"),
        ("duplicate.replacement-missing-payer-claim-number", "Claim.related.reference"),
    }


def test_an_original_claim_is_found_before_a_malformed_later_line(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    other = sc.copy_claim("old1")
    other["item"].append({"encounter": 5})  # not a list: the search stops at the first shared encounter
    sc.prior_claims = [other]
    found = [f for f in sc.findings() if f.rule == "duplicate.original-claim-exists"]
    assert [(f.location, f.source) for f in found] == [("Claim.related", "Claim/old1")]


def test_findings_carry_every_field_in_place(refdata: RefData) -> None:
    sc = scenario(VARIANTS[0], refdata)
    sc.res["patient"].pop("gender")
    spec = next(s for s in all_rules() if s.id == "missing-data.patient-sex-missing")
    (finding,) = [f for f in sc.findings() if f.rule == spec.id]
    assert finding.category is Category.MISSING_DATA and finding.severity is Severity.ERROR
    assert finding.message == "Patient has no administrative gender."
    assert (finding.location, finding.source, finding.fix) == ("Patient.gender", "Patient/p1", spec.fix)


@pytest.mark.parametrize(
    "code", ["80047", "80053", "89398", "80046", "89399", "8005", "800530", "8005A", "J1030", "36415", "99213"]
)
def test_clia_rule_reads_lab_codes_as_is_clia_lab(code: str, refdata: RefData) -> None:
    """coding's CLIA test, inlined in the rule, is is_clia_lab (the mapper's test) on each line code."""
    sc = scenario(VARIANTS[0], refdata)
    billing = sc.res["billing"]
    billing["identifier"] = [i for i in billing["identifier"] if i["system"] != "urn:oid:2.16.840.1.113883.4.7"]
    sc.claim["item"] = [item(1, "99213", net=100.0)]
    sc.add_item(code)
    expected = any(is_clia_lab(str(i["productOrService"]["coding"][0]["code"])) for i in sc.items)
    assert ("missing-data.clia-number-missing" in sc.rule_ids()) is expected


@pytest.mark.parametrize("codes", [["90686", "90471"], ["90686", "G0008"], ["90686", "90472", "90472"], ["90686"], []])
def test_vaccine_rule_finds_administration_lines_as_is_administration(codes: list[str], refdata: RefData) -> None:
    """The rule's inlined administration test is is_administration: with none, no finding; with one,
    the finding is what pair_administrations says."""
    sc = scenario(VARIANTS[0], refdata)  # Medicare: a vaccine administration table
    for code in codes:
        sc.add_item(code, net=20.0, system=HCPCS if code.startswith("G") else CPT)
    table = sc.payers.find(("01112",)).vaccine_administration
    assert table
    lines = [(str(i["productOrService"]["coding"][0]["code"]), 1.0) for i in sc.items]
    due = any(is_administration(c, table) for c, _ in lines) and pair_administrations(lines, table).problem
    assert ("coding.vaccine-admin-unpaired" in sc.rule_ids()) is bool(due)


@pytest.mark.parametrize(
    ("allowed", "forbidden"),
    [
        ({"VR": ["02", "10"]}, {"AMB": ["02", "10", "21"]}),
        ({"VR": ["02", 10]}, {"AMB": [21, ["11"], "22"]}),  # not the configured shape: kept as lists
        ({"AMB": []}, {"AMB": []}),
        ({}, {"AMB": ["11"]}),
    ],
)
def test_pos_rule_reads_its_parameters_as_list_membership(allowed: Any, forbidden: Any, refdata: RefData) -> None:
    """missing-data.pos-encounter-mismatch holds its POS lists as sets: the same answers as the lists."""
    check = {s.id: s for s in all_rules()}["missing-data.pos-encounter-mismatch"].check
    for variant in VARIANTS:
        sc = scenario(variant, refdata)
        sc.items[1]["locationCodeableConcept"] = coding(POS, "22")
        facts = _facts(sc)
        cls = facts.encounter["class"]["code"]
        params = MappingProxyType({"allowed": allowed, "forbidden": forbidden})
        got = [hit.location for hit in check(facts, params)]
        ok, no = allowed.get(cls), forbidden.get(cls)
        expected = [
            f"{ln.path}.locationCodeableConcept" for ln in facts.lines
            if ln.pos is not None and ((ok is not None and ln.pos not in ok) or (no and ln.pos in no))
        ]  # fmt: skip
        assert got == expected
