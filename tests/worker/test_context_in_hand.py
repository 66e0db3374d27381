"""The encounter context built from the resources a job has just stored is the mirror's context.

The worker hands :func:`app.db.mirror_repo.load_context` the bodies it has just written
(``held``) instead of reading and decoding them again. The reference path is the same function
without them: everything read from the mirror. About 30 demo encounters (clinicians,
organisations and payers recur across them, so "same version" rows the job did not write are taken
from the job, the mirror holding that version; one patient comes twice) go through the real worker
once per database; then each stored claim must be exactly what the reference path produces, and
each context must be the same resources in the same order. The evaluation must not change the
resources it is given (they are the job's own now), and the context and eligibility reads must
search indexes.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from app.config.loader import load_config
from app.db import claims_repo, eligibility_repo, encounter_claims_repo, mirror_repo
from app.db.models import Claim, ClaimVersion
from app.domain.context import EncounterContext, build_contexts, is_history, key_of, patient_of
from app.evaluate import evaluate_encounter, history_for
from app.priorauth.alerts import ORDER_TYPES, gather_for, gathered_from
from app.services import Services
from app.worker.pipeline import evaluate
from tests.conftest import fresh_schema, skip_without_postgres
from tests.spine.helpers import ROOT, make_services, register, sample_bundles
from tests.worker.test_batch_commit import jobs, store

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def ticking_clock() -> Any:
    """A deterministic clock that moves 1 ms per reading (claims are ordered by when they were made)."""
    ticks = itertools.count()
    return lambda: START + timedelta(milliseconds=next(ticks))


def demo_subset() -> list[dict[str, Any]]:
    """Every third demo bundle and the two of the patient seen twice (42, 43): ≈ 30 encounters,
    clinicians, organisations and payers shared between them (kept fast: a few seconds per database)."""
    bundles = sample_bundles()
    return [b for n, b in enumerate(bundles) if n % 3 == 0 or n in (42, 43)]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def processed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_url: str | None
) -> Iterator[tuple[Services, list[dict[str, Any]]]]:
    """Every demo bundle stored and processed by the real worker (module-scoped: done once per database)."""
    tmp = tmp_path_factory.mktemp(f"in-hand-{request.param}")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp / 'cb.db'}"
        elif pg_url is None:
            skip_without_postgres()
        else:
            url = stack.enter_context(fresh_schema(pg_url))
        services = make_services(url, tmp, clock=ticking_clock())
        stack.callback(services.close)
        register(services, sub_id="claimbridge-demo")
        bundles = demo_subset()
        store(services, bundles)
        services.worker(worker_id="w").drain()
        assert {status for _, status, _, _ in jobs(services)} == {"done"}
        yield services, bundles


def _shape(ctx: EncounterContext) -> tuple[Any, ...]:
    """Everything of a context that mapping and rules can see, order included."""
    by_type = {t: [key_of(r) for r in rs] for t, rs in ctx.index.by_type.items()}
    return (ctx.key, ctx.encounter, list(ctx.index.by_key.items()), by_type, ctx.index.aliases, ctx.history, ctx.ehr)


def test_every_stored_claim_is_what_the_mirror_alone_gives(processed: tuple[Services, list[dict[str, Any]]]) -> None:
    services, bundles = processed
    with services.engine.connect() as conn:
        stored = conn.execute(
            select(Claim.encounter, ClaimVersion.fingerprint, ClaimVersion.resource)
            .join(ClaimVersion, (ClaimVersion.claim_id == Claim.id) & (ClaimVersion.version == Claim.current_version))
            .order_by(Claim.encounter, Claim.id)
        ).all()
        assert conn.execute(select(func.count()).select_from(ClaimVersion)).scalar_one() == len(stored)
        assert len({e for e, _, _ in stored}) >= len(bundles) - 5  # nearly every demo encounter bills
        for encounter, fingerprint, claim in stored:
            ev = evaluate(conn, encounter, runtime=services.runtime, today=START.date(), now=START)
            assert ev is not None, encounter
            mine = [e for e in (ev, *ev.parts) if e.claim_id == claim["id"]]
            assert len(mine) == 1, encounter
            assert mine[0].fingerprint == fingerprint, encounter
            drop = ("created",)
            assert {k: v for k, v in mine[0].claim.items() if k not in drop} == {
                k: v for k, v in claim.items() if k not in drop
            }


def test_the_context_from_resources_in_hand_is_the_mirrors(processed: tuple[Services, list[dict[str, Any]]]) -> None:
    services, bundles = processed
    with services.engine.connect() as conn:
        for bundle in bundles:
            resources = [e["resource"] for e in bundle["entry"]]
            # What a job holds after its upsert: every resource of its notification, as stored.
            held = {key_of(r): r for r in resources}
            for enc in (r for r in resources if r["resourceType"] == "Encounter" and not is_history(r)):
                reference = mirror_repo.load_context(conn, key_of(enc))
                in_hand = mirror_repo.load_context(conn, key_of(enc), held=held)
                assert reference is not None and in_hand is not None
                assert _shape(in_hand) == _shape(reference), key_of(enc)
                partly = dict(itertools.islice(held.items(), 0, None, 2))  # some held, the rest read
                again = mirror_repo.load_context(conn, key_of(enc), held=partly)
                assert again is not None and _shape(again) == _shape(reference), key_of(enc)


def test_evaluation_leaves_its_context_untouched(tmp_path: Path) -> None:
    """Contexts share the job's resource dicts now: mapping and rules must not change them."""
    config = load_config(ROOT / "config", refdata_dirs=[tmp_path])
    for bundle in demo_subset():
        resources = [e["resource"] for e in bundle["entry"]]
        before = copy.deepcopy(resources)
        past = [r for r in resources if r["resourceType"] == "Encounter" and is_history(r)]
        current = [r for r in resources if r not in past]
        for ctx in build_contexts(current, history=past):
            history = history_for(ctx, prior_claims=())
            evaluate_encounter(ctx, config=config, history=history, today=START.date(), now=START)
        assert resources == before


def _plan(conn: Any, statement: Any, params: dict[str, Any]) -> str:
    sql = str(statement.params(params).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return "\n".join(str(r[3]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    conn.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))


def test_context_and_verification_reads_search_indexes_not_every_row(
    processed: tuple[Services, list[dict[str, Any]]],
) -> None:
    """With ``ehr = ?`` outside the OR, SQLite walked every resource of the EHR per encounter; with
    ``status = 'done'`` beside the patient it walked every answered check of every patient."""
    services, _ = processed
    with services.engine.begin() as conn:
        context = _plan(
            conn,
            mirror_repo._SELECT_CONTEXT_ROWS[conn.dialect.name],
            {
                "ehr": "default",
                "encounters": ["Encounter/x", "Encounter/z"],
                "patients": ["Patient/y"],
                "have": ["Patient/y"],
            },
        )
        checks = _plan(conn, eligibility_repo._PATIENT_CHECKS, {"ehr": "default", "patient": "Patient/y"})
        prior = _plan(conn, claims_repo._PRIOR_CLAIMS, {"ehr": "default", "patient": "Patient/y", "encounter": "E/x"})
        both = _plan(
            conn,
            encounter_claims_repo._CLAIMS_AND_PRIOR,
            {"ehr": "default", "patient": "Patient/y", "encounter": "E/x"},
        )
    for plan in (context, checks, prior, both):
        assert "Seq Scan" not in plan and not any(line.startswith("SCAN ") for line in plan.splitlines()), plan
        assert "(ehr=?)" not in plan and "(status=?)" not in plan, plan


def test_orders_judged_from_the_context_see_what_the_mirror_gives(
    processed: tuple[Services, list[dict[str, Any]]],
) -> None:
    """Prior-auth judges a job's orders from the encounter context (no reads): the same coverages,
    payor organisations and authorizations, in the same order, as the mirror's own queries."""
    services, bundles = processed
    compared, authorized = 0, 0
    with services.engine.connect() as conn:
        for bundle in bundles:
            resources = [e["resource"] for e in bundle["entry"]]
            orders = [r for r in resources if r["resourceType"] in ORDER_TYPES]
            for enc in (r for r in resources if r["resourceType"] == "Encounter" and not is_history(r)):
                ctx = mirror_repo.load_context(conn, key_of(enc))
                patient = patient_of(enc)
                assert ctx is not None and patient is not None
                mine = [o for o in orders if patient_of(o) == patient]
                reference, in_context = gather_for(conn, patient, mine), gathered_from(ctx, patient, mine)
                assert in_context.coverages == reference.coverages, key_of(enc)
                assert in_context.authorizations == reference.authorizations, key_of(enc)
                assert list(in_context.index.by_key.items()) == list(reference.index.by_key.items()), key_of(enc)
                compared += bool(reference.coverages)
                authorized += bool(reference.authorizations)
    assert compared >= len(bundles) - 5 and authorized >= 1  # coverages nearly everywhere; one authorization


def test_a_version_in_hand_stands_for_the_stored_one_only_when_identical(db_url: str, tmp_path: Path) -> None:
    """``written`` takes a ``same`` resource from the job only with the stored versionId AND lastUpdated."""
    services = make_services(db_url, tmp_path)
    now = START
    org = {"resourceType": "Organization", "id": "o1", "meta": {"versionId": "3", "lastUpdated": "2026-01-01"}}
    try:
        with services.engine.begin() as conn:
            mirror_repo.upsert_resources(conn, [org], now=now)
        with services.engine.begin() as conn:
            written: dict[str, dict[str, Any]] = {}
            same = {**org, "name": "as delivered again"}
            assert mirror_repo.upsert_resources(conn, [same], now=now, written=written) == {"Organization/o1": "same"}
            assert written == {"Organization/o1": same}
            written.clear()
            other = {**org, "meta": {"versionId": "3", "lastUpdated": "2026-02-01"}}
            assert mirror_repo.upsert_resources(conn, [other], now=now, written=written) == {"Organization/o1": "same"}
            assert written == {}  # same versionId, another lastUpdated: the mirror's body is read, not this one
            assert mirror_repo.get(conn, "Organization/o1") == org
    finally:
        services.close()


def test_an_encounters_claims_and_prior_billing_in_one_read_are_the_two_reads(
    processed: tuple[Services, list[dict[str, Any]]],
) -> None:
    """``claims_and_prior`` (one statement per evaluated encounter) gives what ``claims_of`` and
    ``prior_claims_for_patient`` give, in the same order (the patient seen twice has prior billing)."""
    services, _ = processed
    with services.engine.connect() as conn:
        pairs = conn.execute(select(Claim.encounter, Claim.patient).distinct().order_by(Claim.encounter)).all()
        with_prior = 0
        for encounter, patient in [*pairs, ("Encounter/none", "Patient/none")]:
            own, prior = encounter_claims_repo.claims_and_prior(conn, encounter, patient, ehr="default")
            assert own == encounter_claims_repo.claims_of(conn, encounter, ehr="default"), encounter
            assert prior == claims_repo.prior_claims_for_patient(
                conn, patient, exclude_encounter=encounter, ehr="default"
            ), encounter
            with_prior += bool(prior)
        assert with_prior >= 1


def test_the_contexts_of_many_encounters_read_together_are_each_ones_own(
    processed: tuple[Services, list[dict[str, Any]]],
) -> None:
    """One read for a batch's encounters (patients shared, one seen twice) splits into the contexts
    each encounter's own read gives, with some bodies held and the rest read."""
    services, bundles = processed
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    encounters = sorted({key_of(r) for r in resources if r["resourceType"] == "Encounter" and not is_history(r)})
    held = dict(itertools.islice(((key_of(r), r) for r in resources), 0, None, 3))
    with services.engine.connect() as conn:
        together = mirror_repo.load_contexts(conn, [*encounters, "Encounter/not-stored"], held=held)
        assert together.pop("Encounter/not-stored") is None
        assert list(together) == encounters
        for encounter in encounters:
            alone = mirror_repo.load_context(conn, encounter)
            assert alone is not None and (mine := together[encounter]) is not None
            assert _shape(mine) == _shape(alone), encounter


def test_every_write_to_the_mirror_is_counted_on_its_connection(db_url: str, tmp_path: Path) -> None:
    """A context read before a write is not used after it (pipeline.gather_batch's ``read_at``)."""
    services = make_services(db_url, tmp_path)
    try:
        org = {"resourceType": "Organization", "id": "w1", "meta": {"versionId": "1"}, "name": "n"}
        with services.engine.begin() as conn:
            before = mirror_repo.writes(conn)
            mirror_repo.upsert_resources(conn, [org], now=services.clock())
            assert mirror_repo.writes(conn) == before + 1
            mirror_repo.upsert_resources(conn, [org], now=services.clock())  # the same version: nothing written
            assert mirror_repo.writes(conn) == before + 1
            mirror_repo.upsert_resources(conn, [{**org, "meta": {"versionId": "2"}}], now=services.clock())
            assert mirror_repo.writes(conn) == before + 2
    finally:
        services.close()
