"""A claim the encounter no longer yields tells the EHR (a Task) and consumers (a relay event), once.

Withdrawal (the payer never had it) and void (the payer has it) go through the outbox like every other
claim change: the Task replaces the claim's open one (same identifier), the event is ``claim.status``
for a withdrawal and ``claim.version`` for the void's new version. Re-evaluating adds nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import select

from app.db.models import Outbox
from app.relay.events import CLAIM_STATUS, CLAIM_VERSION
from tests.clearinghouse.conftest import Flow
from tests.clearinghouse.test_clearinghouse_void import accepted_by_the_payer, charges_removed, send, versioned
from tests.spine.helpers import sample_bundles

EVENTS = "events-under-test"  # an outbox destination with no adapter: the rows are what is checked


def with_events(flow: Flow) -> None:
    """The runtime a relay configures (``relay.nats_url``), without a NATS server: only rows are checked.

    The flow's workers are built from ``flow.services`` (the same engine and settings); intake, which
    never reads the runtime, keeps the services the client was built with."""
    runtime = dataclasses.replace(flow.services.runtime, events_destination=EVENTS)
    flow.services = dataclasses.replace(flow.services, runtime=runtime)


def rows(flow: Flow, claim_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    with flow.services.engine.connect() as conn:
        found = conn.execute(select(Outbox.kind, Outbox.key, Outbox.payload).order_by(Outbox.id)).all()
    return [(k, key, p) for k, key, p in found if claim_id in key]


def test_a_withdrawn_claim_writes_a_task_and_a_status_event_once(flow: Flow) -> None:
    with_events(flow)
    bundle = sample_bundles(1)[0]
    send(flow, bundle, 1)
    ((claim_id, _),) = flow.claims().items()
    before = len(rows(flow, claim_id))
    send(flow, charges_removed(bundle), 2)
    assert flow.claims()[claim_id]["status"] == "withdrawn"
    new = rows(flow, claim_id)[before:]
    assert [kind for kind, _, _ in new] == ["task", CLAIM_STATUS]
    task, event = new[0][2], new[1][2]
    assert task["identifier"][0]["value"] == claim_id and task["focus"] == {"reference": "Encounter/enc-001"}
    assert task["code"]["text"].startswith("Claim withdrawn") and "no billable charge left" in task["description"]
    assert [i["type"]["text"] for i in task["input"]] == ["claim", "charge-capture.claim-withdrawn"]
    assert (event["claim_id"], event["status"], event["reason"]) == (
        claim_id,
        "withdrawn",
        "charge-capture.claim-withdrawn",
    )
    send(flow, versioned(charges_removed(bundle), "3"), 3)  # evaluated again: already withdrawn, nothing new
    assert len(rows(flow, claim_id)) == before + 2


def test_a_voided_claim_writes_a_task_and_a_version_event_once(flow: Flow) -> None:
    worker, _, claim_id, _ = accepted_by_the_payer(flow, "PAYER9003")
    with_events(flow)
    before = len(rows(flow, claim_id))
    send(flow, charges_removed(sample_bundles(1)[0]), 2)
    new = [(kind, p) for kind, _, p in rows(flow, claim_id)[before:]]
    assert [kind for kind, _ in new] == ["task", CLAIM_VERSION]
    task, event = new[0][1], new[1][1]
    assert task["code"]["text"].startswith("Claim voided") and task["input"][0]["valueString"] == f"{claim_id} v2"
    assert (event["claim_id"], event["version"], event["status"]) == (claim_id, 2, "needs-replacement")
    send(flow, versioned(charges_removed(sample_bundles(1)[0]), "3"), 3)  # evaluated again: already voided
    worker.drain()
    assert len(rows(flow, claim_id)) == before + 2
