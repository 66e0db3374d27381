"""The sample bundles: committed files equal the generator's output, resources are valid R4, references
resolve inside each bundle, and each bundle is one encounter context with a resolvable patient and coverage."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from app.domain.context import build_contexts, ref_of, resources_from_bundle
from app.fhir.r4 import validate_resource

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE = "http://ehr.example.org/fhir"
PAYER_ID = "urn:claimbridge:payer-id"
HISTORY = ("urn:claimbridge:encounter-role", "history")


def is_history(resource: dict[str, Any]) -> bool:
    return any((t.get("system"), t.get("code")) == HISTORY for t in resource.get("meta", {}).get("tag", []))


def references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in references(v)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    return []


def test_committed_files_equal_generator_output(regenerated: Path) -> None:
    for name in ("manifest.json", "all-encounters.json"):
        assert (EXAMPLES / name).read_bytes() == (regenerated / name).read_bytes(), f"{name}: regenerate"
    committed = sorted(p.name for p in (EXAMPLES / "bundles").glob("*.json"))
    fresh = sorted(p.name for p in (regenerated / "bundles").glob("*.json"))
    assert committed == fresh
    changed = [
        n for n in fresh if (EXAMPLES / "bundles" / n).read_bytes() != (regenerated / "bundles" / n).read_bytes()
    ]
    assert changed == [], "stale sample bundles: run .venv/bin/python examples/generate.py"


def test_every_resource_validates_against_pinned_models(dataset: Any) -> None:
    for bundle in [*dataset.bundles.values(), dataset.everything]:
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "collection"
        for entry in bundle["entry"]:
            validate_resource(entry["resource"])


def test_full_urls_are_rest_urls_and_references_resolve_inside_each_bundle(dataset: Any) -> None:
    for name, bundle in dataset.bundles.items():
        keys = set()
        for entry in bundle["entry"]:
            res = entry["resource"]
            assert entry["fullUrl"] == f"{BASE}/{res['resourceType']}/{res['id']}"
            keys.add(f"{res['resourceType']}/{res['id']}")
        assert len(keys) == len(bundle["entry"]), f"{name}: duplicate entries"
        for entry in bundle["entry"]:
            for reference in references(entry["resource"]):
                assert not reference.startswith("urn:"), reference
                assert reference in keys, f"{name}: {reference} does not resolve"


def test_shared_resources_are_identical_and_all_encounters_is_their_union(dataset: Any) -> None:
    seen: dict[str, dict[str, Any]] = {}
    for name, bundle in dataset.bundles.items():
        for entry in bundle["entry"]:
            res = entry["resource"]
            key = f"{res['resourceType']}/{res['id']}"
            assert seen.setdefault(key, res) == res, f"{key} differs in {name}"
    union = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in dataset.everything["entry"]
    }
    assert len(union) == len(dataset.everything["entry"])
    assert union == seen


def test_each_bundle_is_one_encounter_context_with_patient_and_coverages(dataset: Any) -> None:
    for row in dataset.manifest:
        pairs = resources_from_bundle(dataset.bundles[row["file"]])
        history = [r for r, _ in pairs if r["resourceType"] == "Encounter" and is_history(r)]
        current = [(r, url) for r, url in pairs if not (r["resourceType"] == "Encounter" and is_history(r))]
        contexts = build_contexts(current, history=history)
        assert [c.key for c in contexts] == [f"Encounter/{row['encounter']}"]
        ctx = contexts[0]
        assert ctx.patient is not None
        assert ctx.patient["resourceType"] == "Patient"
        coverages = ctx.coverages()
        assert bool(coverages) == ("coverage-missing" not in row["expected"])
        for coverage in coverages:
            payers = [ctx.resolve(p) for p in coverage["payor"]]
            assert all(p is not None and p["resourceType"] == "Organization" for p in payers)
        if coverages:
            payer = ctx.resolve(coverages[0]["payor"][0])
            assert row["payer_id"] in [i["value"] for i in payer["identifier"] if i["system"] == PAYER_ID]
        if len(coverages) > 1:
            assert [c["order"] for c in coverages] == list(range(1, len(coverages) + 1))
        assert ctx.resolve(ctx.encounter["serviceProvider"])["resourceType"] == "Organization"
        assert len(ctx.linked("Condition")) == len(ctx.encounter["diagnosis"])
        assert all(ref_of(h["subject"]) == ref_of(ctx.encounter["subject"]) for h in ctx.history)
        assert all(
            h["status"] == "finished" and h["period"]["start"] < ctx.encounter["period"]["start"] for h in ctx.history
        )


def test_established_codes_always_have_a_prior_visit(dataset: Any) -> None:
    for row in dataset.manifest:
        entries = [e["resource"] for e in dataset.bundles[row["file"]]["entry"]]
        encounter = entries[0]
        assert encounter["id"] == row["encounter"]
        code = encounter["type"][0]["coding"][0]["code"]
        prior = [r for r in entries if r["resourceType"] == "Encounter" and is_history(r)]
        if code.startswith("9921"):
            start = date.fromisoformat(encounter["period"]["start"][:10])
            assert any((start - date.fromisoformat(p["period"]["start"][:10])).days <= 3 * 365 for p in prior)


def test_the_mix_covers_payers_visit_kinds_and_codes(dataset: Any) -> None:
    encounters = [b["entry"][0]["resource"] for b in dataset.bundles.values()]
    assert len(encounters) >= 60
    assert len({row["payer_id"] for row in dataset.manifest} - {None}) >= 5
    assert {e["class"]["code"] for e in encounters} == {"AMB", "VR"}
    codes = {e["type"][0]["coding"][0]["code"] for e in encounters}
    assert {"99202", "99203", "99204", "99205", "99211", "99212", "99213", "99214", "99215"} <= codes
    types = {e["resource"]["resourceType"] for b in dataset.bundles.values() for e in b["entry"]}
    assert {
        "ServiceRequest",
        "MedicationRequest",
        "DocumentReference",
        "CoverageEligibilityResponse",
        "ClaimResponse",
        "RelatedPerson",
        "PractitionerRole",
    } <= types
    orders = [
        sorted(c["order"] for c in covs)
        for covs in (
            [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == "Coverage"]
            for b in dataset.bundles.values()
        )
        if len(covs) > 1
    ]
    assert orders
    assert all(o == [1, 2] for o in orders)
