"""``reference_key`` remembers what it normalised: the answers are those of the plain function, on
the first call and on every repeat, and a ``str`` subclass is normalised (not cached) the same way."""

from __future__ import annotations

import pytest

from app.domain.context import _reference_key, ref_of, reference_key

CASES = [
    ("Patient/p1", "Patient/p1"),
    ("http://ehr.example.org/fhir/Patient/p1", "Patient/p1"),
    ("http://ehr.example.org/fhir/Patient/p1/_history/3", "Patient/p1"),
    ("Encounter/e1/_history/2", "Encounter/e1"),
    ("urn:uuid:0b5c3b8e-9f3a-4c1e-8d2a-6a7f3c1e2b4d", "urn:uuid:0b5c3b8e-9f3a-4c1e-8d2a-6a7f3c1e2b4d"),
    ("urn:oid:1.2.3", "urn:oid:1.2.3"),
    ("p1", None),
    ("_history/1", None),
    ("a/b/c", "b/c"),
]


class Ref(str):
    pass


@pytest.mark.parametrize(("reference", "key"), CASES)
def test_remembered_keys_are_the_plain_function_s(reference: str, key: str | None) -> None:
    assert _reference_key(reference) == key
    for _ in range(3):  # first call, then from the cache
        assert reference_key(reference) == key
        assert ref_of({"reference": reference}) == key
        assert ref_of(reference) == key
    assert reference_key(Ref(reference)) == key


def test_empty_and_missing_references_have_no_key() -> None:
    assert reference_key(None) is None
    assert reference_key("") is None
    assert ref_of({}) is None
    assert ref_of(None) is None
