"""Subscription ids are unique per EHR: two EHRs may both call their subscription ``sub-1``.

Through the real endpoint, on SQLite and PostgreSQL. The bearer secret decides whose ``sub-1`` a
notification is (a notification names only ``Subscription/sub-1``, never the EHR).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import subscriptions_repo
from app.db.models import Job, Subscription
from app.services import Services
from tests.spine.helpers import bearer, expand, make_services, notification, register, sample_bundles

SECRET_A, SECRET_B = "secret-of-ehr-a-0123456789", "secret-of-ehr-b-0123456789"


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path)
    register(svc, sub_id="sub-1", secret=SECRET_A, ehr="ehr-a")
    register(svc, sub_id="sub-1", secret=SECRET_B, ehr="ehr-b")  # refused while ids were global
    yield svc
    svc.close()


def test_two_ehrs_register_the_same_subscription_id(services: Services) -> None:
    with services.engine.connect() as conn:
        rows = subscriptions_repo.list_subscriptions(conn)
    assert [(r["id"], r["ehr"]) for r in rows] == [("sub-1", "ehr-a"), ("sub-1", "ehr-b")]
    assert "sub-1@ehr-b" not in str(rows)  # the internal key stays internal
    with services.engine.connect() as conn:
        assert subscriptions_repo.subscription_key(conn, ehr="ehr-a", subscription_id="sub-1") == "sub-1"
    register(services, sub_id="sub-1", secret="rotated-secret-of-b-0123456", ehr="ehr-b")  # B rotates its secret
    with services.engine.connect() as conn:
        assert subscriptions_repo.subscription_key(conn, ehr="ehr-b", subscription_id="sub-1") == "sub-1@ehr-b"
        assert subscriptions_repo.subscription_key(conn, ehr=None, subscription_id="sub-1") is None
    with services.engine.connect() as conn:
        assert len(subscriptions_repo.list_subscriptions(conn)) == 2


def test_the_credential_decides_whose_subscription_a_notification_is(client: TestClient, services: Services) -> None:
    bundle = sample_bundles(1)[0]
    note = orjson.dumps(notification(bundle, 1, sub_id="sub-1"))  # event 1 of "sub-1": the same bytes for both
    assert client.post("/notifications", content=note, headers=bearer(SECRET_A)).status_code == 202
    assert client.post("/notifications", content=note, headers=bearer(SECRET_B)).status_code == 202  # not a duplicate
    assert client.post("/notifications", content=note, headers=bearer(SECRET_B)).status_code == 200  # this one is
    other = orjson.dumps(notification(bundle, 2, sub_id="sub-2"))
    response = client.post("/notifications", content=other, headers=bearer(SECRET_B))
    assert response.status_code == 401 and "Subscription/sub-2" in response.text
    expand(services.engine)
    with services.engine.connect() as conn:
        jobs = conn.execute(select(Job.subscription_id, Job.ehr, Job.event_number).order_by(Job.ehr)).all()
        subs = conn.execute(select(Subscription.id, Subscription.events_since_start).order_by(Subscription.id)).all()
    assert [tuple(j) for j in jobs] == [("sub-1", "ehr-a", 1), ("sub-1@ehr-b", "ehr-b", 1)]
    assert [tuple(s) for s in subs] == [("sub-1", 1), ("sub-1@ehr-b", 1)]
