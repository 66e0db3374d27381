"""Re-activating a stopped subscription from the console: the sweep's path against the test EHR.

The real service wired to the in-process test EHR (tests/ehrflow/harness.py), on SQLite and
PostgreSQL; the console is driven over HTTP (httpx on the ASGI app), signed in as an engineer.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from app.api.app import create_app
from app.db import audit_repo, ehr_repo
from app.db.engine import read_only
from tests.ehrflow.harness import EHR_NAME, Flow, running_flow
from tests.spine.helpers import register
from tests.web.helpers import PASSWORD, add_user, csrf_of


def stop(flow: Flow, sid: str, *, on_ehr: bool = True) -> None:
    """The EHR stopped ``sid`` (a failed delivery sets ``error``), and our last ``$status`` said so."""
    if on_ehr:
        stored = flow.ehr.store.by_key(f"Subscription/{sid}")
        assert stored is not None
        flow.ehr.store.write({**stored, "status": "error"})
    with flow.services.engine.begin() as conn:
        ehr_repo.record_remote_status(conn, sid, status="error", events_since_start=None, now=flow.clock.now())


async def sign_in(console: httpx.AsyncClient, name: str) -> str:
    page = await console.get("/console/login")
    data = {"csrf": csrf_of(page.text), "name": name, "password": PASSWORD}
    assert (await console.post("/console/login", data=data)).status_code == 303
    return csrf_of((await console.get("/console/subscriptions")).text)


async def test_an_engineer_reactivates_a_stopped_subscription(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path) as flow:
        services = flow.services
        add_user(services, "eng", "engineer")
        add_user(services, "vera", "viewer")
        register(services, sub_id="manual", secret="manual-secret-0123456789")  # no EHR linked
        sid = flow.sub("Encounter")
        stop(flow, sid)
        stop(flow, "manual", on_ehr=False)
        transport = httpx.ASGITransport(app=create_app(services))
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as console:
            csrf = await sign_in(console, "vera")
            page = await console.get("/console/subscriptions")
            assert f"Re-activate subscription {sid}" not in page.text  # viewers see no button
            refused = await console.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": sid})
            assert refused.status_code == 403
            console.cookies.clear()

            csrf = await sign_in(console, "eng")
            page = await console.get("/console/subscriptions")
            assert f'aria-label="Re-activate subscription {sid} of {EHR_NAME}"' in page.text
            assert "no EHR linked" in page.text
            forged = await console.post("/console/subscriptions/reactivate", data={"csrf": "x", "subscription": sid})
            assert forged.status_code == 403

            flow.ehr.fail_next(1)  # the EHR is down for the $status call: nothing re-activated, said so
            down = await console.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": sid})
            assert down.status_code == 502 and "did not re-activate" in down.text
            assert flow.ehr.store.by_key(f"Subscription/{sid}")["status"] == "error"

            done = await console.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": sid})
            assert done.status_code == 303  # the EHR is named on the way back (ids are unique per EHR only)
            assert done.headers["location"] == f"/console/subscriptions?reactivated={sid}&ehr={EHR_NAME}"
            assert flow.ehr.store.by_key(f"Subscription/{sid}")["status"] == "active"  # PUT requested, handshake
            row = flow.subscription_row(sid)
            assert row["status"] in ("active", "requested") and row["health"] == "ok"
            with read_only(services.engine) as conn:
                gaps = [(g["kind"], g["status"]) for g in ehr_repo.list_gaps(conn) if g["subscription_id"] == sid]
                events = audit_repo.list_events(conn, action="reactivate")
            assert gaps == [("stopped", "repaired")]
            assert [(e["actor"], e["entity"], e["outcome"]) for e in events] == [
                ("eng", f"Subscription/{sid}", "failure"),
                ("eng", f"Subscription/{sid}", "success"),
            ]
            shown = await console.get(done.headers["location"])
            assert f"Subscription {sid} (EHR {EHR_NAME}) re-activated" in shown.text

            again = await console.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": sid})
            assert again.status_code == 409 and "nothing to re-activate" in again.text
            manual = await console.post(
                "/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": "manual"}
            )
            assert manual.status_code == 409 and "not linked to a registered EHR" in manual.text
            missing = await console.post("/console/subscriptions/reactivate", data={"csrf": csrf, "subscription": "x"})
            assert missing.status_code == 404
