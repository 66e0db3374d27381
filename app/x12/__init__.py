"""X12 5010 for claimbridge: a typed, streamed 837P writer and lenient 999 / 277CA / 835 readers.

Owns everything X12: the 005010X222A1 loop and segment models, the FHIR Claim → 837P input, the
inbound readers and their FHIR R4 converters, and the CARC → finding-category table. Pure: no I/O
beyond the text streams callers hand in.

Outbound (837P)::

    claim_input_from_fhir(claim: dict, ctx: EncounterContext, *, filing_indicator: str | None = None) -> ClaimInput
    build_claim_loops(claim: ClaimInput, *, cache: LoopCache | None = None) -> ClaimLoops   # checks only
    write_837p(claims: Iterable[ClaimInput], out: TextIO, *, envelope: Envelope,
               on_error: "raise" | "skip" = "raise") -> WriteSummary
    Envelope(sender_id, receiver_id, submitter: Submitter, receiver_name, created: datetime,
             control_numbers: Callable[[], int], usage="P", ...);  SequentialControlNumbers(start=1)

    Refusals raise X12BuildError(claim_id, reasons) before any segment of that claim is written.
    WriteSummary.transactions maps each ST02 to its claim ids (what a 999 AK2 refers to).

Inbound (never raise on content; problems are recorded, nothing is dropped)::

    read_x12(text) -> Ack999 | Ack277 | Remittance835 | UnsupportedTransaction
    read_999(source) -> Ack999            # .groups[].transactions[]: status, accepted, segment_errors (IK3/IK4)
    read_277ca(source) -> Ack277          # .claims[]: patient_control_number, payer_claim_control_number,
                                          #            statuses (category/code/entity), disposition
    iter_835(source) -> RemittanceReader  # streams RemittanceHeader, ClaimPayment..., RemittanceTrailer
    read_835(source) -> Remittance835     # the same, collected

FHIR R4 (dicts valid with ``app.fhir.r4.validate_resource``)::

    claim_response_from_999(ack, *, patient, insurer, created, request=None) -> dict
    claim_response_from_277ca(status, *, patient, insurer, created, request=None) -> dict
    claim_response_from_835_claim(claim, *, patient, insurer, created, request=None, header=None) -> dict
    payment_reconciliation_from_835(header, claims, *, created, trailer=None, payment_issuer=None,
                                    claim_references=None, response_references=None) -> dict

Denial categories::

    category_for_carc(group: str, code: str) -> Category | None   (app.x12.carc)

Errors: see :mod:`app.x12.errors` (``X12Error`` → ``GuideViolation``, ``X12BuildError``).
"""

from __future__ import annotations

from app.x12.build_837p import LoopCache, build_claim_loops
from app.x12.carc import category_for_carc
from app.x12.dispatch import UnsupportedTransaction, X12Document, read_x12
from app.x12.envelope import Envelope, SequentialControlNumbers, Submitter
from app.x12.errors import GuideViolation, X12BuildError, X12Error
from app.x12.from_fhir import claim_input_from_fhir
from app.x12.inputs import (
    Address,
    BillingProvider,
    ClaimInput,
    DrugInput,
    Patient,
    Payer,
    PersonName,
    RenderingProvider,
    ServiceLineInput,
    Subscriber,
)
from app.x12.loops_837p import ClaimLoops
from app.x12.read_277ca import Ack277, ClaimStatus, StatusInfo, read_277ca
from app.x12.read_835 import RemittanceReader, iter_835, read_835
from app.x12.read_999 import Ack999, TransactionAck, read_999
from app.x12.remit_835 import (
    Adjustment,
    ClaimPayment,
    Remittance835,
    RemittanceHeader,
    RemittanceTrailer,
    ServicePayment,
)
from app.x12.to_fhir import (
    claim_response_from_277ca,
    claim_response_from_835_claim,
    claim_response_from_999,
    payment_reconciliation_from_835,
)
from app.x12.tokenizer import Problem
from app.x12.writer_837p import TransactionSummary, WriteSummary, write_837p

__all__ = [
    "Ack277", "Ack999", "Address", "Adjustment", "BillingProvider", "ClaimInput", "ClaimLoops",
    "ClaimPayment", "ClaimStatus", "DrugInput", "Envelope", "GuideViolation", "LoopCache", "Patient",
    "Payer", "PersonName", "Problem", "Remittance835", "RemittanceHeader", "RemittanceReader",
    "RemittanceTrailer", "RenderingProvider", "SequentialControlNumbers", "ServiceLineInput",
    "ServicePayment", "StatusInfo", "Submitter", "Subscriber", "TransactionAck", "TransactionSummary",
    "UnsupportedTransaction", "WriteSummary", "X12BuildError", "X12Document", "X12Error",
    "build_claim_loops", "category_for_carc", "claim_input_from_fhir", "claim_response_from_277ca",
    "claim_response_from_835_claim", "claim_response_from_999", "iter_835", "payment_reconciliation_from_835",
    "read_277ca", "read_835", "read_999", "read_x12", "write_837p",
]  # fmt: skip
