"""835 posting inside the ingest transaction: remittances, claim payments, postings, work queues.

For each 835 transaction: a ``remittance`` row (BPR/TRN, and the PaymentReconciliation built once its
claims are known); for each CLP a ``claim_payment`` row, matched to our claim by CLM01 or stored
unmatched (``claim_id`` NULL, listed by the API) — never dropped. Each claim payment is attributed
to the payer that sent the 835 (N1*PR identification), not the claim's primary payer, so a
secondary's remittance is the secondary's. A matched claim payment is planned by
:func:`app.billing.posting.plan_posting` (repeats counted once, reversals paired with their
original, a secondary's adjustment derived from what the primary left) and gets a
``payment_posting`` (a reversal posts the negative of its original), the claim's new status
(``paid`` / ``denied``), a ClaimResponse with line adjudication (through ``respond``), its
denial-queue entries (category, payer, related findings, documentation, and whether the denial
passed scrubbing) and, from the claim's first payer only, underpayment alerts (expected allowed from
the payer profile vs the 835; CO-253 sequestration never alerts; a secondary's payment reflects
the primary's and is not compared with a fee schedule). The claim built for the secondary after the
primary's 835 has its own CLM01: its 835 is stored against it, but planned and balanced on the
primary claim's ledger (:mod:`app.db.ledger_groups`), so it is a later payer's answer there.
Provider-level adjustments (PLB) whose reference names one of our claims (its CLM01 or the payer's
claim control number) are posted to that claim's ledger, except interest (L6), which is not a
collection of the claim's charge.
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
from app.billing.ledger import PROVIDER_ADJUSTMENT
from app.billing.posting import Incoming, PostingPlan, plan_posting
from app.billing.underpayment import check_underpayment
from app.config.clearinghouse import ClearinghouseConfig
from app.db import claims_repo, inbound_repo, ledger_repo, remittance_repo
from app.db.inbound_repo import ClaimLink
from app.db.ledger_groups import ledger_group
from app.domain.findings import Finding
from app.domain.payers import PayerDirectory
from app.logging import get_logger
from app.rules import RuleSpec
from app.worker.secondary_claims import queue_secondary
from app.x12 import ClaimPayment, Remittance835, claim_response_from_835_claim, payment_reconciliation_from_835
from app.x12.remit_835 import ProviderAdjustment, RemittanceHeader, RemittanceTransaction

log = get_logger("claimbridge.remit")

Respond = Callable[[ClaimLink, dict[str, Any], str], None]
INTEREST = frozenset({"L6"})  # PLB interest: money paid on top, not a collection of the claim's charge


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
        remittance_id = remittance_repo.record_remittance(
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
        links = inbound_repo.links_by_pcn(p.conn, (c.patient_control_number for c in t.claims))
        requests: dict[str, dict[str, Any]] = {}
        for claim in t.claims:
            link = links.get(claim.patient_control_number)
            payer = self._payer(h.payer_id) or (link.payer_id if link else None) or ""
            values = answers.claim_payment_values(
                claim, claim_id=link.claim_id if link else None, payer_id=payer, adjudicated=p.paid_on
            )
            plan = _plan(p.conn, link, values) if link is not None else None
            if plan is not None:
                values.update(
                    counted=plan.counted,
                    reverses_id=plan.reverses_id,
                    **(
                        {
                            "paid_cents": plan.paid_cents,
                            "contractual_cents": plan.contractual_cents,
                            "patient_responsibility_cents": plan.patient_responsibility_cents,
                        }
                        if plan.counted
                        else {}
                    ),
                )
            payment_id = remittance_repo.record_claim_payment(
                p.conn, remittance_id=remittance_id, created_at=p.now, **values
            )
            if link is None or plan is None:
                unmatched.append(
                    {
                        "kind": "835",
                        "patient_control_number": claim.patient_control_number,
                        "paid": str(claim.paid) if claim.paid is not None else "",
                    }
                )
                continue
            requests[claim.patient_control_number] = answers.claim_reference(link.claim_id)
            if plan.counted:
                self._claim(p, claim, link, payer, payment_id, plan)
        self._provider_adjustments(p, t, remittance_id, links)
        resource = payment_reconciliation_from_835(
            h, t.claims, created=p.now.isoformat(), trailer=t.trailer, claim_references=requests
        )
        balance = remittance_balance(h, t)
        remittance_repo.set_reconciliation(p.conn, remittance_id, resource, **balance)
        if balance["balanced"] is False:
            log.warning(
                "remittance.unbalanced",
                remittance=remittance_id,
                transaction=h.transaction_control_number,
                payment_cents=answers.cents(h.payment_amount),
                claims_paid_cents=balance["claims_paid_cents"],
                provider_adjustment_cents=balance["provider_adjustment_cents"],
            )

    def _payer(self, sent: str) -> str:
        """The 835's payer id (N1*PR), as its profile names it when it is a known alias."""
        profile = self.payers.profile_for(sent) if sent else None
        return profile.payer_id if profile is not None and not profile.is_default else sent

    def _claim(
        self, p: _Posting, claim: ClaimPayment, link: ClaimLink, payer: str, payment_id: int, plan: PostingPlan
    ) -> None:
        if claim.paid is not None:
            remittance_repo.record_posting(
                p.conn,
                claim_payment_id=payment_id,
                claim_id=link.claim_id,
                amount_cents=plan.paid_cents,
                posted_on=p.paid_on,
                created_at=p.now,
            )
        claims_repo.apply_transition(p.conn, link.claim_id, answers.payment_event(claim), now=p.now)
        response = claim_response_from_835_claim(claim, created=p.now.isoformat(), header=p.header, **references(link))
        p.respond(link, response, "835")
        self._queues(p, claim, link, payer, payment_id, check_fees=plan.primary)
        queue_secondary(p.conn, link, response, clp02=claim.status, now=p.now)

    def _provider_adjustments(
        self, p: _Posting, t: RemittanceTransaction, remittance_id: int, links: dict[str, ClaimLink]
    ) -> None:
        adjustments: list[ProviderAdjustment] = t.trailer.provider_adjustments if t.trailer else []
        for n, a in enumerate(adjustments):
            if a.amount is None or a.reason.strip().upper() in INTEREST or not a.reference.strip():
                continue
            ref = a.reference.strip()
            claim_id = links[ref].claim_id if ref in links else ledger_repo.claim_for_reference(p.conn, ref)
            if claim_id is None:
                continue
            ledger_repo.record_entry(
                p.conn,
                claim_id=claim_id,
                kind=PROVIDER_ADJUSTMENT,
                payer_id=p.header.payer_id[:80],
                amount_cents=-(answers.cents(a.amount) or 0),
                posted_on=p.paid_on,
                source="835",
                reference=f"remittance:{remittance_id}:plb:{n}",
                method="",
                reason=a.reason[:10],
                created_at=p.now,
            )

    def _queues(
        self, p: _Posting, claim: ClaimPayment, link: ClaimLink, payer: str, payment_id: int, *, check_fees: bool
    ) -> None:
        views = claims_repo.current_findings(p.conn, [link.claim_id]).get(link.claim_id, [])
        finding_ids = {Finding.from_dict(v): int(v["id"]) for v in views}
        documentation = tuple(remittance_repo.documentation_refs(p.conn, link.encounter, ehr=link.scope))
        remitted = RemittedClaim(claim, link.claim_id, payer, tuple(finding_ids), documentation)
        entries = build_denial_queue([remitted], rules=self.rules)
        remittance_repo.record_denials(
            p.conn, answers.denial_rows(entries, claim_payment_id=payment_id, finding_ids=finding_ids, now=p.now)
        )
        if not check_fees:
            return
        report = check_underpayment(
            claim,
            payer_id=payer,
            allowed=self.payers.profile_for(payer).allowed,
            policy=self.clearing.policy_for(payer),
        )
        remittance_repo.record_underpayments(
            p.conn, answers.underpayment_rows(report, claim_payment_id=payment_id, claim_id=link.claim_id, now=p.now)
        )


def _plan(conn: Connection, link: ClaimLink, values: dict[str, Any]) -> PostingPlan:
    incoming = Incoming(
        payer_id=values["payer_id"],
        status=values["status"],
        payer_claim_control_number=values["payer_claim_control_number"],
        charge_cents=values["charge_cents"],
        paid_cents=values["paid_cents"] or 0,
        contractual_cents=values["contractual_cents"],
        patient_responsibility_cents=values["patient_responsibility_cents"] or 0,
        denied=values["denied"],
    )
    group = ledger_group(conn, link.claim_id)  # a secondary claim's answer posts on its primary's ledger
    return plan_posting(incoming, ledger_repo.posted_for_claim(conn, link.claim_id), primary_payer=group.payer_id)
