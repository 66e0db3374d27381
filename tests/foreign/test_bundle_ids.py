"""identify_entries: id-less entries get stable ids; urn:uuid and conditional references become Type/id."""

from __future__ import annotations

import copy

from app.domain.bundles import identify_entries
from app.domain.context import build_contexts, resources_from_bundle

PAT = "urn:uuid:6d367230-21b3-5816-8d8c-5239028c388f"
ENC = "urn:uuid:1cf7ba1a-baa1-562d-bc6d-331d77ebaed7"


def entries() -> list[tuple[dict, str | None]]:
    return [
        ({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "42"}]}, PAT),
        ({"resourceType": "Encounter", "status": "finished", "subject": {"reference": PAT}}, ENC),
        (
            {
                "resourceType": "Condition",
                "subject": {"reference": "Patient?identifier=urn:mrn|42"},
                "encounter": {"reference": ENC, "display": "the visit"},
                "evidence": [{"detail": [{"reference": ENC}]}],
            },
            "urn:uuid:f4db3420-4108-5c52-8b56-251f178fee28",
        ),
    ]


def test_ids_come_from_the_full_url_and_references_become_type_id() -> None:
    pat, enc, cond = (r for r, _ in identify_entries(entries()))
    assert pat["id"] == PAT.removeprefix("urn:uuid:") and enc["id"] == ENC.removeprefix("urn:uuid:")
    assert enc["subject"] == {"reference": f"Patient/{pat['id']}"}
    assert cond["encounter"] == {"reference": f"Encounter/{enc['id']}", "display": "the visit"}
    assert cond["evidence"][0]["detail"][0] == {"reference": f"Encounter/{enc['id']}"}
    assert cond["subject"] == {"reference": f"Patient/{pat['id']}"}  # conditional reference, one match


def test_inputs_are_not_mutated_and_the_result_is_deterministic() -> None:
    given = entries()
    before = copy.deepcopy(given)
    first = identify_entries(given)
    assert given == before and identify_entries(entries()) == first


def test_an_id_ful_bundle_is_returned_as_is() -> None:
    items = [({"resourceType": "Patient", "id": "p1"}, "https://ehr/fhir/Patient/p1")]
    out = identify_entries(items)
    assert out == items and out[0][0] is items[0][0]


def test_no_full_url_gets_a_content_id_and_other_urls_give_their_tail() -> None:
    (a, _), (b, _), (c, _) = identify_entries(
        [
            ({"resourceType": "Observation", "status": "final"}, None),
            ({"resourceType": "Practitioner"}, "https://ehr.example.org/fhir/Practitioner/doc-7"),
            ({"resourceType": "Location", "id": "not a valid id!"}, "urn:oid:1.2.3.4"),
        ]
    )
    assert a["id"].startswith("cb-") and len(a["id"]) == 23
    assert b["id"] == "doc-7" and c["id"] == "1.2.3.4"


def test_same_derived_id_twice_stays_two_resources() -> None:
    out = identify_entries(
        [
            ({"resourceType": "Observation", "status": "final"}, "urn:uuid:aaaa"),
            ({"resourceType": "Observation", "status": "amended"}, "urn:uuid:aaaa"),
        ]
    )
    assert out[0][0]["id"] != out[1][0]["id"]


def test_ambiguous_or_unknown_references_are_left_alone() -> None:
    items = entries()
    items.append(({"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "42"}]}, "urn:uuid:b"))
    items.append(({"resourceType": "Observation", "subject": {"reference": "urn:uuid:nowhere"}}, "urn:uuid:c"))
    out = [r for r, _ in identify_entries(items)]
    assert out[2]["subject"] == {"reference": "Patient?identifier=urn:mrn|42"}
    assert out[4]["subject"] == {"reference": "urn:uuid:nowhere"}


def test_a_foreign_bundle_groups_into_contexts_like_an_id_ful_one() -> None:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    for resource, full_url in entries():
        bundle["entry"].append({"fullUrl": full_url, "resource": resource, "request": {"method": "POST"}})
    (ctx,) = build_contexts(resources_from_bundle(bundle))
    assert ctx.key == "Encounter/" + ENC.removeprefix("urn:uuid:")
    assert ctx.patient is not None and ctx.patient["resourceType"] == "Patient"
    assert [c["resourceType"] for c in ctx.linked("Condition")] == ["Condition"]
