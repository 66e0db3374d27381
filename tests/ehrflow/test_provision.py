"""``subscriptions create`` against the test EHR: topics checked first, nothing orphaned, the CLI's reach."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.db import ehr_repo, subscriptions_repo
from app.ehr.provision import Options, ProvisionRolledBack, create_subscriptions
from app.fhir.subscriptions import EXT_FILTER_CRITERIA, EXT_MAX_COUNT, EXT_TIMEOUT, SubscriptionSpecError
from tests.ehr.subs import TOPIC_BASE
from tests.ehrflow.harness import EHR_NAME, ENDPOINT, Flow, running_flow


def create(flow: Flow, **kwargs: Any) -> list[Any]:
    args: dict[str, Any] = {"ehr": EHR_NAME, "endpoint": ENDPOINT, "content": "id-only", "plain": False}
    args.update(heartbeat=None, now=flow.clock.now(), **kwargs)
    return create_subscriptions(flow.services.engine, flow.services.gateway, **args)


def on_ehr(flow: Flow) -> list[dict[str, Any]]:
    return flow.ehr.store.all_of("Subscription")


def registered(flow: Flow) -> list[dict[str, Any]]:
    with flow.services.engine.connect() as conn:
        return subscriptions_repo.list_subscriptions(conn)


def only_topics(flow: Flow, topics: dict[str, str]) -> None:
    with flow.services.engine.begin() as conn:
        ehr_repo.set_topics(conn, EHR_NAME, topics)


async def test_a_type_without_a_topic_is_refused_before_anything_is_created(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, subscribe=False) as flow:
        only_topics(flow, {"Encounter": f"{TOPIC_BASE}/encounter"})
        with pytest.raises(SubscriptionSpecError) as refused:
            create(flow)
        assert "no topic for Coverage, ServiceRequest, MedicationRequest" in str(refused.value)
        assert "--plain" in str(refused.value)  # never plain criteria unless asked
        assert (on_ehr(flow), registered(flow)) == ([], [])
        (sub,) = create(flow, types=["Encounter"])  # what the EHR can do, asked for explicitly
        assert (sub.criteria, sub.plain) == (f"{TOPIC_BASE}/encounter", False)


async def test_a_create_refused_later_deletes_the_ones_already_created(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, subscribe=False) as flow:
        typo = f"MedicationRequest={TOPIC_BASE}/medication-requests"  # the EHR answers 400 to the 4th create
        with pytest.raises(ProvisionRolledBack) as failed:
            create(flow, topics=[typo])
        message = str(failed.value)
        assert "unsupported topic" in message and "deleted again on the EHR and here" in message
        assert message.count("Subscription/") == 3
        assert flow.ehr.count("DELETE", "/fhir/Subscription/") == 3
        assert (on_ehr(flow), registered(flow), flow.ehr.hub.channels) == ([], [], {})


async def test_the_operator_names_a_topic_by_url(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, subscribe=False) as flow:
        only_topics(flow, {})  # registered before its topic definitions could be read
        (sub,) = create(flow, types=["ServiceRequest"], topics=[f"{TOPIC_BASE}/service-request"])
        assert (sub.resource_type, sub.criteria) == ("ServiceRequest", f"{TOPIC_BASE}/service-request")
        with pytest.raises(SubscriptionSpecError, match="lists no definition of topic"):
            create(flow, types=["Coverage"], topics=[f"{TOPIC_BASE}/nope"])
        assert len(on_ehr(flow)) == 1


async def test_filters_timeout_max_count_and_end_reach_the_ehr(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, subscribe=False) as flow:
        options = Options(("Encounter.patient=Patient/p1",), timeout=30, max_count=5, end="2027-01-01T00:00:00Z")
        created = create(flow, types=["Encounter", "Coverage"], options=options)
        stored = {s["criteria"]: s for s in on_ehr(flow)}
        encounter, coverage = stored[f"{TOPIC_BASE}/encounter"], stored[f"{TOPIC_BASE}/coverage"]
        assert encounter["_criteria"]["extension"] == [{"url": EXT_FILTER_CRITERIA, "valueString": options.filters[0]}]
        assert "_criteria" not in coverage  # a filter prefixed with Encounter is Encounter's only
        for sub in (encounter, coverage):
            channel = {e["url"]: next(v for k, v in e.items() if k != "url") for e in sub["channel"]["extension"]}
            assert (channel[EXT_TIMEOUT], channel[EXT_MAX_COUNT], sub["end"]) == (30, 5, "2027-01-01T00:00:00Z")
        assert [c.status for c in created] == ["active", "active"]
        await flow.seed_encounter(0, "other-patient")  # filtered out by the EHR: no event
        assert flow.ehr.hub.channels[created[0].id].events == []


async def test_plain_criteria_carry_filters_and_refuse_backport_settings(db_url: str, tmp_path: Path) -> None:
    async with running_flow(db_url, tmp_path, subscribe=False) as flow:
        with pytest.raises(SubscriptionSpecError, match="not with plain criteria"):
            create(flow, plain=True, options=Options(timeout=30))
        assert on_ehr(flow) == []
        (sub,) = create(flow, plain=True, types=["Encounter"], options=Options(("Encounter.patient=Patient/p1",)))
        assert (sub.criteria, sub.plain) == ("Encounter?status=arrived,in-progress,finished&patient=Patient/p1", True)
