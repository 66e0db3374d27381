"""X12 → FHIR R4 converters: outputs validate with the pinned models and carry the X12 content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.fhir.r4 import validate_resource
from app.x12 import (
    claim_response_from_277ca,
    claim_response_from_835_claim,
    claim_response_from_999,
    payment_reconciliation_from_835,
    read_277ca,
    read_835,
    read_999,
)
from app.x12 import systems as sy

FIXTURES = Path(__file__).parent.parent / "fixtures" / "x12"
REFS: dict[str, Any] = {
    "patient": {"reference": "Patient/p1"},
    "insurer": {"reference": "Organization/payer"},
    "created": "2026-11-20T10:00:00-05:00",
}


def read(name: str) -> str:
    return next(FIXTURES.rglob(name)).read_text()


def test_999_rejection_becomes_claim_response_errors() -> None:
    (txn,) = read_999(read("837P_X222A1_valid.997")).transactions
    response = claim_response_from_999(txn, request={"reference": "Claim/c1"}, **REFS)
    validate_resource(response)
    assert response["outcome"] == "error" and response["request"] == {"reference": "Claim/c1"}
    codes = [e["code"]["coding"][0]["code"] for e in response["error"]]
    assert codes[0] == "IK304-8" and "IK403-5" in codes


def test_999_acceptance_is_queued() -> None:
    (txn,) = read_999(read("999_accepted.txt")).transactions
    response = claim_response_from_999(txn, **REFS)
    validate_resource(response)
    assert response["outcome"] == "queued" and "error" not in response


def test_277ca_rejection_and_acceptance() -> None:
    (rejected,) = read_277ca(read("277CA_rejected.txt")).claims
    response = claim_response_from_277ca(rejected, **REFS)
    validate_resource(response)
    assert response["outcome"] == "error"
    assert response["error"][0]["code"]["coding"] == [
        {"system": sy.CLAIM_STATUS, "code": "562"},
        {"system": sy.CLAIM_STATUS_CATEGORY, "code": "A7"},  # the category is coded, not only in the text
    ]
    assert response["error"][0]["code"]["text"] == "STC A7:562:85"
    (accepted,) = read_277ca(read("277CA_accepted.txt")).claims
    ok = claim_response_from_277ca(accepted, **REFS)
    validate_resource(ok)
    assert ok["outcome"] == "queued" and ok["identifier"][0]["value"] == "1107000000014420"


def test_835_claim_adjudication_by_line() -> None:
    remit = read_835(read("835_emedny_sample.txt"))
    header = remit.transactions[0].header
    response = claim_response_from_835_claim(remit.claims[2], header=header, **REFS)
    validate_resource(response)
    line3 = response["item"][2]
    categories = [a["category"]["coding"][0] for a in line3["adjudication"]]
    assert categories == [
        {"system": sy.ADJUDICATION, "code": "submitted"},
        {"system": sy.ADJUDICATION, "code": "benefit"},
        {"system": sy.CARIN_DISCRIMINATOR, "code": "adjustmentreason"},
    ]
    adjustment = line3["adjudication"][2]
    assert adjustment["category"]["coding"][1] == {"system": sy.CLAIM_ADJUSTMENT_GROUP, "code": "CO"}
    assert adjustment["reason"]["coding"][0] == {"system": sy.CARC, "code": "251"}
    assert adjustment["reason"]["text"] == "CO-251" and adjustment["amount"]["value"] == 2.75
    assert response["processNote"][line3["noteNumber"][0] - 1]["text"] == "RARC N206"
    eligible = response["item"][0]["adjudication"][1]
    assert eligible["category"]["coding"][0]["code"] == "eligible" and eligible["amount"]["value"] == 6.0
    assert response["payment"]["amount"]["value"] == 11.5 and response["payment"]["date"] == "2010-01-01"


def test_every_835_sample_converts_to_valid_resources() -> None:
    for path in FIXTURES.rglob("835*"):
        remit = read_835(path.read_text())
        for txn in remit.transactions:
            for claim in txn.claims:
                validate_resource(claim_response_from_835_claim(claim, header=txn.header, **REFS))
            recon = payment_reconciliation_from_835(
                txn.header,
                txn.claims,
                trailer=txn.trailer,
                created=REFS["created"],
                claim_references={c.patient_control_number: {"reference": "Claim/x"} for c in txn.claims},
            )
            validate_resource(recon)
            assert len(recon.get("detail", [])) == len(txn.claims)


def test_payment_reconciliation_content() -> None:
    remit = read_835(read("835_united_healthcare_legacy_sample.txt"))
    txn = remit.transactions[0]
    recon = payment_reconciliation_from_835(
        txn.header,
        txn.claims,
        created=REFS["created"],
        payment_issuer={"reference": "Organization/payer"},
        response_references={"001-18573-358": {"reference": "ClaimResponse/r1"}},
    )
    validate_resource(recon)
    assert recon["paymentAmount"]["value"] == 349.99 and recon["paymentDate"] == "2021-02-04"
    assert recon["paymentIdentifier"]["value"] == "1234567890"
    assert recon["detail"][0]["response"] == {"reference": "ClaimResponse/r1"}
    assert recon["detail"][1]["amount"]["value"] == 261.07


def test_claim_level_adjustments_and_patient_responsibility() -> None:
    claim = read_835(read("835_managed-care.835")).claims[0]
    response = claim_response_from_835_claim(claim, **REFS)
    validate_resource(response)
    assert response["adjudication"][0]["reason"]["text"] == "CO-A2"
    totals = {(c := t["category"]["coding"][0])["system"] + "#" + c["code"]: t["amount"]["value"]
              for t in response["total"]}  # fmt: skip
    assert totals == {f"{sy.ADJUDICATION}#submitted": 800.0, f"{sy.ADJUDICATION}#benefit": 450.0,
                      f"{sy.CARIN_ADJUDICATION}#memberliability": 300.0}  # fmt: skip


def test_no_claimbridge_private_systems_in_emitted_adjudication() -> None:
    for path in FIXTURES.rglob("835*"):
        for claim in read_835(path.read_text()).claims:
            response = claim_response_from_835_claim(claim, **REFS)
            entries = [*response.get("adjudication", ()), *response.get("total", ())]
            entries += [a for item in response.get("item", ()) for a in item["adjudication"]]
            systems = {c["system"] for e in entries for c in e["category"]["coding"]}
            assert not any(s.startswith("urn:claimbridge:") for s in systems), path.name
