"""835 posting inside the ingest transaction: remittances, claim payments, postings, work queues.

For each 835 transaction: a ``remittance`` row (BPR/TRN, and the PaymentReconciliation built once its
claims are known); for each CLP a ``claim_payment`` row, matched to our claim by CLM01 or stored
unmatched (``claim_id`` NULL, listed by the API) — never dropped. A matched claim payment also gets
a ``payment_posting`` (reversals are not posted), the claim's new status (``paid`` / ``denied``), a
ClaimResponse with line adjudication (through ``respond``), its denial-queue entries (category, payer,
related findings, documentation, and whether the denial passed scrubbing) and underpayment alerts
(expected allowed from the payer profile vs the 835; CO-253 sequestration never alerts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from app.billing import answers
from app.billing.denials import RemittedClaim, build_denial_queue
from app.billing.underpayment import check_underpayment
from app.config.clearinghouse import ClearinghouseConfig
from app.db import billing_repo, claims_repo
from app.db.billing_repo import ClaimLink
from app.domain.findings import Finding
from app.domain.payers import PayerDirectory
from app.logging import get_logger
from app.rules import RuleSpec
from app.worker.secondary_claims import queue_secondary
from app.x12 import ClaimPayment, Remittance835, claim_response_from_835_claim, payment_reconciliation_from_835
from app.x12.remit_835 import RemittanceHeader, RemittanceTransaction

log = get_logger("claimbridge.remit")

Respond = Callable[[ClaimLink, dict[str, Any], str], None]


def references(link: ClaimLink) -> dict[str, Any]:
    return {
        "patient": answers.patient_reference(link.patient),
        "insurer": answers.insurer_reference(link.resource, link.payer_id),
        "request": answers.claim_reference(link.claim_id),
    }


@dataclass
class _Posting:
    conn: Connection
    header: RemittanceHeader
    respond: Respond
    now: datetime

    @property
    def paid_on(self) -> date:
        return answers.adjudicated_on(self.header.payment_date or self.header.production_date, self.now)


def remittance_balance(h: RemittanceHeader, t: RemittanceTransaction) -> dict[str, Any]:
    """Whether the payment (BPR02) equals the claims paid (Σ CLP04) less the PLB adjustments (Σ PLB amounts)."""
    paid = sum((c.paid for c in t.claims if c.paid is not None), Decimal(0))
    adjustments = t.trailer.provider_adjustments if t.trailer else []
    plb = sum((a.amount for a in adjustments if a.amount is not None), Decimal(0))
    balanced = None if h.payment_amount is None else h.payment_amount == paid - plb
    return {
        "claims_paid_cents": answers.cents(paid),
        "provider_adjustment_cents": answers.cents(plb),
        "provider_adjustments": [
            {
                "provider": a.provider_id,
                "fiscal_period_date": a.fiscal_period_date,
                "reason": a.reason,
                "reference": a.reference,
                "amount": None if a.amount is None else str(a.amount),
            }
            for a in adjustments
        ],
        "balanced": balanced,
    }


@dataclass
class RemittancePoster:
    payers: PayerDirectory
    clearing: ClearinghouseConfig
    rules: Sequence[RuleSpec] | None = None  # None: every registered rule

    def post(
        self,
        conn: Connection,
        remit: Remittance835,
        *,
        file_id: int,
        respond: Respond,
        unmatched: list[dict[str, str]],
        now: datetime,
    ) -> None:
        for transaction in remit.transactions:
            self._transaction(_Posting(conn, transaction.header, respond, now), transaction, file_id, unmatched)

    def _transaction(
        self, p: _Posting, t: RemittanceTransaction, file_id: int, unmatched: list[dict[str, str]]
    ) -> None:
        h = p.header
        remittance_id = billing_repo.record_remittance(
            p.conn,
            file_id=file_id,
            transaction_control_number=h.transaction_control_number[:9],
            payer_id=h.payer_id[:80],
            payer_name=h.payer_name[:100],
            payment_cents=answers.cents(h.payment_amount),
            payment_method=h.payment_method[:3],
            payment_date=h.payment_date or h.production_date,
            trace_number=h.trace_number[:50],
            reconciliation={},
            created_at=p.now,
        )
        links = billing_repo.links_by_pcn(p.conn, (c.patient_control_number for c in t.claims))
        requests: dict[str, dict[str, Any]] = {}
        for claim in t.claims:
            link = links.get(claim.patient_control_number)
            payer = (link.payer_id if link else None) or h.payer_id
            values = answers.claim_payment_values(
                claim, claim_id=link.claim_id if link else None, payer_id=payer, adjudicated=p.paid_on
            )
            payment_id = billing_repo.record_claim_payment(
                p.conn, remittance_id=remittance_id, created_at=p.now, **values
            )
            if link is None:
                unmatched.append(
                    {
                        "kind": "835",
                        "patient_control_number": claim.patient_control_number,
                        "paid": str(claim.paid) if claim.paid is not None else "",
                    }
                )
                continue
            requests[claim.patient_control_number] = answers.claim_reference(link.claim_id)
            self._claim(p, claim, link, payer, payment_id)
        resource = payment_reconciliation_from_835(
            h, t.claims, created=p.now.isoformat(), trailer=t.trailer, claim_references=requests
        )
        balance = remittance_balance(h, t)
        billing_repo.set_reconciliation(p.conn, remittance_id, resource, **balance)
        if balance["balanced"] is False:
            log.warning(
                "remittance.unbalanced",
                remittance=remittance_id,
                transaction=h.transaction_control_number,
                payment_cents=answers.cents(h.payment_amount),
                claims_paid_cents=balance["claims_paid_cents"],
                provider_adjustment_cents=balance["provider_adjustment_cents"],
            )

    def _claim(self, p: _Posting, claim: ClaimPayment, link: ClaimLink, payer: str, payment_id: int) -> None:
        if claim.paid is not None and claim.status != answers.REVERSAL:
            billing_repo.record_posting(
                p.conn,
                claim_payment_id=payment_id,
                claim_id=link.claim_id,
                amount_cents=answers.cents(claim.paid),
                posted_on=p.paid_on,
                created_at=p.now,
            )
        claims_repo.apply_transition(p.conn, link.claim_id, answers.payment_event(claim), now=p.now)
        response = claim_response_from_835_claim(claim, created=p.now.isoformat(), header=p.header, **references(link))
        p.respond(link, response, "835")
        self._queues(p, claim, link, payer, payment_id)
        queue_secondary(p.conn, link, response, clp02=claim.status, now=p.now)

    def _queues(self, p: _Posting, claim: ClaimPayment, link: ClaimLink, payer: str, payment_id: int) -> None:
        views = claims_repo.current_findings(p.conn, [link.claim_id]).get(link.claim_id, [])
        finding_ids = {Finding.from_dict(v): int(v["id"]) for v in views}
        documentation = tuple(billing_repo.documentation_refs(p.conn, link.encounter, ehr=link.scope))
        remitted = RemittedClaim(claim, link.claim_id, payer, tuple(finding_ids), documentation)
        entries = build_denial_queue([remitted], rules=self.rules)
        billing_repo.record_denials(
            p.conn, answers.denial_rows(entries, claim_payment_id=payment_id, finding_ids=finding_ids, now=p.now)
        )
        report = check_underpayment(
            claim,
            payer_id=payer,
            allowed=self.payers.profile_for(payer).allowed,
            policy=self.clearing.policy_for(payer),
        )
        billing_repo.record_underpayments(
            p.conn, answers.underpayment_rows(report, claim_payment_id=payment_id, claim_id=link.claim_id, now=p.now)
        )
