"""Working the denial queue and underpayment alerts: who did what, when; open lists and metrics follow."""

from __future__ import annotations

from tests.clearinghouse.conftest import ADMIN_AUTH, Flow
from tests.clearinghouse.test_clearinghouse_flow import submitted_and_answered

BILLER = {**ADMIN_AUTH, "X-Claimbridge-User": "dana.biller"}


def open_counts(flow: Flow) -> tuple[int, int]:
    snapshot = flow.services.billing_snapshot()
    return sum(snapshot.open_denials.values()), snapshot.open_underpayments


def test_worked_items_leave_the_open_lists_with_who_when_and_why(flow: Flow) -> None:
    submitted_and_answered(flow)
    (denial,) = flow.api("/api/denials")
    (alert,) = flow.api("/api/underpayments")
    assert (denial["status"], denial["worked_by"], alert["status"]) == ("open", None, "open")
    assert open_counts(flow) == (1, 1)

    response = flow.client.post(
        f"/api/denials/{denial['id']}", json={"status": "appealed", "note": "auth on file, faxed"}, headers=BILLER
    )
    assert response.status_code == 200, response.text
    worked = response.json()
    assert (worked["status"], worked["worked_by"], worked["note"]) == ("appealed", "dana.biller", "auth on file, faxed")
    assert worked["worked_at"] == flow.clock.now().isoformat()
    response = flow.client.post(f"/api/underpayments/{alert['id']}", json={"status": "disputed"}, headers=BILLER)
    assert response.status_code == 200 and response.json()["status"] == "disputed"

    assert flow.api("/api/denials") == [] and flow.api("/api/underpayments") == []
    assert [d["id"] for d in flow.api("/api/denials", status="appealed")] == [denial["id"]]
    assert [d["status"] for d in flow.api("/api/denials", status="all")] == ["appealed"]
    flow.clock.advance(flow.services.settings.api.billing_metrics_seconds)
    assert open_counts(flow) == (0, 0)


def test_bad_work_requests_are_refused_and_change_nothing(flow: Flow) -> None:
    submitted_and_answered(flow)
    (denial,) = flow.api("/api/denials")
    cases = [
        (f"/api/denials/{denial['id']}", {"status": "paid"}, 400),  # not a denial status
        (f"/api/denials/{denial['id']}", {"status": "closed", "by": "x"}, 400),  # unknown field
        ("/api/denials/999999", {"status": "closed"}, 404),
        ("/api/underpayments/999999", {"status": "closed"}, 404),
    ]
    for path, body, expected in cases:
        response = flow.client.post(path, json=body, headers=BILLER)
        assert response.status_code == expected, (path, body, response.text)
        assert response.json()["resourceType"] == "OperationOutcome"
    response = flow.client.post(f"/api/denials/{denial['id']}", json={"status": "closed"})
    assert response.status_code == 401
    assert flow.client.get("/api/denials", params={"status": "pending"}, headers=ADMIN_AUTH).status_code == 400
    assert flow.api("/api/denials") == [denial]
