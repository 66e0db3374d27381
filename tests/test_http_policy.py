"""The one error tree, the one HTTP policy and the one retry policy, read the same by every client."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from sqlalchemy.exc import OperationalError

from app.adapters.base import FatalDeliveryError, TemporaryDeliveryError
from app.adapters.clearinghouse_http import ClearinghouseApi
from app.errors import ClaimbridgeError, FatalError, TemporaryError, is_temporary, retry_after_of
from app.fhir.errors import FatalFhirError, TemporaryFhirError, error_for_status
from app.http_policy import Verdict, classify, parse_retry_after
from app.retry import RetryPolicy
from app.settings import ClearinghouseApiSettings

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.OK),
        (201, Verdict.OK),
        (302, Verdict.FATAL),  # redirects are never followed: a misconfigured URL
        (400, Verdict.FATAL),
        (401, Verdict.REAUTHORIZE),
        (403, Verdict.FATAL),
        (404, Verdict.FATAL),
        (408, Verdict.TEMPORARY),
        (409, Verdict.FATAL),
        (425, Verdict.TEMPORARY),
        (429, Verdict.TEMPORARY),
        (500, Verdict.TEMPORARY),
        (501, Verdict.FATAL),
        (502, Verdict.TEMPORARY),
        (503, Verdict.TEMPORARY),
        (504, Verdict.TEMPORARY),
        (505, Verdict.FATAL),
        (507, Verdict.TEMPORARY),
    ],
)
def test_one_classification_for_every_client(status: int, verdict: Verdict) -> None:
    assert classify(status) is verdict
    fhir = error_for_status(status, body=None, where="GET /x") if status >= 400 and status != 401 else None
    if fhir is not None:  # the FHIR client's error tree agrees with the policy
        assert isinstance(fhir, TemporaryFhirError) is (verdict is Verdict.TEMPORARY)
        assert isinstance(fhir, FatalFhirError) is (verdict is Verdict.FATAL)


def test_a_second_401_is_fatal() -> None:
    assert classify(401, reauthorized=True) is Verdict.FATAL


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Fri, 01 Mar 2024 12:01:00 GMT", now=NOW) == 60.0
    assert parse_retry_after("Fri, 01 Mar 2024 11:00:00 GMT", now=NOW) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None


def test_every_error_is_temporary_or_fatal_under_one_root() -> None:
    for cls in (TemporaryFhirError, TemporaryDeliveryError):
        assert issubclass(cls, TemporaryError) and issubclass(cls, ClaimbridgeError)
    for cls in (FatalFhirError, FatalDeliveryError):
        assert issubclass(cls, FatalError) and not issubclass(cls, TemporaryError)


def test_the_worker_decision_reads_the_tree_and_transient_library_errors() -> None:
    assert is_temporary(TemporaryDeliveryError("x", retry_after=3))
    assert not is_temporary(FatalDeliveryError("x"))
    assert is_temporary(OperationalError("select 1", {}, Exception("database is locked")))
    assert is_temporary(TimeoutError())
    assert not is_temporary(KeyError("a bug"))
    assert retry_after_of(TemporaryDeliveryError("x", retry_after=3)) == 3
    assert retry_after_of(TemporaryDeliveryError("x", retry_after=0)) is None
    assert retry_after_of(FatalDeliveryError("x")) is None


def test_full_jitter_backoff_capped_and_retry_after_exact() -> None:
    policy = RetryPolicy(max_attempts=5, base_seconds=1.0, cap_seconds=5.0)
    assert [policy.delay(attempts=n, rand=lambda: 1.0) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
    assert policy.delay(attempts=2, rand=lambda: 0.0) == 0.0
    assert policy.delay(attempts=5, rand=lambda: 0.5) is None  # budget spent
    assert policy.delay(attempts=1, rand=lambda: 0.5, retry_after=42.0) == 42.0
    rng = random.Random(7)
    waits = [policy.delay(attempts=3, rand=rng.random) for _ in range(200)]
    assert all(w is not None and 0 <= w <= 4.0 for w in waits) and len(set(waits)) > 100
    inline = RetryPolicy(max_attempts=4, max_retry_after=10.0)
    assert inline.delay(attempts=1, rand=lambda: 0.5, retry_after=11.0) is None  # hand back to the queue
    assert policy.next_retry(attempts=1, now=NOW, rand=lambda: 0.5, retry_after=30) == NOW + timedelta(seconds=30)


API = ClearinghouseApiSettings(
    base_url="https://ch.example.test/api",
    token_url="https://auth.example.test/token",
    client_id="c",
    client_secret="s",
)


@pytest.mark.parametrize(
    ("status", "error"), [(503, TemporaryDeliveryError), (408, TemporaryDeliveryError), (400, FatalDeliveryError)]
)
def test_clearinghouse_client_uses_the_same_policy_and_reads_http_date_retry_after(status, error) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    api = ClearinghouseApi(API)
    with respx.mock() as router:
        router.post(API.token_url).mock(return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 60}))
        router.get("https://ch.example.test/api/responses").mock(
            return_value=httpx.Response(status, headers={"Retry-After": when})
        )
        with pytest.raises(error) as caught:
            api.call("GET", "/responses", "listing")
    api.close()
    if error is TemporaryDeliveryError:
        assert caught.value.retry_after is not None and 80 <= caught.value.retry_after <= 90
