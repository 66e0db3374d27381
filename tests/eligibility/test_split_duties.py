"""A worker split across processes (``claimbridge worker --duties`` / ``--no-duties``) stores what one
worker stores: two Worker objects on the same database (SQLite and PostgreSQL), one claiming jobs
without the eligibility duty, one running only the eligibility duty; the payer is mocked at the HTTP
edge (respx). Nothing is handed over in memory: the claim worker's checks reach the payer through
the eligibility_checks rows only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import respx
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.api.app import create_app
from app.db import claims_repo
from app.db.models import EligibilityCheck, Job
from app.eligibility.duty import EligibilityDuty
from app.mappers.ids import claim_id
from app.services import Services
from app.worker.duties import DUTY_NAMES, select_duties
from app.worker.runner import Worker
from tests.eligibility.helpers import SUBMIT, buckeye_bundle, make_services, response
from tests.spine.helpers import SECRET, clone_bundle, notification

AUTH = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
VISITS = 3


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, max_attempts=2, backoff_base_seconds=0.01, timeout_seconds=2)
    yield svc
    svc.close()


def post_visits(services: Services, tag: str, first: int) -> None:
    template = buckeye_bundle()
    with TestClient(create_app(services)) as client:
        for i in range(VISITS):
            note = notification(clone_bundle(template, f"{tag}{i}"), first + i)
            assert client.post("/notifications", content=orjson.dumps(note), headers=AUTH).status_code == 202


def settle(duty: EligibilityDuty, worker: Worker) -> None:
    """Send, collect and apply every answer (waits on the payer calls' futures, bounded)."""
    duty.drain(timeout=10)
    worker.drain()  # collect what is left and re-evaluate the claims of stored answers


def stored(services: Services, tag: str) -> list[tuple[Any, ...]]:
    """Per visit of ``tag``: its job, its check and its claim (status and findings), ids without the tag."""
    out = []
    with services.engine.connect() as conn:
        for i in range(VISITS):
            encounter = f"Encounter/enc-009-{tag}{i}"
            [job] = conn.execute(select(Job.status).where(Job.focus == encounter)).scalars().all()
            checks = conn.execute(
                select(EligibilityCheck.trigger, EligibilityCheck.status, EligibilityCheck.result_status,
                       EligibilityCheck.reevaluated_at.is_not(None)).where(EligibilityCheck.encounter == encounter)
            ).all()  # fmt: skip
            claim = claims_repo.get_claim(conn, claim_id(encounter, "60054"))
            assert claim is not None
            rules = sorted(f["rule"] for f in claim["findings"])
            out.append((job, sorted(tuple(c) for c in checks), claim["status"], rules))
    return out


def test_split_duties_store_what_one_worker_stores(services: Services) -> None:
    with respx.mock(assert_all_called=True) as payer:
        route = payer.post(SUBMIT).mock(return_value=httpx.Response(200, json=response()))
        one = services.worker(worker_id="one")
        post_visits(services, "one", 1)
        one.drain()
        settle(one.duty(EligibilityDuty), one)
        calls = route.call_count
        assert calls == VISITS

        claims = services.worker(worker_id="claims", duties=select_duties(without=["eligibility"]))
        checks = services.worker(worker_id="checks", duties=select_duties(["eligibility"]))
        with pytest.raises(LookupError):
            claims.duty(EligibilityDuty)
        assert checks.claim() == [] and not checks.jobs
        # 1. the claim worker alone: its jobs plan the checks as rows; nothing reaches the payer yet
        post_visits(services, "job", 11)
        claims.drain()
        assert route.call_count == calls
        with services.engine.connect() as conn:
            pending = conn.execute(select(EligibilityCheck.status).where(EligibilityCheck.encounter.like("%-job%")))
            assert set(pending.scalars()) == {"pending"}
        # 2. the eligibility-only process claims those rows, sends them, stores and applies the answers
        settle(checks.duty(EligibilityDuty), checks)
        assert route.call_count == calls + VISITS
        claims.drain()  # the claim worker's other duties (outbox ...) after the answers
        # 3. interleaved: the eligibility process first (checks planned ahead from the notifications)
        post_visits(services, "mix", 21)
        checks.run_once()
        claims.drain()
        settle(checks.duty(EligibilityDuty), checks)
        claims.drain()
        assert route.call_count == calls + 2 * VISITS  # each visit verified once
    single = stored(services, "one")
    assert single[0][1] == [("finished", "done", "active", True)]
    assert not any(rule.startswith("eligibility.") for visit in single for rule in visit[3])
    assert stored(services, "job") == single
    assert stored(services, "mix") == single


def test_a_selection_names_known_duties() -> None:
    assert select_duties() == frozenset(DUTY_NAMES)
    assert select_duties(["eligibility"]) == {"eligibility"}
    assert "eligibility" not in select_duties(without=["eligibility"]) and "jobs" in select_duties(
        without=["eligibility"]
    )
    assert select_duties(["jobs,outbox", "expansion"]) == {"jobs", "outbox", "expansion"}
    with pytest.raises(ValueError, match="unknown worker duty"):
        select_duties(["eligibilty"])
    with pytest.raises(ValueError, match="nothing to do"):
        select_duties(["eligibility"], ["eligibility"])
