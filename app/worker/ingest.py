"""Inbound X12 (999, 277CA, 835) → claim statuses, ClaimResponses, payments and work queues.

:meth:`Ingester.ingest` stores one file and everything it means in ONE transaction:

- the file itself (``inbound_file``) keyed by the SHA-256 of its bytes: the same file again changes
  nothing and returns the first outcome (``duplicate``);
- what the lenient readers could not understand, as the file's ``parse_issues`` (never an error);
- 999: per acknowledged transaction (AK102 = our ISA13/GS06, AK202 = our ST02) an ``ack_999`` row;
  each claim of a rejected transaction moves to ``rejected``; every claim gets a ClaimResponse;
- 277CA: per claim (TRN02 = our CLM01) an ``ack_277ca`` row, ``accepted`` or ``rejected``, and a
  ClaimResponse carrying the STC status and entity codes;
- 271 (answers to the day-before batch 270s of a folder clearinghouse): each transaction's result
  stored on the check its ``TRN02`` names, with its write-back (:mod:`app.eligibility.batch`);
- 835: per transaction a ``remittance`` (+ PaymentReconciliation), per claim a ``claim_payment``
  (unmatched ones kept with no claim, never dropped), a ``payment_posting``, a ClaimResponse with
  line adjudication, denial-queue entries and underpayment alerts.

ClaimResponses go back to the EHR through the outbox (kind ``claim-response``) to ``ehr:<name>``
when the claim came from an EHR subscription and write-back is per EHR, else to ``writeback``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, Engine

from app.billing import answers
from app.billing.summary import summarize_x12
from app.db import claims_repo, inbound_repo, outbox_repo
from app.db.inbound_repo import ClaimLink
from app.logging import get_logger
from app.worker.remit import RemittancePoster, references
from app.x12 import (
    Ack277,
    Ack999,
    Remittance835,
    X12Document,
    claim_response_from_277ca,
    claim_response_from_999,
    read_x12,
)
from app.x12.dispatch import UnsupportedTransaction
from app.x12.read_999 import TransactionAck

log = get_logger("claimbridge.ingest")


@dataclass
class IngestResult:
    file_id: int
    kind: str
    duplicate: bool = False
    matched: int = 0
    unmatched: list[dict[str, str]] = field(default_factory=list)
    parse_issues: int = 0

    def outcome(self) -> dict[str, Any]:
        return {"matched": self.matched, "unmatched": self.unmatched, "parse_issues": self.parse_issues}


def decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def kind_of(document: X12Document) -> str:
    if isinstance(document, Ack999):
        return "999"
    if isinstance(document, Ack277):
        return "277CA"
    return "835" if isinstance(document, Remittance835) else "unsupported"


@dataclass
class Ingester:
    engine: Engine
    poster: RemittancePoster
    writeback_for: Callable[[str | None], str]
    clock: Callable[[], datetime]
    #: 271 answers to batch 270s (:func:`app.eligibility.batch.apply_271`): (conn, text, now) ->
    #: (matched, unmatched); None: a 271 is stored as ``unsupported``.
    eligibility: Callable[[Connection, str, datetime], tuple[int, list[dict[str, str]]]] | None = None

    def ingest(self, raw: bytes, *, name: str, source: str) -> IngestResult:
        """Store one inbound file and apply it; the same bytes twice change nothing."""
        sha = hashlib.sha256(raw).hexdigest()
        with self.engine.begin() as conn:
            existing = inbound_repo.inbound_by_hash(conn, sha)
            if existing is not None:
                return self._duplicate(conn, existing)
            result = self._ingest(conn, decode(raw), sha=sha, name=name, source=source)
        log.info(
            "x12.ingested",
            file=result.file_id,
            kind=result.kind,
            matched=result.matched,
            unmatched=len(result.unmatched),
            issues=result.parse_issues,
            duplicate=result.duplicate,
        )
        return result

    def _duplicate(self, conn: Connection, file_id: int) -> IngestResult:
        stored = inbound_repo.inbound_outcome(conn, file_id) or {}
        return IngestResult(
            file_id,
            str(stored.get("kind", "")),
            duplicate=True,
            matched=int(stored.get("matched", 0)),
            unmatched=list(stored.get("unmatched", [])),
            parse_issues=int(stored.get("parse_issues", 0)),
        )

    def _ingest(self, conn: Connection, text: str, *, sha: str, name: str, source: str) -> IngestResult:
        now = self.clock()
        document = read_x12(text)
        kind = kind_of(document)
        if isinstance(document, UnsupportedTransaction) and document.set_id == "271" and self.eligibility:
            kind, document.problems = "271", document.problems[:-1]  # read here after all
        issues = summarize_x12(document)["problems"]
        file_id = inbound_repo.insert_inbound(
            conn, sha256=sha, name=name, source=source, kind=kind, content=text, parse_issues=issues, now=now
        )
        if file_id is None:  # stored meanwhile by another worker
            return self._duplicate(conn, inbound_repo.inbound_by_hash(conn, sha) or 0)
        result = IngestResult(file_id, kind, parse_issues=len(issues))
        context = _Context(conn, file_id, sha, now, result)
        if isinstance(document, Ack999):
            self._apply_999(context, document)
        elif isinstance(document, Ack277):
            self._apply_277(context, document)
        elif isinstance(document, Remittance835):
            self.poster.post(
                conn,
                document,
                file_id=file_id,
                respond=partial(self.respond, context),
                unmatched=result.unmatched,
                now=now,
            )
        elif kind == "271" and self.eligibility is not None:
            matched, unmatched = self.eligibility(conn, text, now)
            result.matched += matched
            result.unmatched += unmatched
        inbound_repo.set_inbound_outcome(conn, file_id, result.outcome())
        return result

    def _apply_999(self, ctx: _Context, ack: Ack999) -> None:
        for group in ack.groups:
            batch_id = inbound_repo.batch_by_control(ctx.conn, group.group_control_number)
            for t in group.transactions:
                self._apply_999_transaction(ctx, group.group_control_number, batch_id, t)

    def _apply_999_transaction(self, ctx: _Context, group: str, batch_id: int | None, t: TransactionAck) -> None:
        """AK102 named our batch (its ISA13/GS06), AK202 one of its ST02s: every claim in it gets the verdict."""
        inbound_repo.record_ack_999(
            ctx.conn,
            file_id=ctx.file_id,
            batch_id=batch_id,
            group_control_number=group[:9],
            transaction_control_number=t.control_number[:9],
            status=t.status[:2] if t.status else None,
            accepted=t.accepted,
            errors=answers.errors_999(t),
            created_at=ctx.now,
        )
        claim_ids = inbound_repo.claims_in_transaction(ctx.conn, batch_id, t.control_number) if batch_id else []
        if not claim_ids:
            ctx.result.unmatched.append({"kind": "999", "group": group, "transaction": t.control_number})
        verdict = "accepted" if t.accepted else "rejected"
        for link in inbound_repo.links_by_id(ctx.conn, claim_ids).values():
            inbound_repo.set_submission_ack(ctx.conn, link.claim_id, kind="999", value=verdict, now=ctx.now)
            claims_repo.apply_transition(ctx.conn, link.claim_id, answers.event_999(t.accepted), now=ctx.now)
            response = claim_response_from_999(t, created=ctx.created, **references(link))
            self.respond(ctx, link, response, "999")

    def _apply_277(self, ctx: _Context, ack: Ack277) -> None:
        links = inbound_repo.links_by_pcn(ctx.conn, (c.patient_control_number for c in ack.claims))
        for status in ack.claims:
            link = links.get(status.patient_control_number)
            inbound_repo.record_ack_277(
                ctx.conn,
                file_id=ctx.file_id,
                claim_id=link.claim_id if link else None,
                patient_control_number=status.patient_control_number[:40],
                payer_claim_control_number=status.payer_claim_control_number[:50],
                disposition=status.disposition,
                statuses=answers.statuses_json([*status.statuses, *(s for ln in status.lines for s in ln.statuses)]),
                created_at=ctx.now,
            )
            if link is None:
                ctx.result.unmatched.append({"kind": "277CA", "patient_control_number": status.patient_control_number})
                continue
            inbound_repo.set_submission_ack(
                ctx.conn, link.claim_id, kind="277CA", value=status.disposition, now=ctx.now
            )
            claims_repo.apply_transition(ctx.conn, link.claim_id, answers.event_277ca(status.disposition), now=ctx.now)
            response = claim_response_from_277ca(status, created=ctx.created, **references(link))
            self.respond(ctx, link, response, "277CA")

    def respond(self, ctx: _Context, link: ClaimLink, response: dict[str, Any], source: str) -> None:
        """Store a ClaimResponse and queue its write-back to the claim's EHR (or the write-back folder)."""
        ctx.result.matched += 1
        ctx.responses += 1
        identifier = answers.response_identifier(link.claim_id, source, ctx.sha, ctx.responses)
        resource = answers.with_identifier(response, identifier)
        inbound_repo.record_claim_response(
            ctx.conn,
            claim_id=link.claim_id,
            file_id=ctx.file_id,
            source=source,
            outcome=resource["outcome"],
            resource=resource,
            created_at=ctx.now,
        )
        outbox_repo.enqueue(
            ctx.conn,
            destination=self.writeback_for(link.ehr),
            kind="claim-response",
            key=identifier["value"],
            payload=resource,
            now=ctx.now,
        )


@dataclass
class _Context:
    conn: Connection
    file_id: int
    sha: str
    now: datetime
    result: IngestResult
    responses: int = 0

    @property
    def created(self) -> str:
        return self.now.isoformat()
