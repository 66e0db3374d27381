"""Batch submission: the ready claims → ONE streamed 837P, recorded and queued in one transaction.

:meth:`Submitter.submit` (run by the worker every ``clearinghouse.submit_interval_seconds`` and by
``claimbridge x12 submit``), inside one transaction:

1. takes the ``ready`` claims (no open ``error`` finding) that have been ready at least
   ``clearinghouse.hold_seconds``, earliest timely-filing deadline first (locked with
   ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two submitters never batch the same claim); a claim
   whose payer verifies eligibility in real time waits while a verification of its visit has no
   result applied yet (it stays ``ready`` for a later batch); after the payer's
   ``eligibility.claim_wait_seconds`` the eligibility duty gives it an ``unverified`` warning instead,
   and after twice that long the submitter stops waiting whatever happened;
2. gives each its patient control number (CLM01, ≤ 20 characters, unique) and builds its 837P input
   from the mirror's encounter context; a claim the X12 layer refuses is put back to ``held`` with
   an ``x12.refused`` finding saying why;
3. streams the others into one 837P whose ISA13 comes from the database sequence;
4. records ``submission_batch`` + one ``claim_submission`` per claim (with its ST02), marks the
   claims ``submitted``, and queues the file for the clearinghouse destination (outbox ``837p``).

A failure anywhere rolls all of it back (the sequence number too): nothing is half-submitted.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from app.billing.batch import (
    Candidate,
    Prepared,
    Refused,
    pcn_candidates,
    prepare_claim,
    refusal_finding,
    with_replacement,
)
from app.config.clearinghouse import ClearinghouseConfig
from app.db import billing_repo, claims_repo, eligibility_repo, mirror_repo, outbox_repo
from app.db.billing_repo import ReadyRow, SubmittedItem
from app.db.outbox_repo import Delivery
from app.domain.claim_status import ClaimEvent
from app.domain.payers import PayerDirectory
from app.logging import get_logger
from app.settings import ClearinghouseSettings
from app.x12 import WriteSummary, write_837p

log = get_logger("claimbridge.submit")
FILE_KIND = "837p"


@dataclass(frozen=True)
class SubmitResult:
    batch_id: int | None
    interchange_control_number: int | None
    file_name: str | None
    outbox_id: int | None
    submitted: tuple[tuple[str, str], ...]  # (claim id, CLM01) in file order
    held: tuple[tuple[str, tuple[str, ...]], ...]  # (claim id, reasons)
    delivery: Delivery | None = None  # the queued outbox row (``claimbridge x12 submit`` delivers it at once)
    waiting: tuple[str, ...] = ()  # claims left for a later batch: their visit's eligibility answer is due


@dataclass
class Submitter:
    engine: Engine
    clearing: ClearinghouseConfig
    payers: PayerDirectory
    settings: ClearinghouseSettings
    clock: Callable[[], datetime]
    destination: str = "clearinghouse"

    def submit(self) -> SubmitResult:
        """Submit every claim that is ready now (one file, or nothing when none is)."""
        now = self.clock()
        with self.engine.begin() as conn:
            result = self._submit(conn, now)
        if result.submitted or result.held or result.waiting:
            log.info(
                "x12.submitted",
                batch=result.batch_id,
                isa13=result.interchange_control_number,
                claims=len(result.submitted),
                held=len(result.held),
                waiting_for_eligibility=len(result.waiting),
            )
        return result

    def _submit(self, conn: Connection, now: datetime) -> SubmitResult:
        rows = billing_repo.ready_claims(
            conn,
            ready_before=now - timedelta(seconds=self.settings.hold_seconds),
            limit=self.settings.max_claims_per_file,
        )
        waiting = tuple(row.claim_id for row in rows if self._awaits_eligibility(conn, row, now))
        rows = [row for row in rows if row.claim_id not in waiting]
        prepared: list[Prepared] = []
        refused: list[Refused] = []
        for row in rows:
            outcome = prepare_claim(self._candidate(conn, row), payers=self.payers)
            if isinstance(outcome, Prepared):
                prepared.append(outcome)
            else:
                refused.append(outcome)
        stream = io.StringIO()
        envelope = self.clearing.envelope(created=now, control_numbers=lambda: billing_repo.next_control_number(conn))
        summary = write_837p((p.claim_input for p in prepared), stream, envelope=envelope, on_error="skip")
        by_pcn = {p.claim_input.claim_id: p for p in prepared}
        refused += [
            Refused(by_pcn[e.claim_id].claim_id, by_pcn[e.claim_id].version, e.reasons)
            for e in summary.refused
            if e.claim_id in by_pcn
        ]
        for item in refused:
            hold(conn, item, now=now)
        held = tuple((r.claim_id, r.reasons) for r in refused)
        if not summary.claim_count:
            return SubmitResult(None, None, None, None, (), held, waiting=waiting)
        return replace(self._record(conn, summary, stream.getvalue(), by_pcn, held=held, now=now), waiting=waiting)

    def _awaits_eligibility(self, conn: Connection, row: ReadyRow, now: datetime) -> bool:
        """True while the claim's visit has a real-time verification under way (bounded: 2 x the wait)."""
        endpoint = self.payers.profile_for(row.payer_id).eligibility if row.payer_id else None
        if row.payer_id is None or endpoint is None or endpoint.claim_wait_seconds <= 0:
            return False
        claim = row.resource
        insurance: dict[str, Any] = next(iter(claim.get("insurance") or ()), {}) or {}
        coverage = ((insurance.get("coverage") or {}).get("reference")) or None
        day = str((claim.get("billablePeriod") or {}).get("start") or "")[:10]
        try:
            service_date = date.fromisoformat(day) if day else None
        except ValueError:
            service_date = None
        return eligibility_repo.awaiting_answer(
            conn, ehr=row.ehr, payer_id=row.payer_id, encounter=row.encounter, coverage=coverage,
            service_date=service_date, now=now, since=now - timedelta(seconds=2 * endpoint.claim_wait_seconds),
        )  # fmt: skip

    def _candidate(self, conn: Connection, row: ReadyRow) -> Candidate:
        pcn = row.patient_control_number or self._free_pcn(conn, row)
        context = mirror_repo.load_context(conn, row.encounter, ehr=row.ehr)
        claim = with_replacement(row.resource, row.payer_icn) if row.payer_icn else row.resource
        return Candidate(row.claim_id, row.version, row.payer_id, claim, context, pcn)

    def _free_pcn(self, conn: Connection, row: ReadyRow) -> str:
        options = pcn_candidates(row.resource)
        for option in options:
            owner = billing_repo.pcn_owner(conn, option)
            if owner is None or owner == row.claim_id:
                return option
        return options[-1]  # both taken: the unique index refuses the batch, loudly

    def _record(
        self,
        conn: Connection,
        summary: WriteSummary,
        text: str,
        by_pcn: dict[str, Prepared],
        *,
        held: tuple[tuple[str, tuple[str, ...]], ...],
        now: datetime,
    ) -> SubmitResult:
        icn = int(summary.interchange_control_number)
        items = []
        for t in summary.transactions:
            for pcn in t.claim_ids:
                p = by_pcn[pcn]
                items.append(
                    SubmittedItem(
                        p.claim_id,
                        p.version,
                        pcn,
                        t.control_number,
                        p.charge_cents,
                        p.service_date,
                        p.encounter_closed_at,
                    )
                )
        file_name = f"claimbridge-{icn:09d}.837"
        sha = hashlib.sha256(text.encode()).hexdigest()
        transactions = [{"st02": t.control_number, "claims": list(t.claim_ids)} for t in summary.transactions]
        batch_id = billing_repo.record_batch(
            conn,
            interchange_control_number=icn,
            file_name=file_name,
            sha256=sha,
            destination=self.destination,
            line_count=summary.line_count,
            transactions=transactions,
            items=items,
            now=now,
        )
        payload = {
            "batch_id": batch_id,
            "file_name": file_name,
            "interchange_control_number": icn,
            "claims": len(items),
            "sha256": sha,
            "x12": text,
        }
        key = f"batch-{icn:09d}"
        outbox_id = outbox_repo.enqueue(
            conn, destination=self.destination, kind=FILE_KIND, key=key, payload=payload, now=now
        )
        submitted = tuple((i.claim_id, i.patient_control_number) for i in items)
        delivery = Delivery(outbox_id, self.destination, FILE_KIND, key, payload, 0)
        return SubmitResult(batch_id, icn, file_name, outbox_id, submitted, held, delivery)


def hold(conn: Connection, refused: Refused, *, now: datetime) -> None:
    """Put a refused claim (a replacement too) to ``held`` with the finding that says why: refused once."""
    claims_repo.add_findings(
        conn, claim_id=refused.claim_id, version=refused.version, findings=[refusal_finding(refused.reasons)]
    )
    claims_repo.apply_transition(conn, refused.claim_id, ClaimEvent.REFUSED, now=now)
