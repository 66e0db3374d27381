"""The fast walker agrees with fhirpathpy; expressions are checked; transforms behave as documented."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from app.mappers.fhirpath import ExpressionError, compile_expression, compile_slow
from app.mappers.tables import CodeTable, MappedCode, TableEntry
from app.mappers.transforms import Step, TransformError, apply_steps, check_step

WALKED = [
    "Encounter.period.start",
    "Encounter.length.value",
    "Encounter.participant.individual.reference",
    "Encounter.participant.where(type.coding.code = 'PPRF').individual",
    "Encounter.length.where(code = 'min').value",
    "Encounter.where(status = 'finished').class.code",
    "Encounter.type.coding.where(system = 'http://www.ama-assn.org/go/cpt').code",
]


def random_encounter(rng: random.Random) -> dict:
    def maybe(value):
        return value if rng.random() < 0.7 else None

    participants = []
    for _ in range(rng.randint(0, 3)):
        codes = rng.sample(["PPRF", "ATND", "SPRF", "PART"], rng.randint(0, 2))
        participants.append(
            {
                "type": [{"coding": [{"code": c} for c in codes]}] if codes else [],
                "individual": {"reference": f"Practitioner/p{rng.randint(1, 3)}"},
            }
        )
    enc = {
        "resourceType": rng.choice(["Encounter", "Encounter", "Patient"]),
        "status": rng.choice(["finished", "in-progress"]),
        "class": {"code": rng.choice(["AMB", "VR"])},
        "period": maybe({"start": "2024-11-20T09:00:00-05:00"}),
        "length": maybe({"value": rng.choice([35, 12.5, 0]), "code": rng.choice(["min", "h", None])}),
        "participant": participants,
        "type": [{"coding": [{"system": rng.choice(["http://www.ama-assn.org/go/cpt", "x"]), "code": "99213"}]}],
    }
    return {k: v for k, v in enc.items() if v is not None}


@pytest.mark.parametrize("expression", WALKED)
def test_walker_matches_fhirpathpy(expression: str) -> None:
    fast = compile_expression(expression)
    slow = compile_slow(expression)
    assert fast.walked and not slow.walked
    rng = random.Random(7)
    for _ in range(300):
        enc = random_encounter(rng)
        assert fast(enc) == slow(enc), enc


MODIFIER_URL = "http://claimbridge.example.org/fhir/StructureDefinition/billing-modifier"
UNIONS = [
    f"Encounter.extension.where(url = '{MODIFIER_URL}').valueCoding"
    f" | Encounter.extension.where(url = '{MODIFIER_URL}').valueCodeableConcept",
    f"ChargeItem.bodysite.coding | ChargeItem.extension.where(url = '{MODIFIER_URL}').valueCoding"
    f" | ChargeItem.extension.where(url = '{MODIFIER_URL}').valueCodeableConcept",
    "Encounter.period.start | Encounter.length.value | Encounter.status | Encounter.class.code",
    "Encounter.participant.individual | Encounter.participant.individual.reference",
    "Encounter.type.coding.where(code = 'a|b').code | Encounter.type.coding.code",
]


def random_coded(rng: random.Random) -> dict:
    """A resource (often the wrong type) with duplicated codings, modifier extensions and decimals."""
    coding = lambda: {"system": rng.choice(["s", "t"]), "code": rng.choice(["25", "LT", "a|b", "59"])}  # noqa: E731

    def ext() -> dict:
        value = rng.choice(
            [
                {"valueCoding": coding()},
                {"valueCodeableConcept": {"coding": [coding() for _ in range(rng.randint(0, 2))]}},
                {"valueDecimal": rng.choice([1, 1.0, 2.5])},
            ]
        )
        return {"url": rng.choice([MODIFIER_URL, MODIFIER_URL, "other"]), **value}

    resource = {
        "resourceType": rng.choice(["Encounter", "ChargeItem", "Procedure"]),
        "status": "finished",
        "extension": [ext() for _ in range(rng.randint(0, 4))],
        "bodysite": [{"coding": [coding() for _ in range(rng.randint(0, 3))]} for _ in range(rng.randint(0, 2))],
        "type": [{"coding": [coding() for _ in range(rng.randint(0, 3))]}],
        "period": {"start": "2026-11-20"},
        "length": {"value": rng.choice([35, 12.5, 1.0])},
        "participant": [{"individual": {"reference": f"Practitioner/p{rng.randint(1, 2)}"}} for _ in range(2)],
    }
    return {k: v for k, v in resource.items() if k == "resourceType" or rng.random() < 0.85}


@pytest.mark.parametrize("expression", UNIONS)
def test_unions_of_plain_paths_run_on_the_walker_and_match_fhirpathpy(expression: str) -> None:
    fast = compile_expression(expression)
    slow = compile_slow(expression)
    assert fast.walked
    rng = random.Random(11)
    for _ in range(300):
        resource = random_coded(rng)
        assert fast(resource) == slow(resource), resource


def test_a_union_with_any_operand_not_plain_stays_on_fhirpathpy() -> None:
    assert not compile_expression("Encounter.status | Encounter.participant.first().individual").walked
    assert not compile_expression("Encounter.where(status = 'a\\'b').id | Encounter.id").walked


def test_complex_expressions_use_fhirpathpy() -> None:
    path = compile_expression("Encounter.participant.where(type.coding.code = 'PPRF' or period.exists()).individual")
    enc = {"resourceType": "Encounter", "participant": [{"period": {"start": "x"}, "individual": {"reference": "P/1"}}]}
    assert path(enc) == [{"reference": "P/1"}]


@pytest.mark.parametrize(
    "expression",
    ["Encounter.(", "Encounter.period..start", "Encounter.foo()", "Encounter.period.start )", "   "],
)
def test_bad_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(expression)


def test_resource_type_of_expression_must_match() -> None:
    with pytest.raises(ExpressionError, match="starts with Patient"):
        compile_expression("Patient.birthDate", resource_type="Encounter")
    assert compile_expression("Encounter.id", resource_type="Encounter")({"resourceType": "Patient", "id": "1"}) == []


TABLES = {
    "labs": CodeTable(
        "labs", target="cpt", sources=("loinc",), entries={"4548-4": TableEntry("83036", category="lab")}
    ),
    "direct": CodeTable("direct", target="cpt", sources=("cpt",), passthrough=True),
    "classes": CodeTable(
        "classes", target="pc", match="prefix", entries={"E11": TableEntry("chronic"), "E11.6": TableEntry("x")}
    ),
    "bare": CodeTable("bare", target="pos", entries={"AMB": TableEntry("11")}),
}


def run(values, *steps):
    return apply_steps(values, tuple(Step(*s) if isinstance(s, tuple) else Step(s) for s in steps), TABLES)


def test_map_code_chain_and_sources() -> None:
    codings = [{"system": "other", "code": "4548-4"}, {"system": "loinc", "code": "4548-4"}]
    (hit,) = run(codings, ("map_code", ["labs", "direct"]))
    assert isinstance(hit, MappedCode)
    assert (hit.system, hit.code, hit.category, hit.table) == ("cpt", "83036", "lab", "labs")
    assert run([{"system": "cpt", "code": "93000"}], ("map_code", ["labs", "direct"]))[0].code == "93000"
    assert run([{"system": "hcpcs", "code": "J0696"}], ("map_code", ["labs", "direct"])) == []
    assert run([{"coding": [{"system": "loinc", "code": "4548-4"}]}], ("map_code", "labs"))[0].code == "83036"


def test_prefix_tables_take_the_longest_key_and_bare_tables_take_any_system() -> None:
    assert [m.code for m in run(["E11.9", "E11.65", "I10"], ("map_code", "classes"))] == ["chronic", "x"]
    assert run([{"system": "whatever", "code": "AMB"}], ("map_code", "bare"))[0].code == "11"


def test_value_transforms() -> None:
    assert run(["2024-11-20T23:30:00-05:00", "junk"], "date") == ["2024-11-20"]
    assert run([35, "12.5", "x", True], "number") == [Decimal(35), Decimal("12.5")]
    assert run([Decimal("30.0"), Decimal("2.5")], "integer") == [30]
    assert run([Decimal("12.345")], ("money", "EUR")) == [{"value": Decimal("12.35"), "currency": "EUR"}]
    assert run(["a", "b"], ("join", ", ")) == ["a, b"]
    assert run([], ("default", 1)) == [1]
    assert run(["VR"], ("any_of", ["VR", "X"])) == [True]
    assert run([], ("any_of", ["VR"])) == [False]
    assert run([{"reference": "http://ehr/fhir/Patient/1/_history/2"}], "reference") == ["Patient/1"]
    assert run(["a", "a", "b"], "distinct", "count") == [2]
    assert run([{"system": "s", "code": "1"}, {"system": "t", "code": "2"}], ("system", "t"), "code") == ["2"]
    assert run(["RelatedPerson/1", "Practitioner/2"], ("starts_with", "RelatedPerson/"), "exists") == [True]
    assert run([True, False], "not") == [False, True]
    assert run(["x"], "last", "upper") == ["X"]


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        (Step("frist"), "unknown transform"),
        (Step("first", 1), "takes no argument"),
        (Step("join"), "needs a text argument"),
        (Step("map_code", "nope"), "unknown table 'nope'"),
        (Step("map_code", []), "needs a name or a list"),
        (Step("default", [1]), "needs a scalar"),
    ],
)
def test_check_step_refuses(step: Step, problem: str) -> None:
    with pytest.raises(TransformError, match=problem):
        check_step(step, set(TABLES))


def test_per_order_fields_of_the_shipped_config_never_run_fhirpathpy(mappings) -> None:
    """Performance guard: fields evaluated once per order/condition/coverage stay on the walker."""
    per_item = ("Condition", "Coverage", "ServiceRequest", "MedicationRequest", "Medication", "DocumentReference")
    slow = [
        (name, source.expression)
        for name, rule in mappings.fields.items()
        if rule.on in per_item
        for source in rule.sources
        if not source.walked
    ]
    assert slow == []


def test_distinct_removes_equal_lists_and_dicts_in_order() -> None:
    values = [[1, 2], "a", [1, 2], {"b": [1], "a": {"x": 1, "y": 2}}, {"a": {"y": 2, "x": 1}, "b": [1]}, [], []]
    assert run(values, "distinct") == [[1, 2], "a", {"b": [1], "a": {"x": 1, "y": 2}}, []]
    assert run([["x"], [["x"]], ["x", "y"], {"c": "x"}, ["x"]], "distinct") == [["x"], [["x"]], ["x", "y"], {"c": "x"}]
    assert run([{"a": [1]}, [{"a": [1]}], {"a": [1]}], "distinct", "count") == [2]


def test_number_drops_non_finite_values_as_it_drops_other_non_numbers() -> None:
    odd = ["NaN", "sNaN", "-nan", "Infinity", "-Infinity", "inf", float("nan"), float("inf"), Decimal("sNaN")]
    assert run([*odd, "abc", "7"], "number") == run(["abc", "7"], "number") == [Decimal(7)]
    assert run([*odd, "2.50"], "integer") == [] and run([*odd, "2.50"], ("money", "USD")) == [
        {"value": Decimal("2.50"), "currency": "USD"}
    ]
    assert run(["NaN", "sNaN", "1"], "number", "distinct") == [Decimal(1)]


def test_integer_and_money_drop_numbers_they_cannot_hold_instead_of_raising_or_hanging() -> None:
    huge = ["1e30", "1e999999999", "-1e5000"]  # money: more digits than the context; integer: past int's digits
    assert run([*huge, "12"], ("money", "USD")) == [{"value": Decimal("12.00"), "currency": "USD"}]
    assert run([*huge, "12"], "integer") == [10**30, 12]
    assert run(["1e4299", "1e4300"], "integer") == [10**4299]  # at most 4,300 digits, as int <-> text
