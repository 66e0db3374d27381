"""EHR failures while fetching: 503s, 429 with Retry-After, 401 and re-authorization, token expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from tests.ehrflow.harness import running_flow


async def test_503_three_times_then_200_is_retried_by_the_worker_backoff(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "s")
        flow.ehr.fail_next(3, status=503)
        for attempt in (1, 2, 3):
            flow.worker.drain()
            (job,) = flow.jobs()
            assert (job.status, job.attempts) == ("pending", attempt)
            assert "503" in job.last_error and job.available_at > flow.clock.now()
            flow.clock.advance(600)
        flow.worker.drain()
        (job,) = flow.jobs()
        assert (job.status, job.attempts) == ("done", 3) and ":v1:" in job.result
        assert len(flow.claims()) == 1


async def test_429_retry_after_defers_the_job_at_least_that_long(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "r")
        flow.ehr.rate_limit_next(1, retry_after="120")
        start = flow.clock.now()
        flow.worker.drain()
        (job,) = flow.jobs()
        assert job.status == "pending" and job.available_at >= start + timedelta(seconds=120)
        flow.clock.advance(60)  # the worker's own backoff would have allowed this already
        flow.worker.drain()
        assert (flow.jobs()[0].status, flow.jobs()[0].attempts) == ("pending", 1)
        flow.clock.advance(61)
        flow.worker.drain()
        (job,) = flow.jobs()
        assert (job.status, job.attempts) == ("done", 1)


async def test_a_retry_after_holds_every_job_toward_that_ehr_not_only_the_one_that_got_it(
    db_url: str, tmp_path: Path
) -> None:
    """Issue 17 item 4: while the EHR's Retry-After lasts, new jobs wait without sending a request."""
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "h0")
        flow.ehr.rate_limit_next(1000, retry_after="120")  # throttled until told otherwise
        start = flow.clock.now()
        flow.worker.drain()
        for n in (1, 2, 3):
            await flow.seed_encounter(n, f"h{n}")
        sent = fhir_requests(flow)
        flow.worker.drain()
        assert fhir_requests(flow) == sent  # held: no request while the Retry-After lasts
        jobs = flow.jobs()
        assert [j.status for j in jobs] == ["pending"] * 4
        assert all(j.available_at >= start + timedelta(seconds=119) for j in jobs)
        assert all("held" in (j.last_error or "") for j in jobs[1:])
        assert [j.attempts for j in jobs[1:]] == [0, 0, 0]  # held, not tried: a long throttle kills no job
        flow.ehr.faults.rate_limit_next = 0
        flow.clock.advance(121)
        flow.worker.drain()
        assert [j.status for j in flow.jobs()] == ["done"] * 4


def fhir_requests(flow: Any) -> int:
    return sum(1 for _, path in flow.ehr.requests if path.startswith("/fhir/"))


async def test_a_short_retry_after_is_waited_inside_the_call(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, ehr={"fetch_attempts": 2}) as flow:
        await flow.seed_encounter(0, "q")
        flow.ehr.rate_limit_next(1, retry_after="1")
        flow.worker.drain()
        (job,) = flow.jobs()
        assert (job.status, job.attempts) == ("done", 0)
        assert set(flow.sleeps.delays) == {1.0}  # the job's other call waits out the same Retry-After


async def test_401_once_reauthorizes_and_the_job_succeeds(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "u")
        tokens = flow.ehr.tokens.issued
        flow.ehr.reject_token_once()
        flow.worker.drain()
        (job,) = flow.jobs()
        assert (job.status, job.attempts) == ("done", 0)
        assert flow.ehr.tokens.issued == tokens + 1


async def test_401_after_reauthorization_is_fatal(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "v")
        flow.ehr.faults.unauthorized_next = 2
        flow.worker.drain()
        (job,) = flow.jobs()
        assert (job.status, job.attempts) == ("dead", 1)
        assert job.last_error.startswith("AuthError") and "401" in job.last_error
        assert flow.claims() == []


async def test_an_expired_token_is_renewed_before_it_is_refused(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        await flow.seed_encounter(0, "x")
        flow.worker.drain()
        tokens, reads = flow.ehr.tokens.issued, flow.ehr.count("GET", "/fhir/Encounter")
        flow.clock.advance(301)  # past the 300 s token lifetime
        await flow.seed_encounter(1, "y")
        flow.worker.drain()
        assert [j.status for j in flow.jobs()] == ["done", "done"]
        assert flow.ehr.tokens.issued == tokens + 1
        assert flow.ehr.count("GET", "/fhir/Encounter") == reads + 1  # no request was refused and repeated
