"""``claimbridge demo``: the whole service on the embedded default, fed the bundled sample data.

Starts the API and worker on SQLite, registers a demo subscription with a fresh secret, posts every
sample encounter to the real ``POST /notifications`` endpoint as a backport full-resource
notification, waits for the queue to drain, prints a summary, and keeps serving until Ctrl-C
(``--exit-when-done`` exits 0 once drained). Outbound files land in ``var/out/``.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from app.api.app import create_app
from app.cli.common import CliError
from app.credentials import SecretKeys
from app.db import claims_repo, outbox_repo, outcomes_repo, queue_repo, subscriptions_repo
from app.db.engine import read_only
from app.db.sql import utcnow
from app.domain.claim_status import ClaimStatus
from app.domain.context import key_of
from app.fhir.notifications_build import NotificationEvent, SubscriptionState, build_notification_bundle
from app.services import Services, build_services
from app.settings import Settings

DEMO_SUBSCRIPTION = "claimbridge-demo"
DEMO_TOPIC = "http://claimbridge.example.org/SubscriptionTopic/encounter-finished"
EHR_BASE = "http://ehr.example.org/fhir"
console = Console()


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def load_examples(folder: Path) -> list[dict[str, Any]]:
    files = sorted(folder.glob("*.json"))
    if not files:
        raise CliError(f"no sample bundles in {folder} (run: python examples/generate.py)")
    return [orjson.loads(f.read_bytes()) for f in files]


def notification_for(bundle: dict[str, Any], *, number: int, run_id: str) -> dict[str, Any]:
    """A full-resource backport notification: the Encounter as focus, the rest as additional context."""
    resources = [e["resource"] for e in bundle.get("entry", []) if "resource" in e]
    encounter = next(r for r in resources if r["resourceType"] == "Encounter")
    others = [r for r in resources if r is not encounter]
    state = SubscriptionState(EHR_BASE, DEMO_SUBSCRIPTION, DEMO_TOPIC, "active", number)
    event = NotificationEvent(
        number=number,
        timestamp=datetime.now(UTC).isoformat(),
        focus=encounter,
        additional_context=tuple(f"{EHR_BASE}/{key_of(r)}" for r in others),
    )
    note = build_notification_bundle(
        state,
        notification_type="event-notification",
        timestamp=event.timestamp,
        events=[event],
        content="full-resource",
        bundle_id=f"{run_id}-{number}",
    )
    for r in others:
        note["entry"].append(
            {
                "fullUrl": f"{EHR_BASE}/{key_of(r)}",
                "resource": r,
                "request": {"method": "PUT", "url": key_of(r)},
                "response": {"status": "200"},
            }
        )
    return note


class BackgroundServer:
    def __init__(self, services: Services, host: str, port: int) -> None:
        config = uvicorn.Config(
            create_app(services, run_worker=True),
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="claimbridge-api", daemon=True)

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise CliError("the API did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def run_demo(*, settings: Settings, port: int, examples: Path, exit_when_done: bool) -> None:
    host = settings.api.host
    if not port_free(host, port):
        raise CliError(f"port {port} on {host} is in use; pass --port N")
    bundles = load_examples(examples)
    services = build_services(settings)
    secret = secrets.token_urlsafe(24)
    with services.engine.begin() as conn:
        subscriptions_repo.add_subscription(
            conn,
            subscription_id=DEMO_SUBSCRIPTION,
            secret=secret,
            ehr=None,
            signing_secret=None,
            content="full-resource",
            topic=DEMO_TOPIC,
            heartbeat_period=None,
            now=utcnow(),
            keys=SecretKeys(settings.security.secret_key.get_secret_value()),
        )
        first = 1 + max(
            (
                s["last_event_number"]
                for s in subscriptions_repo.list_subscriptions(conn)
                if s["id"] == DEMO_SUBSCRIPTION
            ),
            default=0,
        )
    server = BackgroundServer(services, host, port)
    server.start()
    base = f"http://{host}:{port}"
    console.print(f"claimbridge demo: serving at {base} (database {settings.database_url})")
    try:
        post_all(base, secret, bundles, first=first)
        wait_for_drain(services)
        submitted = services.submitter().submit()  # the worker would do this on its schedule
        wait_for_drain(services)  # delivers the 837P through the clearinghouse adapter
        print_summary(services)
        if submitted.file_name:
            console.print(
                f"837P batch {submitted.file_name}: {len(submitted.submitted)} claim(s) submitted, "
                f"{len(submitted.held)} refused by the X12 builder"
            )
        if exit_when_done:
            return
        console.print(
            f"Serving at {base} until Ctrl-C. Admin API: {base}/api/claims "
            f"(Authorization: Bearer <CLAIMBRIDGE_API__ADMIN_TOKEN>), docs at {base}/docs"
        )
        while server.thread.is_alive():
            server.thread.join(timeout=0.5)
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        server.stop()
        services.close()


def post_all(base: str, secret: str, bundles: list[dict[str, Any]], *, first: int) -> None:
    run_id = secrets.token_hex(4)
    headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/fhir+json"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client, Progress(console=console) as bar:
        task = bar.add_task("posting notifications", total=len(bundles))
        for i, bundle in enumerate(bundles):
            note = notification_for(bundle, number=first + i, run_id=run_id)
            response = client.post("/notifications", content=orjson.dumps(note))
            if response.status_code >= 300:
                raise CliError(f"notification {i} refused: {response.status_code} {response.text[:200]}")
            bar.advance(task)


def wait_for_drain(services: Services, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    with Progress(console=console) as bar:
        task = bar.add_task("processing", total=None)
        while time.monotonic() < deadline:
            with read_only(services.engine) as conn:
                stats = queue_repo.queue_stats(conn)
                outbox = outbox_repo.counts(conn).get("pending", 0)
                counts = queue_repo.count_by_status(conn)
            done = sum(v for k, v in counts.items() if k != "pending")
            bar.update(task, total=sum(counts.values()), completed=done)
            if stats.pending == 0 and outbox == 0:
                return
            time.sleep(0.2)
    raise CliError(f"the queue did not drain within {timeout:.0f} s")


def print_summary(services: Services) -> None:
    with read_only(services.engine) as conn:
        claims = claims_repo.list_claims(conn, limit=1_000_000)
        dead = queue_repo.list_dead(conn)
        outcomes = outcomes_repo.outcome_counts(conn)
    by_status = Counter(c["status"] for c in claims)
    by_payer: dict[str, Counter[str]] = {}
    categories: Counter[tuple[str, str]] = Counter()
    for c in claims:
        by_payer.setdefault(c["payer"] or "-", Counter())[c["status"]] += 1
        categories.update((f["category"], f["severity"]) for f in c["findings"])
    shown = (ClaimStatus.SUBMITTED, ClaimStatus.READY, ClaimStatus.HELD)
    table = Table("payer", "claims", *shown, title="Claims by payer")
    for payer, counts in sorted(by_payer.items()):
        table.add_row(payer, str(sum(counts.values())), *(str(counts[s]) for s in shown))
    console.print(table)
    findings = Table("category", "errors", "warnings", "info", title="Findings by category")
    for cat in sorted({c for c, _ in categories}):
        findings.add_row(
            cat, str(categories[(cat, "error")]), str(categories[(cat, "warning")]), str(categories[(cat, "info")])
        )
    console.print(findings)
    console.print(
        f"{len(claims)} claims: {dict(by_status)}; dead letters: {len(dead)}; "
        f"outbound files in {services.settings.adapters.out_dir}/"
    )
    print_outcomes(outcomes)


def print_outcomes(counts: dict[str, int]) -> None:
    """Every encounter is accounted for: how many ended in each outcome, and how many have no claim."""
    unbilled = counts.pop("without-claim", 0)
    console.print(
        f"{sum(counts.values())} encounters: {dict(sorted(counts.items()))}; {unbilled} without a claim, "
        "each with its reason (GET /api/encounters?billed=false)"
    )
