"""Day-before checks as one batch 270 per payer through the folder clearinghouse; its 271s read back.

Where the clearinghouse transport is ``folder`` (``adapters.clearinghouse: folder``: an SFTP-like drop
directory), the scheduler's ``day-before`` checks of the payers asked over X12 through the
clearinghouse (``eligibility: {adapter: x12}`` without an ``x12_url``) need no answer while someone
waits, so they travel like the 837P batches:

- **out**: the duty's claiming transaction groups the due ones by payer and, for each payer, takes
  the next interchange control number from the database counter, writes ONE 270 interchange with one
  ST..SE per check (:func:`app.eligibility.x12_270.build_batch_270`; ``TRN02`` = the check's trace
  ``CB-ELIG-<id>``), queues it to the outbox (kind ``270``, delivered as
  ``<clearinghouse.outbox_dir>/270-<payer>-<ISA13>.x12``) and marks the checks ``batched``. Nothing
  calls anyone inside the transaction; the file is written by the outbox like every delivery.
- **in**: the clearinghouse drops the 271 file(s) into ``clearinghouse.inbox_dir``; the worker's
  poller ingests them like a 999 or an 835 (:class:`app.worker.ingest.Ingester`, one transaction per
  file, the same file twice changes nothing) and :func:`apply_271` maps each 271 transaction by its
  echoed ``TRN02`` to its check, read by the same reader as a real-time answer
  (:func:`app.eligibility.x12.read_271_segments`): the same stored result, the same write-back, the
  claims re-evaluated by the duty.

Every other trigger (booking, check-in, a changed Coverage, ``claimbridge eligibility check``) stays
real time over the clearinghouse API's eligibility path. A batched check whose 271 never comes gets
the interim ``unverified`` result after the payer's ``claim_wait_seconds``, and the visit's check-in
verification asks again in real time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from app.config.clearinghouse import ClearinghouseConfig
from app.db import billing_repo, eligibility_repo, outbox_repo
from app.db.eligibility_repo import DueCheck
from app.domain.eligibility import EligibilityEndpoint, EligibilityRequest
from app.eligibility.clearinghouse import Identities, identities_of
from app.eligibility.errors import InvalidPayerResponse
from app.eligibility.x12 import read_271_segments
from app.eligibility.x12_270 import build_batch_270
from app.settings import Settings
from app.x12.tokenizer import Segment, SegmentReader

KIND = "270"
BATCH_TRIGGERS = frozenset({"day-before"})
TRACE = re.compile(r"^CB-ELIG-(\d{1,18})$")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class BatchChannel:
    """Where batch 270s go (the clearinghouse destination of the outbox) and as whom."""

    identities: Identities
    destination: str = "clearinghouse"

    def takes(self, trigger: str, endpoint: EligibilityEndpoint) -> bool:
        """A check that goes in a batch: scheduled, for a payer asked through the clearinghouse."""
        return trigger in BATCH_TRIGGERS and endpoint.adapter == "x12" and not endpoint.x12_url


def batch_channel(settings: Settings, clearing: ClearinghouseConfig, destination: str) -> BatchChannel | None:
    """The batch channel when the clearinghouse is a folder, else None (everything goes real time)."""
    if settings.adapters.clearinghouse != "folder":
        return None
    return BatchChannel(identities=identities_of(clearing), destination=destination)


def file_name(payer_id: str, control: int) -> str:
    return f"270-{_SAFE.sub('', payer_id)[:40] or 'payer'}-{control:09d}.x12"


def queue_batch(
    conn: Connection,
    checks: Sequence[tuple[DueCheck, EligibilityRequest, EligibilityEndpoint]],
    *,
    channel: BatchChannel,
    now: datetime,
) -> int:
    """One payer's due checks as one batch 270 in the outbox (in the caller's transaction); returns its ISA13."""
    _, first, endpoint = checks[0]
    control = billing_repo.next_control_number(conn)
    text = build_batch_270([request for _, request, _ in checks], receiver_id=endpoint.x12_receiver_id or
                           first.payer_id, control=control, now=now, identities=channel.identities)  # fmt: skip
    name = file_name(first.payer_id, control)
    outbox_repo.enqueue(conn, destination=channel.destination, kind=KIND, key=name,
                        payload={"file_name": name, "x12": text}, now=now)  # fmt: skip
    eligibility_repo.mark_batched(conn, [check.id for check, _, _ in checks], control=control, now=now)
    return control


def transactions_271(text: str) -> Iterator[tuple[str, list[Segment], str]]:
    """(echoed trace, segments ST..SE, repetition separator) of each 271 transaction of a file.

    The trace is the subscriber's ``TRN*2`` (our TRN02 echoed), else ``BHT03`` (our BHT03 echoed: a
    271 rejected above the subscriber level, an ``AAA`` in 2100A/B, carries no subscriber loop)."""
    reader = SegmentReader(text)
    repetition = reader.delimiters.repetition
    current: list[Segment] | None = None
    trace = bht = ""
    for seg in reader:
        if seg.tag == "ST":
            current, trace, bht = [seg], "", ""
            continue
        if current is None:
            continue
        current.append(seg)
        if seg.tag == "TRN" and seg[1] == "2" and not trace:
            trace = seg[2]
        elif seg.tag == "BHT":
            bht = seg[3]
        elif seg.tag == "SE":
            yield trace or bht, current, repetition
            current = None


def apply_271(
    conn: Connection, text: str, *, now: datetime, destination_for: Callable[[str], str]
) -> tuple[int, list[dict[str, str]]]:
    """Store each 271 transaction of an inbound file as its batched check's result (and its
    write-back), in the caller's transaction; returns (matched, unmatched)."""
    from app.eligibility.duty import queue_writeback  # the duty imports this module

    matched, unmatched = 0, []
    for trace, segments, repetition in transactions_271(text):
        found = TRACE.match(trace.strip().upper())
        check = eligibility_repo.batched(conn, int(found.group(1))) if found else None
        if check is None:
            unmatched.append({"kind": "271", "trace": trace[:50]})
            continue
        request = EligibilityRequest(coverage=check.coverage, patient=check.patient, payer_id=check.payer_id,
                                     payer_name="", service_date=check.service_date, trace=trace)  # fmt: skip
        try:
            result = read_271_segments(segments, repetition, request, now=now)
        except InvalidPayerResponse:
            unmatched.append({"kind": "271", "trace": trace[:50]})
            continue
        eligibility_repo.finish(conn, check.id, result, now=now)
        queue_writeback(conn, result, check_id=check.id, destination=destination_for(check.ehr), now=now)
        matched += 1
    return matched, unmatched
