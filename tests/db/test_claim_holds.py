"""A held warning keeps the claim ``held`` until acknowledged, on SQLite and PostgreSQL (issue 11 item 9)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from app.db import claims_repo, migrate
from app.db.claims_repo import FINDING
from app.db.engine import make_engine
from app.domain.findings import Category, Finding, Severity

T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    migrate.upgrade(eng)
    yield eng
    eng.dispose()


def test_an_acknowledged_hold_releases_the_claim(engine: Engine) -> None:
    held = Finding("coding.em-overcoded", Category.CODING, Severity.WARNING, "99215 on 12 min", "Claim.item[0]",
                   None, "review", hold=True)  # fmt: skip
    other = Finding("coding.hcpcs-unknown", Category.CODING, Severity.WARNING, "unknown", "Claim.item[1]", None, "x")
    new = claims_repo.NewVersion(
        claim_id="c1", encounter="Encounter/e1", patient="Patient/p", payer_id="60054", held=True,
        resource={"resourceType": "Claim", "id": "c1"}, fingerprint="f", mapping_version=None, config_hash=None,
        em=None, findings=[held, other], filing_deadline=None, source_job_id=None,
    )  # fmt: skip
    with engine.begin() as conn:
        _, status = claims_repo.save_version(conn, new, now=T0)
        rows = conn.execute(select(FINDING.c.id, FINDING.c.rule, FINDING.c.hold).order_by(FINDING.c.id)).all()
    assert status == "held"
    assert [(r.rule, r.hold) for r in rows] == [("coding.em-overcoded", True), ("coding.hcpcs-unknown", False)]
    with engine.begin() as conn:  # acknowledging the unheld warning changes nothing
        claim = claims_repo.override_finding(conn, claim_id="c1", finding_id=rows[1].id, by="coder", reason="ok",
                                             now=T0)  # fmt: skip
    assert claim is not None and claim["status"] == "held"
    with engine.begin() as conn:
        claim = claims_repo.override_finding(conn, claim_id="c1", finding_id=rows[0].id, by="coder",
                                             reason="time documented in the addendum", now=T0)  # fmt: skip
    assert claim is not None and claim["status"] == "ready"
    assert any(f.get("hold") for f in claim["findings"])
