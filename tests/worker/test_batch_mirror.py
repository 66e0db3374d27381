"""A batch of jobs stores its resources in the mirror together: one read of the stored versions and
one insert for the batch, each job judged as if the jobs had been upserted one after another."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.db import mirror_repo
from app.db.models import ClaimVersion, Job
from app.services import Services
from tests.spine.helpers import clone_bundle, make_services, register, sample_bundles
from tests.worker.test_batch_commit import encounter_of, patient_of, store
from tests.worker.test_round_trips import counting


@pytest.fixture
def services(db_url: str, tmp_path: Path) -> Iterator[Services]:
    svc = make_services(db_url, tmp_path, worker={"batch_size": 10, "jobs_per_commit": 10, "batch_gather_min_jobs": 2})
    register(svc, sub_id="claimbridge-demo")
    yield svc
    svc.close()


def version_2(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle with its Encounter at versionId 2 and a changed length."""
    v2 = copy.deepcopy(bundle)
    encounter = encounter_of(v2)
    encounter["meta"] = {**encounter.get("meta", {}), "versionId": "2"}
    encounter["length"] = {"value": 61, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}
    return v2


def results(services: Services) -> list[tuple[str, str | None]]:
    with services.engine.connect() as conn:
        return [(s, r) for _, s, r in conn.execute(select(Job.event_number, Job.status, Job.result).order_by(Job.id))]


def mirror_reads_and_inserts(seen: dict[str, int]) -> tuple[int, int]:
    reads = sum(n for k, n in seen.items() if k.replace('"', "").startswith("SELECT resource.key, resource.version_id"))
    inserts = sum(n for k, n in seen.items() if k.replace('"', "").startswith("INSERT INTO resource"))
    return reads, inserts


def drain_counting(services: Services) -> dict[str, int]:
    worker = dataclasses.replace(services.worker(worker_id="w"), duties=())
    with counting(services.engine) as seen:
        worker.drain()
    return dict(seen)


def test_a_batch_reads_the_stored_versions_once_and_inserts_once(services: Services) -> None:
    base = sample_bundles(1)[0]
    store(services, [clone_bundle(base, f"n{n}") for n in range(6)])
    seen = drain_counting(services)
    assert [s for s, _ in results(services)] == ["done"] * 6
    assert mirror_reads_and_inserts(seen) == (1, 1), seen
    with services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one() == 6


def test_a_chunk_below_the_minimum_gathers_job_by_job(db_url: str, tmp_path: Path) -> None:
    """``worker.batch_gather_min_jobs``: a chunk of fewer jobs reads and inserts per job (cheaper for 2-4)."""
    svc = make_services(db_url, tmp_path, worker={"batch_size": 10, "jobs_per_commit": 10, "batch_gather_min_jobs": 4})
    register(svc, sub_id="claimbridge-demo")
    try:
        base = sample_bundles(1)[0]
        store(svc, [clone_bundle(base, f"s{n}") for n in range(3)])
        seen = drain_counting(svc)
        assert [s for s, _ in results(svc)] == ["done"] * 3
        assert mirror_reads_and_inserts(seen) == (3, 3), seen
    finally:
        svc.close()


def test_jobs_of_one_encounter_never_share_a_batch(services: Services) -> None:
    """The claim takes no two jobs of one ordering key together: a version of the focus and an older
    one are judged in two batches (the second superseded), never against each other in one plan."""
    v1 = sample_bundles(1)[0]
    store(services, [version_2(v1), version_2(v1), v1])
    seen = drain_counting(services)
    assert mirror_reads_and_inserts(seen)[0] == 3, seen  # one batch each
    (s1, _), (s2, r2), (s3, r3) = results(services)
    assert (s1, s2, s3) == ("done", "done", "done")
    assert r2 and r2.endswith(":unchanged") and r3 == "superseded"


def patient_versions(base: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Three encounters of one patient: its version 2 (another name), the same again, then version 1."""
    shared = frozenset({"Patient", "Organization", "Practitioner", "PractitionerRole", "Location"})
    a, b, c = (clone_bundle(base, tag, keep=shared) for tag in ("pa", "pb", "pc"))
    for bundle in (a, b):
        patient = patient_of(bundle)
        patient["meta"] = {**patient.get("meta", {}), "versionId": "2"}
        patient["name"] = [{"family": "Newname", "given": ["Ada"]}]
    return a, b, c


def test_a_later_job_of_the_batch_sees_what_an_earlier_one_stored(services: Services) -> None:
    """The patient's version 2 (job 1), the same again (job 2), then the older version 1 (job 3), in one
    batch: judged one job after another, version 2 is inserted once and version 1 is not written."""
    base = sample_bundles(1)[0]
    store(services, list(patient_versions(base)))
    seen = drain_counting(services)
    assert mirror_reads_and_inserts(seen) == (1, 1), seen
    assert not any(k.startswith("UPDATE resource") for k in seen), seen  # nothing overwritten
    assert [s for s, _ in results(services)] == ["done"] * 3
    key = f"Patient/{patient_of(base)['id']}"
    with services.engine.connect() as conn:
        assert (mirror_repo.stored_version(conn, key) or ("",))[0] == "2"
        assert (mirror_repo.get(conn, key) or {})["name"][0]["family"] == "Newname"
        assert conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one() == 3


def test_a_newer_version_later_in_the_batch_is_the_one_stored(services: Services) -> None:
    base = sample_bundles(1)[0]
    a, _, c = patient_versions(base)
    store(services, [c, a])  # version 1, then version 2 of the patient
    seen = drain_counting(services)
    assert mirror_reads_and_inserts(seen) == (1, 1), seen  # version 2 inserted over nothing: no update
    assert not any(k.startswith("UPDATE resource") for k in seen), seen
    assert [s for s, _ in results(services)] == ["done", "done"]
    key = f"Patient/{patient_of(base)['id']}"
    with services.engine.connect() as conn:
        assert (mirror_repo.stored_version(conn, key) or ("",))[0] == "2"
        assert (mirror_repo.get(conn, key) or {})["name"][0]["family"] == "Newname"


def test_an_invalid_resource_sends_the_batch_one_job_at_a_time(services: Services) -> None:
    base = sample_bundles(1)[0]
    bundles = [clone_bundle(base, f"i{n}") for n in range(4)]
    encounter_of(bundles[1])["status"] = "not-a-status"
    store(services, bundles)
    services.worker(worker_id="w").drain()
    assert [s for s, _ in results(services)] == ["done", "dead", "done", "done"]
    with services.engine.connect() as conn:
        bad = f"Encounter/{encounter_of(bundles[1])['id']}"
        assert mirror_repo.get(conn, bad) is None  # nothing of the failing job is stored
        assert mirror_repo.get(conn, f"Encounter/{encounter_of(bundles[2])['id']}") is not None


def org(version: str, name: str) -> dict[str, Any]:
    return {"resourceType": "Organization", "id": "o1", "meta": {"versionId": version}, "name": name}


def test_a_row_stored_after_the_versions_were_read_is_compared_as_an_update(services: Services) -> None:
    now = services.clock()
    with services.engine.begin() as conn:
        mirror_repo.upsert_resources(conn, [org("1", "stored")], now=now)
    # Planned over versions read before that row was stored (another worker's, committed meanwhile).
    same = mirror_repo.plan_upserts([[org("1", "late copy")]], {})
    newer = mirror_repo.plan_upserts([[org("1", "late copy")], [org("2", "newer")]], {})
    with services.engine.begin() as conn:
        assert mirror_repo.write_upserts(conn, same, now=now).outcomes == [{"Organization/o1": "same"}]
        assert (mirror_repo.get(conn, "Organization/o1") or {})["name"] == "stored"
        written = mirror_repo.write_upserts(conn, newer, now=now)
        assert written.outcomes == [{"Organization/o1": "same"}, {"Organization/o1": "updated"}]
        assert written.before == [{"Organization/o1": ("1", None)}, {"Organization/o1": ("1", None)}]
        assert written.held["Organization/o1"]["name"] == "newer"
        assert (mirror_repo.get(conn, "Organization/o1") or {})["name"] == "newer"


def test_the_plan_judges_each_job_after_the_earlier_ones() -> None:
    plan = mirror_repo.plan_upserts([[org("2", "b")], [org("1", "a")], [org("2", "b again")], [org("3", "c")]], {})
    assert plan.outcomes == [
        {"Organization/o1": "new"},
        {"Organization/o1": "stale"},
        {"Organization/o1": "same"},
        {"Organization/o1": "updated"},
    ]
    assert [b.get("Organization/o1") for b in plan.before] == [None, ("2", None), ("2", None), ("2", None)]
    assert plan.final["Organization/o1"]["name"] == "c" and plan.held["Organization/o1"]["name"] == "c"


def test_an_update_never_overwrites_a_version_stored_after_the_versions_were_read(services: Services) -> None:
    """Another worker stored version 4 after this one read version 2 (the read does not lock): this
    worker's version 3 must not overwrite it. It is judged against version 4 instead (stale)."""
    now = services.clock()
    with services.engine.begin() as conn:
        mirror_repo.upsert_resources(conn, [org("2", "read")], now=now)
    with services.engine.begin() as conn:
        read = mirror_repo.stored_versions(conn, ["Organization/o1"])
        mirror_repo.upsert_resources(conn, [org("4", "stored meanwhile")], now=now)  # as another worker's, committed
        plan = mirror_repo.plan_upserts([[org("3", "mine")], [org("5", "later job")]], read)
        assert plan.outcomes == [{"Organization/o1": "updated"}, {"Organization/o1": "updated"}]
        written = mirror_repo.write_upserts(conn, mirror_repo.plan_upserts([[org("3", "mine")]], read), now=now)
        assert written.outcomes == [{"Organization/o1": "stale"}]
        assert written.before == [{"Organization/o1": ("4", None)}]
        assert "Organization/o1" not in written.held
        assert (mirror_repo.get(conn, "Organization/o1") or {})["name"] == "stored meanwhile"
        newer = mirror_repo.write_upserts(conn, plan, now=now)  # a later job of the batch carries version 5
        assert newer.outcomes == [{"Organization/o1": "stale"}, {"Organization/o1": "updated"}]
        assert newer.held["Organization/o1"]["name"] == "later job"
        assert (mirror_repo.get(conn, "Organization/o1") or {})["name"] == "later job"


def test_updates_that_all_apply_send_one_statement(services: Services) -> None:
    """The check that no row changed since the read costs nothing when none did (the rows updated counted)."""
    now = services.clock()
    orgs = [{**org("1", "a"), "id": f"o{n}"} for n in range(3)]
    with services.engine.begin() as conn:
        mirror_repo.upsert_resources(conn, orgs, now=now)
    newer = [{**o, "meta": {"versionId": "2"}, "name": "b"} for o in orgs]
    with services.engine.begin() as conn:
        plan = mirror_repo.plan_upserts(
            [newer], mirror_repo.stored_versions(conn, [f"Organization/o{n}" for n in range(3)])
        )
        with counting(services.engine) as seen:
            written = mirror_repo.write_upserts(conn, plan, now=now)
    assert written.outcomes == [{f"Organization/o{n}": "updated" for n in range(3)}]
    assert sum(seen.values()) == 1 and all(k.startswith("UPDATE resource") for k in seen), seen
    with services.engine.connect() as conn:
        assert [(mirror_repo.get(conn, f"Organization/o{n}") or {}).get("name") for n in range(3)] == ["b"] * 3
