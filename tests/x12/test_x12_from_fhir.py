"""R4 Claim + EncounterContext → ClaimInput → pyx12-valid 837P."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from x12_factories import envelope
from x12_fhir_factories import claim, context, coverage
from x12_pyx12 import assert_valid_837p

from app.x12 import X12BuildError, claim_input_from_fhir, write_837p
from app.x12.tokenizer import SegmentReader


def test_claim_maps_to_input_with_every_part() -> None:
    built = claim_input_from_fhir(claim(0), context(0))
    assert built.claim_id == "claim0" and built.total_charge == Decimal("168.5")
    assert built.diagnoses == ("E119", "I10") and built.place_of_service == "11"
    first, second = built.lines
    assert (first.code, first.modifiers, first.pointers, first.charge) == ("99214", ("25",), (1, 2), Decimal("150.0"))
    assert second.drug is not None and (second.drug.ndc, second.drug.unit) == ("00009307301", "ML")
    assert built.billing_provider.tin == "311234567" and built.billing_provider.address.postal_code == "432151234"
    assert built.payer.payer_id == "60054" and built.filing_indicator == "HM" and built.group_number == "GRP77"
    assert built.prior_authorization == "PA-991" and built.patient is None and built.frequency == "1"
    assert built.rendering_provider is not None and built.rendering_provider.taxonomy == "207Q00000X"
    assert built.subscriber.birth_date == date(1961, 4, 1)


def test_mapped_claim_writes_a_valid_837p() -> None:
    claims = [claim_input_from_fhir(claim(seed), context(seed)) for seed in range(2)]
    out = io.StringIO()
    write_837p(claims, out, envelope=envelope())
    assert_valid_837p(out.getvalue())


def test_dependent_patient_and_replacement() -> None:
    mother = {
        "resourceType": "RelatedPerson",
        "id": "mom",
        "patient": {"reference": "Patient/pat1"},
        "name": [{"family": "OKAFOR", "given": ["ADA"]}],
        "gender": "female",
        "birthDate": "1980-02-02",
        "address": [{"line": ["9 LAKE RD"], "city": "COLUMBUS", "state": "OH", "postalCode": "43215"}],
    }
    cov = coverage(
        1,
        subscriber={"reference": "RelatedPerson/mom"},
        relationship={
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship", "code": "child"}]
        },
    )
    related = [
        {
            "relationship": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "code": "prior"}
                ]
            },
            "reference": {"value": "ICN-5550001"},
        }
    ]
    built = claim_input_from_fhir(claim(1, related=related), context(1, extra=(mother,), cov=cov))
    assert built.patient is not None and built.patient.relationship == "19"
    assert built.subscriber.name.last == "OKAFOR" and built.frequency == "7"
    assert built.payer_claim_control_number == "ICN-5550001"
    out = io.StringIO()
    write_837p([built], out, envelope=envelope())
    text = out.getvalue()
    assert_valid_837p(text)
    segs = [s.elements for s in SegmentReader(text)]
    assert ["PAT", "19"] in segs and ["REF", "F8", "ICN-5550001"] in segs


def test_void_when_cancelled() -> None:
    related = [
        {
            "relationship": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship", "code": "prior"}
                ]
            },
            "reference": {"value": "ICN-1"},
        }
    ]
    assert claim_input_from_fhir(claim(2, related=related, status="cancelled"), context(2)).frequency == "8"


def test_configured_filing_indicator_wins_and_missing_one_is_reported() -> None:
    no_type = coverage(3, type={"text": "commercial"})
    assert claim_input_from_fhir(claim(3), context(3, cov=no_type), filing_indicator="CI").filing_indicator == "CI"
    with pytest.raises(X12BuildError, match="claim filing indicator"):
        claim_input_from_fhir(claim(3), context(3, cov=no_type))


def test_every_missing_part_is_reported_at_once() -> None:
    broken = claim(4, provider={"reference": "Organization/nowhere"}, diagnosis=[], total={"value": "x"})
    broken["item"][0].pop("servicedDate")
    with pytest.raises(X12BuildError) as info:
        claim_input_from_fhir(broken, context(4))
    reasons = " | ".join(info.value.reasons)
    assert "Claim.provider" in reasons and "Claim.diagnosis is empty" in reasons and "Claim.total" in reasons


def test_long_claim_id_needs_a_patient_control_number() -> None:
    long_id = claim(5, id="c" * 40)
    with pytest.raises(X12BuildError, match="patient-control-number"):
        claim_input_from_fhir(long_id, context(5))
    ok = claim(5, id="c" * 40, identifier=[{"system": "urn:claimbridge:patient-control-number", "value": "PCN5"}])
    assert claim_input_from_fhir(ok, context(5)).claim_id == "PCN5"
