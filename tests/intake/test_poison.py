"""Poison at intake: refused with 400/413 + OperationOutcome BEFORE the group commit, and a member
that fails a batch anyway is isolated (the others are stored and never see its error).

SQLite and PostgreSQL; concurrent notifications through the real app (httpx ASGI transport).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from app.api.app import create_app
from app.api.intake_writer import IntakeWriter, Pending
from app.db.models import Inbox, Job
from app.db.sql import utcnow
from app.intake.notification import Event, parse_notification
from tests.spine.helpers import SECRET, expand, make_services, notification, register, sample_bundles

HEADERS = {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {SECRET}"}
Note = dict[str, Any]


def status_params(note: Note) -> list[dict[str, Any]]:
    return note["entry"][0]["resource"]["parameter"]


def event_number(value: str) -> Callable[[Note], None]:
    def apply(note: Note) -> None:
        event = next(p for p in status_params(note) if p["name"] == "notification-event")
        next(p for p in event["part"] if p["name"] == "event-number")["valueString"] = value

    return apply


def patient(note: Note) -> dict[str, Any]:
    return next(e["resource"] for e in note["entry"][1:] if e["resource"]["resourceType"] == "Patient")


def long_id(note: Note) -> None:
    entry = next(e for e in note["entry"][1:] if e["resource"]["resourceType"] == "Patient")
    entry["resource"]["id"] = "p" * 100_000
    entry["fullUrl"] = f"http://ehr.example.org/fhir/Patient/{'p' * 100_000}"


def deep_extension(note: Note) -> None:
    ext: dict[str, Any] = {"url": "http://example.org/leaf", "valueString": "x"}
    for _ in range(300):
        ext = {"url": "http://example.org/nest", "extension": [ext]}
    patient(note)["extension"] = [ext]


def unknown_type(note: Note) -> None:
    note["entry"].append(
        {
            "fullUrl": "http://ehr.example.org/fhir/Frobnicator/f1",
            "resource": {"resourceType": "Frobnicator", "id": "f1"},
            "request": {"method": "PUT", "url": "Frobnicator/f1"},
            "response": {"status": "200"},
        }
    )


POISON: dict[str, tuple[Callable[[Note], None], int, str]] = {
    "event number 2^63": (event_number(str(2**63)), 400, "event-number is not a non-negative 64-bit integer"),
    "bundle id of 201 characters": (lambda n: n.update(id="b" * 201), 400, "Bundle.id is not a FHIR id"),
    "NUL in a surname": (
        lambda n: patient(n)["name"][0].update(family="Des\u0000ai"),
        400,
        "NUL character",
    ),
    "NUL in a key": (lambda n: patient(n).update({"a\u0000": 1}), 400, "NUL character"),
    "100k-character id": (long_id, 400, "Patient id is not a FHIR id"),
    "300-deep extensions": (deep_extension, 413, "nested deeper than 64"),  # the request-limits middleware
    "invalid resource": (
        lambda n: patient(n).update(birthDate="not-a-date"),
        400,
        "Patient/pat-001: Patient invalid at birthDate",
    ),
    "unknown resourceType": (unknown_type, 400, "unknown resource type 'Frobnicator'"),
}


async def post_all(app, bodies: list[bytes]) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        return list(await asyncio.gather(*(client.post("/notifications", content=b, headers=HEADERS) for b in bodies)))


def counts(services) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    expand(services.engine)  # the worker's expansion duty
    with services.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(Inbox)).scalar_one(),
            conn.execute(select(func.count()).select_from(Job)).scalar_one(),
        )


def test_poison_is_refused_before_the_batch_and_the_others_are_stored(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    app = create_app(services)
    bundles = sample_bundles(5)
    good = [orjson.dumps(notification(bundles[i % 5], i)) for i in range(1, 31)]
    poison = []
    for number, (mutate, _, _) in enumerate(POISON.values(), start=100):
        note = notification(copy.deepcopy(bundles[0]), number)
        mutate(note)
        poison.append(json.dumps(note).encode())  # orjson refuses to write 1,000 levels
    mixed = [b for pair in zip(good, poison + [b""] * (len(good) - len(poison)), strict=True) for b in pair if b]
    responses = asyncio.run(post_all(app, mixed))
    by_body = dict(zip(mixed, responses, strict=True))
    for (name, (_, status, message)), body in zip(POISON.items(), poison, strict=True):
        answer = by_body[body]
        assert answer.status_code == status, (name, answer.text)
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome", name
        assert message in outcome["issue"][0]["diagnostics"], (name, outcome)
        assert "Retry-After" not in answer.headers
        assert "Desai" not in answer.text and "not-a-date" not in answer.text
    assert [by_body[b].status_code for b in good] == [202] * len(good)
    assert counts(services) == (len(good), len(good))
    services.close()


def test_the_largest_64_bit_event_number_is_stored(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    note = notification(sample_bundles(1)[0], 1)
    event_number(str(2**63 - 1))(note)
    (answer,) = asyncio.run(post_all(create_app(services), [orjson.dumps(note)]))
    assert answer.status_code == 202, answer.text
    expand(services.engine)
    with services.engine.connect() as conn:
        assert conn.execute(select(Job.event_number)).scalar_one() == 2**63 - 1
    services.close()


def test_too_many_events_in_one_notification_is_413(db_url: str, tmp_path: Path) -> None:
    services = make_services(db_url, tmp_path, intake={"max_events": 3})
    register(services, sub_id="claimbridge-demo")
    note = notification(sample_bundles(1)[0], 1)
    params = status_params(note)
    event = next(p for p in params if p["name"] == "notification-event")
    for n in range(2, 5):  # four events, one more than allowed
        extra = copy.deepcopy(event)
        next(p for p in extra["part"] if p["name"] == "event-number")["valueString"] = str(n)
        params.append(extra)
    (answer,) = asyncio.run(post_all(create_app(services), [orjson.dumps(note)]))
    assert answer.status_code == 413 and "at most 3 per notification" in answer.text
    assert counts(services) == (0, 0)
    services.close()


@pytest.mark.parametrize("poison_at", [0, 17, 39])
def test_a_member_that_fails_the_batch_is_isolated(db_url: str, tmp_path: Path, poison_at: int) -> None:
    """A value the database refuses (no limit check in front of the writer here): only its request fails."""
    services = make_services(db_url, tmp_path)
    register(services, sub_id="claimbridge-demo")
    bundles = sample_bundles(4)
    items = []
    for i in range(40):
        body = orjson.dumps(notification(bundles[i % 4], i + 1))
        note = parse_notification(body)
        if i == poison_at:  # an event number no BIGINT holds, past the parser's check
            event = note.events[0]
            note = type(note)(**{**note.__dict__, "events": (Event(2**64, event.focus, event.focus_version),)})
        items.append(Pending("claimbridge-demo", note, body, "application/fhir+json"))
    writer = IntakeWriter(services.engine, utcnow)

    async def store_all() -> list[Any]:
        return list(await asyncio.gather(*(writer.store(i) for i in items), return_exceptions=True))

    results = asyncio.run(store_all())
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [poison_at]
    assert all(r.jobs == 1 for i, r in enumerate(results) if i != poison_at)
    assert counts(services) == (39, 39)
    services.close()
