"""One answer to "which encounter, which patient, which version" for every package."""

from __future__ import annotations

import pytest

from app.domain.resources import encounter_of, is_newer, patient_of, version_of


@pytest.mark.parametrize(
    ("resource", "encounter"),
    [
        ({"resourceType": "Encounter", "id": "e1"}, "Encounter/e1"),
        ({"resourceType": "ServiceRequest", "id": "s", "encounter": {"reference": "Encounter/e2"}}, "Encounter/e2"),
        ({"resourceType": "ChargeItem", "id": "c", "context": {"reference": "Encounter/e3"}}, "Encounter/e3"),
        (
            {"resourceType": "DocumentReference", "id": "d", "context": {"encounter": [{"reference": "Encounter/e4"}]}},
            "Encounter/e4",
        ),
        (
            {"resourceType": "Procedure", "id": "p", "encounter": {"reference": "https://ehr/fhir/Encounter/e5"}},
            "Encounter/e5",
        ),
        ({"resourceType": "Coverage", "id": "cov"}, None),
    ],
)
def test_encounter_of_follows_the_context_links(resource, encounter) -> None:
    assert encounter_of(resource) == encounter


def test_patient_and_version() -> None:
    assert patient_of({"resourceType": "Patient", "id": "p1"}) == "Patient/p1"
    assert patient_of({"resourceType": "Coverage", "beneficiary": {"reference": "Patient/p2"}}) == "Patient/p2"
    assert patient_of({"resourceType": "Organization", "id": "o"}) is None
    assert version_of({"meta": {"versionId": 3, "lastUpdated": "2026-01-01T00:00:00Z"}}) == (
        "3",
        "2026-01-01T00:00:00Z",
    )
    assert is_newer(("10", None), ("9", None)) is True
    assert is_newer(("2", None), ("2", None)) is None
    assert is_newer((None, "2026-01-02"), (None, "2026-01-01")) is True
