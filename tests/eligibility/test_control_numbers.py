"""270 control numbers (ISA13 = GS06 = ST02) come from the database counter: two processes drawing
at once never get the same one, on SQLite and PostgreSQL; the 270s the worker sends carry them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient

from app.api.app import create_app
from app.db import billing_repo
from app.db.engine import make_engine
from app.eligibility.duty import EligibilityDuty
from app.services import Services, control_number
from app.x12.tokenizer import SegmentReader
from tests.eligibility.helpers import (
    CLEARINGHOUSE_270,
    CLEARINGHOUSE_SETTINGS,
    CLEARINGHOUSE_TOKEN,
    ROOT,
    buckeye_bundle,
    make_services,
)
from tests.eligibility.test_clearinghouse import token
from tests.eligibility.test_x12 import SAMPLES
from tests.spine.helpers import SECRET, clone_bundle, notification

DRAWS = 150
#: One process: draw DRAWS numbers, print them (one JSON list).
DRAWER = """
import sys
import orjson
from app.db.engine import make_engine
from app.services import control_number
engine = make_engine(sys.argv[1])
print(orjson.dumps([control_number(engine) for _ in range(int(sys.argv[2]))]).decode())
"""


def test_two_processes_never_draw_the_same_control_number(db_url: str) -> None:
    drawers = [
        subprocess.Popen([sys.executable, "-c", DRAWER, db_url, str(DRAWS)], cwd=ROOT, stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    drawn = []
    for proc in drawers:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        drawn.append(orjson.loads(out))
    first, second = drawn
    assert len(first) == len(second) == DRAWS
    assert not set(first) & set(second)
    assert sorted(first + second) == list(range(1, 2 * DRAWS + 1))  # no gap, no reuse
    assert first == sorted(first) and second == sorted(second)  # increasing within each process


def test_the_counter_is_the_one_the_837p_batches_use(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        assert control_number(engine) == 1
        with engine.begin() as conn:
            assert billing_repo.next_control_number(conn) == 2  # the submitter's ISA13 counter
        assert control_number(engine) == 3
    finally:
        engine.dispose()


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, settings_extra=CLEARINGHOUSE_SETTINGS, adapter="x12", max_attempts=1)
    yield svc
    svc.close()


def test_each_270_the_worker_sends_takes_the_next_number_of_the_counter(services: Services) -> None:
    with services.engine.begin() as conn:
        for _ in range(41):  # numbers already used by 837P batches
            billing_repo.next_control_number(conn)
    answer = (SAMPLES / "271_subscriber.271").read_text()
    auth = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
    with respx.mock() as clearinghouse, TestClient(create_app(services)) as client:
        clearinghouse.post(CLEARINGHOUSE_TOKEN).mock(return_value=token())
        route = clearinghouse.post(CLEARINGHOUSE_270).mock(return_value=httpx.Response(200, text=answer))
        for i in range(2):
            note = notification(clone_bundle(buckeye_bundle(), f"cn{i}"), i + 1)
            assert client.post("/notifications", content=orjson.dumps(note), headers=auth).status_code == 202
        worker = services.worker(worker_id="w")
        worker.drain()
        worker.duty(EligibilityDuty).drain(timeout=60)
    controls = []
    for call in route.calls:
        segments = {s.tag: s for s in SegmentReader(call.request.content.decode())}
        isa13, gs06, st02 = segments["ISA"][13], segments["GS"][6], segments["ST"][2]
        assert int(isa13) == int(gs06) == int(st02) and segments["IEA"][2] == isa13 and segments["SE"][2] == st02
        controls.append(int(isa13))
    assert sorted(controls) == [42, 43]
