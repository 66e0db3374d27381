"""``claims_repo.apply_transition`` on SQLite and PostgreSQL: legal moves are written, illegal ones write nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.db import claims_repo, migrate
from app.db.engine import make_engine
from app.db.models import Claim
from app.domain.claim_status import ClaimEvent, ClaimStatus, IllegalTransition

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
CLAIM = Claim.__table__  # type: ignore[attr-defined]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def new_version(claim_id: str, *, held: bool, fingerprint: str = "f1") -> claims_repo.NewVersion:
    return claims_repo.NewVersion(
        claim_id=claim_id, encounter=f"Encounter/{claim_id}", patient="Patient/p", payer_id="P1", held=held,
        resource={"resourceType": "Claim", "id": claim_id}, fingerprint=fingerprint, mapping_version=None,
        config_hash=None, em=None, findings=[], filing_deadline=None, source_job_id=None,
    )  # fmt: skip


def row(engine: Engine, claim_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(select(CLAIM).where(CLAIM.c.id == claim_id)).mappings().one()
    return {k: found[k] for k in ("status", "updated_at", "patient_control_number", "current_version")}


def stored(engine: Engine, claim_id: str, *, held: bool) -> None:
    with engine.begin() as conn:
        claims_repo.save_version(conn, new_version(claim_id, held=held), now=T0)


def test_a_legal_transition_writes_the_status_and_the_values_of_the_change(engine: Engine) -> None:
    stored(engine, "c1", held=False)
    assert row(engine, "c1")["status"] == "ready"
    later = T0 + timedelta(minutes=5)
    with engine.begin() as conn:
        status = claims_repo.apply_transition(
            conn, "c1", ClaimEvent.SUBMITTED, now=later, values={"patient_control_number": "PCN1"}
        )
    assert status is ClaimStatus.SUBMITTED
    after = row(engine, "c1")
    assert (after["status"], after["patient_control_number"]) == ("submitted", "PCN1")
    assert after["updated_at"].replace(tzinfo=UTC) == later


@pytest.mark.parametrize(
    ("held", "event"),
    [(False, ClaimEvent.CLEARED), (True, ClaimEvent.SUBMITTED), (True, ClaimEvent.VERSION_CLEAN)],
)
def test_an_illegal_transition_is_refused_and_nothing_is_written(engine: Engine, held: bool, event: ClaimEvent) -> None:
    stored(engine, "c1", held=held)
    before = row(engine, "c1")
    with engine.begin() as conn, pytest.raises(IllegalTransition, match=f"claim c1: event {event} is not allowed"):
        claims_repo.apply_transition(
            conn, "c1", event, now=T0 + timedelta(hours=1), values={"patient_control_number": "PCN1"}
        )
    assert row(engine, "c1") == before  # the transaction went on (committed): still nothing written


def test_an_answer_that_does_not_move_the_claim_writes_nothing(engine: Engine) -> None:
    """A late 999 for a held claim: not a move, and ``updated_at`` (the submitter's hold time) stays."""
    stored(engine, "c1", held=True)
    before = row(engine, "c1")
    with engine.begin() as conn:
        status = claims_repo.apply_transition(conn, "c1", ClaimEvent.REJECTED_999, now=T0 + timedelta(hours=1))
    assert status is ClaimStatus.HELD
    assert row(engine, "c1") == before


def test_a_transition_of_an_unknown_claim_is_refused(engine: Engine) -> None:
    refused = pytest.raises(claims_repo.UnknownClaim, match=r"not stored: claim nope \(event 835-paid\)")
    with engine.begin() as conn, refused:
        claims_repo.apply_transition(conn, "nope", ClaimEvent.PAID_835, now=T0)


def test_new_versions_follow_the_table(engine: Engine) -> None:
    """held → (clean version, never sent) ready → submitted → (clean version) needs-replacement."""
    stored(engine, "c1", held=True)
    steps = [
        (lambda conn: claims_repo.save_version(conn, new_version("c1", held=False, fingerprint="f2"), now=T0)[1]),
        (lambda conn: claims_repo.apply_transition(conn, "c1", ClaimEvent.SUBMITTED, now=T0)),
        (lambda conn: claims_repo.save_version(conn, new_version("c1", held=False, fingerprint="f3"), now=T0)[1]),
    ]
    seen = []
    for step in steps:
        with engine.begin() as conn:
            seen.append(step(conn))
    assert seen == ["ready", "submitted", "needs-replacement"]
    assert row(engine, "c1")["current_version"] == 3


def test_one_illegal_claim_in_a_batch_writes_none_of_them(engine: Engine) -> None:
    """The submitter marks a whole batch at once: a held claim among ready ones leaves every one as it was."""
    for claim_id, held in (("a", False), ("b", True), ("c", False)):
        stored(engine, claim_id, held=held)
    before = {c: row(engine, c) for c in "abc"}
    changes = {c: {"patient_control_number": f"PCN-{c}"} for c in "abc"}
    refused = pytest.raises(IllegalTransition, match="claim b: event submitted is not allowed from status held")
    with engine.begin() as conn, refused:
        claims_repo.apply_transitions(conn, ClaimEvent.SUBMITTED, changes, now=T0 + timedelta(hours=1))
    assert {c: row(engine, c) for c in "abc"} == before
    del changes["b"]
    with engine.begin() as conn:
        moved = claims_repo.apply_transitions(conn, ClaimEvent.SUBMITTED, changes, now=T0 + timedelta(hours=1))
    assert moved == {"a": "submitted", "c": "submitted"}
    assert [row(engine, c)["patient_control_number"] for c in "abc"] == ["PCN-a", None, "PCN-c"]
