"""Test helpers for the spine: services on a given database, notifications from sample bundles."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from app.cli.demo import notification_for
from app.credentials import SecretKeys
from app.db.sql import utcnow
from app.db.subscriptions_repo import add_subscription
from app.metrics import Metrics
from app.services import Services, build_services
from app.settings import Settings
from app.worker.expansion import InboxExpander

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "bundles"
ADMIN = "test-admin-token-0123456789"
SECRET = "SAMPLE_TOKEN"


def bearer(secret: str = SECRET) -> dict[str, str]:
    """Headers of a notification from the sender holding ``secret``."""
    return {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {secret}"}


def make_services(db_url: str, tmp: Path, *, clock: Any = utcnow, **overrides: Any) -> Services:
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=ROOT / "config",
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN},
        adapters={"out_dir": str(tmp / "out")},
        **overrides,
    )
    return build_services(settings, clock=clock)


class SetClock:
    """A clock the test moves by assigning ``now`` (the services call it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def expand(engine: Engine) -> int:
    """The worker's expansion duty until no inbox row is pending (jobs of what intake acknowledged)."""
    return InboxExpander(engine=engine, metrics=Metrics()).drain()


def register(services: Services, sub_id: str = "123", secret: str = SECRET, **kw: Any) -> None:
    with services.engine.begin() as conn:
        add_subscription(
            conn,
            subscription_id=sub_id,
            secret=secret,
            ehr=kw.get("ehr"),
            signing_secret=kw.get("signing_secret"),
            content=kw.get("content"),
            topic=None,
            heartbeat_period=None,
            now=utcnow(),
            keys=SecretKeys(services.settings.security.secret_key.get_secret_value()),
        )


def sample_bundles(limit: int | None = None) -> list[dict[str, Any]]:
    files = sorted(EXAMPLES.glob("*.json"))[:limit]
    return [json.loads(f.read_text()) for f in files]


def clone_bundle(bundle: dict[str, Any], suffix: str, *, keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The same encounter under new ids (every resource renamed, references rewritten); resources of
    the types in ``keep`` (shared clinicians, organisations) keep their ids."""
    clone = copy.deepcopy(bundle)
    keys = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in clone["entry"]
        if e["resource"]["resourceType"] not in keep
    }

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (f"{v}-{suffix}" if k == "reference" and v in keys else rewrite(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    clone = rewrite(clone)
    for entry in clone["entry"]:
        if entry["resource"]["resourceType"] not in keep:
            entry["resource"]["id"] = f"{entry['resource']['id']}-{suffix}"
        entry.pop("fullUrl", None)
    return clone


def notification(bundle: dict[str, Any], number: int, *, sub_id: str = "claimbridge-demo") -> dict[str, Any]:
    note = notification_for(bundle, number=number, run_id=f"t{number}")
    if sub_id != "claimbridge-demo":
        status = note["entry"][0]["resource"]["parameter"][0]["valueReference"]
        status["reference"] = status["reference"].replace("claimbridge-demo", sub_id)
    return note
