"""The operator sees a subscription as its id on its EHR and the EHR's name, never the internal key.

Two EHRs both call their subscription ``sub-1``: internally the second is ``sub-1@ehr-b``
(:func:`app.db.subscriptions_repo.subscription_key`). The console's dead letters, messages and
subscriptions pages and the admin API show ``sub-1`` and the EHR, filter on them, and re-activate by
them. Over HTTP (the real app), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.api.app import create_app
from app.db import ehr_repo
from app.db.models import Job
from app.services import Services
from tests.spine.helpers import ADMIN, bearer, expand, make_services, notification, register, sample_bundles
from tests.web.helpers import add_user, dead_inbox_row, sign_in

SECRET_A, SECRET_B = "secret-of-ehr-a-0123456789", "secret-of-ehr-b-0123456789"
KEY_B = "sub-1@ehr-b"  # the internal key of EHR B's sub-1: never shown


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="sub-1", secret=SECRET_A, ehr="ehr-a")
    register(svc, sub_id="sub-1", secret=SECRET_B, ehr="ehr-b")
    add_user(svc, "eng", "engineer")
    yield svc
    svc.close()


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services), base_url="https://testserver") as c:
        yield c


def dead_jobs_and_rows(client: TestClient, services: Services) -> None:
    """One dead job, one dead inbox row and one open gap for each EHR's sub-1."""
    note = orjson.dumps(notification(sample_bundles(1)[0], 1, sub_id="sub-1"))
    for secret in (SECRET_A, SECRET_B):
        assert client.post("/notifications", content=note, headers=bearer(secret)).status_code == 202
    expand(services.engine)
    with services.engine.begin() as conn:
        conn.execute(update(Job).values(status="dead", last_error="mapping failed"))
        for key in ("sub-1", KEY_B):
            ehr_repo.record_gap(conn, key, kind="missed", first=2, last=3, now=services.clock())
    dead_inbox_row(services, "sub-1", ehr="ehr-a", bundle="bundle-a")
    dead_inbox_row(services, KEY_B, ehr="ehr-b", bundle="bundle-b")


def test_console_pages_show_the_id_and_the_ehr_not_the_internal_key(client: TestClient, services: Services) -> None:
    dead_jobs_and_rows(client, services)
    sign_in(client, "eng")
    pages = {
        "dead letters": client.get("/console/dead-letters").text,
        "jobs": client.get("/console/messages", params={"kind": "jobs"}).text,
        "notifications": client.get("/console/messages", params={"kind": "notifications"}).text,
        "subscriptions": client.get("/console/subscriptions").text,
    }
    for name, page in pages.items():
        assert KEY_B not in page, name
        assert "<td>sub-1</td><td>ehr-b</td>" in page and "<td>sub-1</td><td>ehr-a</td>" in page, name
    job = client.get("/console/messages/jobs/2").text  # jobs in EHR order: 2 is B's
    assert KEY_B not in job and "ehr-b" in job and ">sub-1<" in job


def test_console_filters_on_the_id_and_the_ehr(client: TestClient, services: Services) -> None:
    dead_jobs_and_rows(client, services)
    csrf = sign_in(client, "eng")
    both = client.get("/console/dead-letters", params={"subscription": "sub-1"}).text
    assert both.count("<td>sub-1</td><td>ehr-a</td>") == 2 and both.count("<td>sub-1</td><td>ehr-b</td>") == 2
    only_b = client.get("/console/dead-letters", params={"subscription": "sub-1", "ehr": "ehr-b"}).text
    assert only_b.count("<td>sub-1</td><td>ehr-b</td>") == 2 and "<td>sub-1</td><td>ehr-a</td>" not in only_b
    assert KEY_B not in only_b and 'name="ehr" value="ehr-b"' in only_b  # the replay-all form keeps the filter
    jobs_b = client.get("/console/messages", params={"kind": "jobs", "subscription": "sub-1", "ehr": "ehr-b"}).text
    assert "<td>sub-1</td><td>ehr-b</td>" in jobs_b and "<td>sub-1</td><td>ehr-a</td>" not in jobs_b
    replayed = client.post(
        "/console/dead-letters/replay",
        data={"csrf": csrf, "subscription": "sub-1", "ehr": "ehr-b"},
        follow_redirects=False,
    )
    assert replayed.status_code == 303 and replayed.headers["location"] == "/console/dead-letters?replayed=1"
    left = client.get("/console/dead-letters").text
    assert left.count("<td>sub-1</td><td>ehr-a</td>") == 2 and left.count("<td>sub-1</td><td>ehr-b</td>") == 1


def test_a_stopped_subscription_is_reactivated_by_its_id_and_ehr(client: TestClient, services: Services) -> None:
    csrf = sign_in(client, "eng")
    with services.engine.begin() as conn:
        ehr_repo.record_remote_status(conn, KEY_B, status="error", events_since_start=None, now=services.clock())
    page = client.get("/console/subscriptions").text
    assert KEY_B not in page
    assert (
        '<input type="hidden" name="subscription" value="sub-1"><input type="hidden" name="ehr" value="ehr-b">' in page
    )
    vague = client.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": "sub-1"})
    assert vague.status_code == 409 and "ehr-a" in vague.text and "ehr-b" in vague.text  # which EHR's sub-1?
    assert KEY_B not in vague.text
    wrong = client.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": "sub-1", "ehr": "x"})
    assert wrong.status_code == 404 and KEY_B not in wrong.text


def test_the_admin_api_names_subscriptions_by_id_and_ehr(client: TestClient, services: Services) -> None:
    dead_jobs_and_rows(client, services)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    for path in ("/api/dead-letters", "/api/inbox/dead", "/api/gaps?status=all", "/api/subscriptions"):
        response = client.get(path, headers=admin)
        assert response.status_code == 200 and KEY_B not in response.text, path
        rows = response.json()
        named = sorted((r.get("subscription_id", r.get("id")), r["ehr"]) for r in rows)
        assert named == [("sub-1", "ehr-a"), ("sub-1", "ehr-b")], path
