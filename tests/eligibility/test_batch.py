"""Day-before checks through a folder clearinghouse (SQLite and PostgreSQL): one batch 270 file per
payer (pyx12-valid 005010X279A1), the 271 file dropped into the inbound folder mapped back to the
same stored results; booking and check-in stay real time (the clearinghouse API mocked with respx).
The 271s are the LinuxForHealth samples (tests/fixtures/x12/SOURCES.md) with our traces put in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import billing_repo
from app.db.models import EligibilityCheck, InboundFile, Outbox
from app.eligibility.batch import transactions_271
from app.eligibility.duty import EligibilityDuty
from app.services import Services
from app.worker.clearinghouse import ClearinghouseCycle
from app.worker.outbox import OutboxDispatcher
from app.x12.tokenizer import SegmentReader
from tests.eligibility.helpers import CLEARINGHOUSE_270, CLEARINGHOUSE_SETTINGS, CLEARINGHOUSE_TOKEN, make_services
from tests.eligibility.test_clearinghouse import token
from tests.eligibility.test_triggers import T0, appointment, post, visit
from tests.eligibility.test_x12 import SAMPLES, as_4010
from tests.spine.helpers import SetClock, clone_bundle
from tests.x12.x12_pyx12 import pyx12_check

#: Batches by folder, real time by the clearinghouse API's eligibility path.
FOLDER_SETTINGS: dict[str, Any] = {
    "adapters": {"clearinghouse": "folder"},
    "clearinghouse": CLEARINGHOUSE_SETTINGS["clearinghouse"],
}
DAY_BEFORE = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # 24 h before the appointment at 09:00-05:00


@pytest.fixture
def clock() -> SetClock:
    return SetClock(T0)


@pytest.fixture
def services(db_url: str, tmp_path: Path, clock: SetClock) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, clock=clock, settings_extra=FOLDER_SETTINGS, adapter="x12", max_attempts=1)
    yield svc
    svc.close()


def day_before_checks(services: Services) -> list[Any]:
    with services.engine.connect() as conn:
        query = select(EligibilityCheck).where(EligibilityCheck.trigger == "day-before").order_by(EligibilityCheck.id)
        return list(conn.execute(query).all())


def answer_271(traces: list[str]) -> str:
    """A 271 file answering two inquiries: the subscriber sample (active) and the AAA sample (rejected)."""
    active = (SAMPLES / "271_subscriber.271").read_text().replace("TRN*2*93175-012547*", f"TRN*2*{traces[0]}*")
    rejected = (SAMPLES / "271_subscriber-error-AAA.271").read_text().replace("*10001234*", f"*{traces[1]}*")
    segments = [s.strip() for s in active.split("~") if s.strip()]
    head, body = segments[:2], [s for s in segments if s.split("*")[0] not in ("ISA", "GS", "GE", "IEA")]
    body += [s.strip() for s in rejected.split("~") if s.strip() and s.split("*")[0] not in ("ISA", "GS", "GE", "IEA")]
    return "~\n".join([*head, *body, "GE*2*1", "IEA*1*000000907"]) + "~\n"


def test_day_before_checks_go_as_one_batch_270_and_the_271_file_answers_them(
    services: Services, clock: SetClock
) -> None:
    with respx.mock() as clearinghouse, TestClient(create_app(services)) as client:
        clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(return_value=token())
        realtime = clearinghouse.post(CLEARINGHOUSE_270).mock(
            return_value=httpx.Response(200, text=(SAMPLES / "271_subscriber.271").read_text())
        )
        for n, suffix in enumerate(("a", "b"), start=1):
            post(client, clone_bundle(visit(appointment("booked", "1"), "planned", "5"), suffix), n)
        worker = services.worker(worker_id="w")
        worker.drain()
        duty = worker.duty(EligibilityDuty)
        duty.drain(timeout=60)
        assert realtime.call_count == 2  # the bookings: real time
        assert [c.status for c in day_before_checks(services)] == ["pending", "pending"]
        with services.engine.begin() as conn:
            before = billing_repo.next_control_number(conn)

        clock.now = DAY_BEFORE
        duty.drain(timeout=60)
        assert realtime.call_count == 2  # the day-before checks: no real-time call
        checks = day_before_checks(services)
        assert [c.status for c in checks] == ["batched", "batched"]
        worker.duty(OutboxDispatcher).run_once()

        post(client, clone_bundle(visit(appointment("booked", "1"), "arrived", "6"), "a"), 3)  # check-in
        worker.drain()
        duty.drain(timeout=60)
        assert realtime.call_count == 3  # check-in stays real time
    [batch] = sorted(services.settings.clearinghouse_outbox_dir.glob("270-*.x12"))
    text = batch.read_text()
    ok, errors, _ = pyx12_check(as_4010(text))  # pyx12 ships no 005010X279A1 map (see as_4010)
    assert ok, errors
    segments = list(SegmentReader(text))
    assert [s[1] for s in segments if s.tag == "ST"] == ["270", "270"]  # one file, one ST per check
    assert int(next(s for s in segments if s.tag == "ISA")[13]) == before + 1  # the database counter
    traces = [t for t, _, _ in transactions_271(text.replace("ST*270*", "ST*271*"))]
    assert traces == [f"CB-ELIG-{c.id}" for c in checks]

    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "271-answer.x12").write_text(answer_271(traces))
    cycle = worker.duty(ClearinghouseCycle)
    assert cycle.poll() == 1
    first, second = day_before_checks(services)
    assert (first.status, first.result_status, first.source) == ("done", "active", "x12")
    assert (second.status, second.result_status) == ("done", "error")
    assert [e["code"] for e in second.result["errors"]] == ["50"]
    with services.engine.connect() as conn:
        [inbound] = conn.execute(select(InboundFile)).all()
        kinds = [r.kind for r in conn.execute(select(Outbox.kind).where(Outbox.key.like("%check-%"))).all()]
    assert inbound.kind == "271" and inbound.outcome["matched"] == 2 and inbound.outcome["unmatched"] == []
    assert kinds  # the answers are written back to the EHR like real-time ones

    (inbox / "271-answer-again.x12").write_text(answer_271(traces))  # the same file again: nothing changes
    assert cycle.poll() == 0
    assert [c.updated_at for c in day_before_checks(services)] == [first.updated_at, second.updated_at]


def test_a_271_for_no_batched_check_is_kept_unmatched(services: Services) -> None:
    inbox = services.settings.clearinghouse_inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "stray.x12").write_text(answer_271(["CB-ELIG-999", "SOMEONE-ELSE"]))
    assert services.worker(worker_id="w").duty(ClearinghouseCycle).poll() == 1
    with services.engine.connect() as conn:
        [inbound] = conn.execute(select(InboundFile)).all()
    assert inbound.kind == "271" and inbound.outcome["matched"] == 0
    assert [u["trace"] for u in inbound.outcome["unmatched"]] == ["CB-ELIG-999", "SOMEONE-ELSE"]
