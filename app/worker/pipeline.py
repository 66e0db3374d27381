"""The one orchestrator: what happens to a job, step by step, inside one transaction.

    1 gather   the notification's resources, plus what step 1b fetched from the EHR (current
               versions), each validated once, here -> the mirror; drop stale versions
    2 map      each affected encounter's context -> an R4 Claim               (app.evaluate, pure)
    3 check    rules over the claim -> findings                               (app.evaluate, pure)
    4 persist  claim version + findings + outbox rows, and every encounter's outcome (its claim or
               why there is none: app.worker.outcomes); a stored claim the encounter no longer
               yields is withdrawn or voided (app.worker.retire), then the job is done (same transaction)

A ``ready`` claim is not sent from here: the batch submitter (:mod:`app.worker.submit`) collects the
ready claims into one 837P per run.

Step 1b (:mod:`app.worker.prefetch`) runs before the transaction: for an id-only focus, an empty
payload or a recovered gap the worker fetches from the subscription's EHR and passes the result to
:func:`process_job` as ``prepared``. A focus the EHR no longer has finishes the job as ``gone``.

Nothing commits half-way: the caller owns the transaction and rolls it back on any error.
A resource version older than the stored one is "superseded" (unless it was just fetched: fetched
resources are the EHR's current version); re-delivered input that changes nothing yields no new
claim version (same fingerprint).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from app.config.loader import ClaimConfig
from app.db import (
    claims_repo,
    ehr_repo,
    eligibility_repo,
    encounter_claims_repo,
    mirror_repo,
    outbox_repo,
    outcomes_repo,
    queue_repo,
)
from app.db.queue_repo import ClaimedJob
from app.domain.claim_status import ClaimStatus
from app.domain.context import EncounterContext
from app.domain.resources import is_newer, patient_of
from app.domain.tenancy import DEFAULT_EHR
from app.ehr.fetch import Fetched
from app.eligibility.triggers import Requested, plan_checks
from app.evaluate import Evaluation, evaluate_encounter, history_for
from app.fhir.r4 import InvalidResource, validate_resource
from app.intake.notification import InvalidNotification, Notification, parse_notification
from app.intake.parsed import ParsedNotes
from app.priorauth.alerts import consider_orders, rules_for
from app.priorauth.submit import take_notified_responses
from app.relay.events import CLAIM_VERSION, claim_version_event, event_key
from app.worker.errors import FatalJobError
from app.worker.outcomes import outcome_to_store, record_outcome
from app.worker.prefetch import Prepared
from app.worker.retire import settle
from app.writeback import writeback_payload


@dataclass(frozen=True)
class Runtime:
    """What the pipeline needs besides the transaction (injected, read once)."""

    config: ClaimConfig
    clock: Callable[[], datetime]
    writeback_destination: str = "writeback"
    clearinghouse_destination: str = "clearinghouse"
    validate_inputs: bool = True
    #: Write-back goes to the job's own EHR (destination ``ehr:<name>``) when it has one.
    writeback_per_ehr: bool = False
    #: Outbox destination of the events relayed to downstream consumers (None: no event rows).
    events_destination: str | None = None
    #: Eligibility checks this process knows stored (the eligibility duty's ahead rounds add theirs).
    requested: Requested = field(default_factory=Requested, compare=False)
    #: Notifications parsed by the eligibility duty's ahead rounds, taken by their jobs' prefetch.
    parsed: ParsedNotes = field(default_factory=ParsedNotes, compare=False)

    def writeback_for(self, ehr: str | None) -> str:
        return f"ehr:{ehr}" if self.writeback_per_ehr and ehr else self.writeback_destination


def process_job(
    conn: Connection,
    job: ClaimedJob,
    *,
    runtime: Runtime,
    prepared: Prepared | None = None,
    gathered: Gathered | None = None,
) -> str:
    """Run one job (with step 1b's result, if any); returns a short result (claim ids and what happened).

    ``gathered``: its step 1 done already, with the other jobs of its batch (:func:`gather_batch`).
    """
    now = runtime.clock()
    fetched = prepared.fetched if prepared else None
    if fetched is not None and fetched.gone is not None:
        return "gone"
    if gathered is None:
        resources, stored = gather(conn, job, runtime=runtime, prepared=prepared)
        written: dict[str, dict[str, Any]] = {}  # the bodies stored: each encounter's context starts from them
        upserted = mirror_repo.upsert_resources(conn, resources, now=now, stored=stored, ehr=job.ehr, written=written)
    else:  # gathered and stored with the other jobs of its batch (gather_batch)
        resources, stored, upserted, written = gathered.resources, gathered.stored, gathered.upserted, gathered.held
    changed = [r for r in resources if not mirror_repo.is_known(r, stored)]
    # ``written``: the bodies just stored (no lookup of them); ``requested``: checks already stored (planned
    # ahead from this notification): planned again as ``known``, so nothing is inserted or asked for them.
    planned = plan_checks(conn, changed, payers=runtime.config.payers, now=now, ehr=job.ehr, held=written,
                          requested=runtime.requested)  # fmt: skip
    eligibility_repo.request_checks(conn, planned, now=now)
    foci = fetched.foci if fetched is not None else ((job.focus,) if job.focus else ())
    if fetched is None and job.focus is not None:
        carried = any(f"{r.get('resourceType')}/{r.get('id')}" == job.focus for r in resources)
        if is_superseded(conn, job, stored if carried else None):
            return "superseded"
        if not carried and mirror_repo.get(conn, job.focus, ehr=job.ehr) is None:
            raise FatalJobError(f"{job.focus} is not in the notification and no EHR is configured to fetch it")
    encounters = sorted({e for focus in foci for e in encounters_for(conn, focus, upserted, ehr=job.ehr)})
    destination = runtime.writeback_for(prepared.ehr if prepared else None)
    take_notified_responses(conn, resources, writeback=destination, now=now)  # PAS decisions notified by the payer
    # The mirror does not change after this point in the job: each context is loaded once, for the
    # orders' prior-auth judgement and for the claim.
    # Read with its batch's (gather_batch) unless the mirror was written since (a PAS decision just taken).
    preloaded = gathered.contexts if gathered is not None and gathered.read_at == mirror_repo.writes(conn) else {}
    contexts = {
        e: preloaded[e] if e in preloaded else mirror_repo.load_context(conn, e, ehr=job.ehr, held=written)
        for e in encounters
    }
    by_patient = {patient_of(c.encounter): c for c in reversed(contexts.values()) if c is not None}
    consider_orders(
        conn,
        resources,
        rules_for(runtime.config),
        destination=destination,
        now=now,
        ehr=job.ehr,
        contexts={p: c for p, c in by_patient.items() if p is not None},
    )
    results = []
    for encounter in encounters:  # one at a time: a claim persisted here is prior billing for the next
        ctx = contexts[encounter]
        # Its stored claims, read once, and the patient's prior billing, in one statement.
        patient = patient_of(ctx.encounter) if ctx is not None else None
        own, prior = encounter_claims_repo.claims_and_prior(conn, encounter, patient, ehr=job.ehr)
        ev = evaluate(conn, encounter, runtime=runtime, today=now.date(), now=now, ehr=job.ehr, context=ctx,
                      stored=own, prior=prior, applied=True)  # fmt: skip
        settled = settle(conn, encounter, ev, ehr=job.ehr, job_id=job.id, now=now, stored=own,  # no longer yielded
                         writeback=destination, events=runtime.events_destination)  # fmt: skip
        outcome = outcome_to_store(conn, encounter, ev, config=runtime.config, ehr=job.ehr, settled=settled,
                                   context=ctx)  # fmt: skip
        row = outcomes_repo.outcome_values(outcome, job_id=job.id, now=now, ehr=job.ehr) if outcome else None
        listed = {c.claim_id for c in own.claims}
        for part in settled.keep:  # the claim, and the parts of one split for the 837P's limits
            results.append(persist(conn, part, job=job, runtime=runtime, now=now, writeback=destination,
                                   new=part.claim_id not in listed, outcome=row))  # fmt: skip
            row = None  # written with the first part
        if row is not None:
            outcomes_repo.save_values(conn, row)
    if fetched is not None and fetched.pulled:
        finish_pull(conn, job, fetched, now=now)
        return "pulled:" + (",".join(results) or "nothing-new")
    if not foci:
        return "no-focus"
    return ",".join(results) or "no-claim"


def encounters_for(conn: Connection, focus: str, upserted: dict[str, str], *, ehr: str = DEFAULT_EHR) -> list[str]:
    """The encounters a change to ``focus`` affects; an Encounter this job just stored is its own."""
    if (own := encounters_for_stored(focus, upserted)) is not None:
        return own
    return mirror_repo.encounters_for(conn, focus, ehr=ehr)


def encounters_for_stored(focus: str, upserted: dict[str, str]) -> list[str] | None:
    """:func:`encounters_for` without the mirror: an Encounter this job just stored is its own (None: ask)."""
    if focus.startswith("Encounter/") and upserted.get(focus) in ("new", "updated", "same"):
        return [focus]
    return None


def finish_pull(conn: Connection, job: ClaimedJob, fetched: Fetched, *, now: datetime) -> None:
    """A notified pull covers every pull job of its subscription stored before it began."""
    if fetched.pull_mark is not None:
        ehr_repo.advance_pull_mark(conn, job.subscription_id, fetched.pull_mark)
    queue_repo.coalesce_pull_jobs(
        conn, subscription_id=job.subscription_id, job_id=job.id, key=job.key, started_at=fetched.started_at or now
    )


def gather(
    conn: Connection, job: ClaimedJob, *, runtime: Runtime, prepared: Prepared | None
) -> tuple[list[dict[str, Any]], dict[str, tuple[str | None, str | None]]]:
    """Step 1: the resources the notification carried and those fetched, validated against R4.

    A resource version already in the mirror was validated when it entered and is not validated
    again (Practitioners, Organizations, Patients repeat in every notification). Returns the
    resources and the stored versions read to decide that.
    """
    resources = carried(conn, job, prepared)
    keys = (f"{r.get('resourceType')}/{r.get('id')}" for r in resources)
    stored = mirror_repo.stored_versions(conn, keys, ehr=job.ehr)
    if runtime.validate_inputs:
        _validate(resources, stored)
    return resources, stored


def carried(conn: Connection, job: ClaimedJob, prepared: Prepared | None) -> list[dict[str, Any]]:
    """The resources the job's notification carries, then those step 1b fetched."""
    note = prepared.note if prepared else read_notification(conn, job)
    resources = [r for r, _ in note.resources]
    if prepared and prepared.fetched:
        resources += prepared.fetched.resources
    return resources


@dataclass(frozen=True)
class Gathered:
    """Step 1 of one job of a batch (:func:`gather_batch`): its resources, the stored versions of
    their keys as they stood when its turn came, what its upsert did to each, and the stored bodies."""

    resources: list[dict[str, Any]]
    stored: dict[str, tuple[str | None, str | None]]
    upserted: dict[str, str]
    held: dict[str, dict[str, Any]]
    #: The contexts of the encounters it will evaluate, read with the batch's, and the mirror's write
    #: count (:func:`app.db.mirror_repo.writes`) when they were: used only if no write came since.
    contexts: dict[str, EncounterContext | None] = field(default_factory=dict)
    read_at: int = -1


def gather_batch(
    conn: Connection, items: Sequence[tuple[ClaimedJob, Prepared | None]], *, runtime: Runtime
) -> dict[int, Gathered]:
    """Step 1 and the mirror's upsert for a batch of jobs sharing a transaction: per EHR, one read of
    the stored versions and one write (:func:`app.db.mirror_repo.write_upserts`), before any of the
    jobs runs on.

    Each job is judged as if the jobs had been upserted one after another in batch order: its
    validation, ``changed`` resources, superseded check and ``upserted`` outcomes read the versions
    stored before the batch with the earlier jobs' writes over them. What it then reads from the
    mirror (contexts, links) is the mirror after the whole batch: a job may see a newer version
    that a later job of its batch carries, as if both notifications had arrived together. The
    contexts of the encounters the jobs name as their focus (stored, not stale) are read here too,
    in one query per EHR for the batch (:func:`app.db.mirror_repo.load_contexts`); a job uses them
    unless the mirror was written after (:attr:`Gathered.read_at`). Raises as
    :func:`gather` does (an invalid resource: :class:`FatalJobError`); the caller then runs the jobs
    one by one. A job whose focus is gone is left out (it writes nothing).
    """
    now = runtime.clock()
    per_ehr: dict[str, list[tuple[ClaimedJob, list[dict[str, Any]]]]] = {}
    fetched_jobs = {job.id for job, prepared in items if prepared is not None and prepared.fetched is not None}
    for job, prepared in items:
        fetched = prepared.fetched if prepared else None
        if fetched is not None and fetched.gone is not None:
            continue
        resources = carried(conn, job, prepared)
        per_ehr.setdefault(job.ehr, []).append((job, resources))
    gathered: dict[int, Gathered] = {}
    own: dict[str, dict[int, list[str]]] = {}  # per EHR: job -> the encounters it evaluates, if known now
    held_of: dict[str, dict[str, dict[str, Any]]] = {}
    for ehr, jobs in sorted(per_ehr.items()):  # EHRs in one order in every worker: row locks taken alike
        keys = (f"{r.get('resourceType')}/{r.get('id')}" for _, resources in jobs for r in resources)
        plan = mirror_repo.plan_upserts(
            [resources for _, resources in jobs], mirror_repo.stored_versions(conn, keys, ehr=ehr)
        )
        if runtime.validate_inputs:
            for (_, resources), before in zip(jobs, plan.before, strict=True):
                _validate(resources, before)
        plan = mirror_repo.write_upserts(conn, plan, now=now, ehr=ehr)
        held_of[ehr] = plan.held
        for (job, resources), latest, before, outcome in zip(
            jobs, plan.latest, plan.before, plan.outcomes, strict=True
        ):
            # The stored bodies of its own keys (the batch's last write of each): a context's read
            # leaves out only what its job holds, as with one job per upsert.
            held = {key: body for key in latest if (body := plan.held.get(key)) is not None}
            gathered[job.id] = Gathered(resources, before, outcome, held)
            found = encounters_for_stored(job.focus, outcome) if job.focus and job.id not in fetched_jobs else None
            if found is not None:
                own.setdefault(ehr, {})[job.id] = found
    # The encounters' contexts in one read per EHR, once every EHR's resources are written (the mirror
    # as the batch leaves it); a job whose focus turns out superseded does not use its context.
    contexts = {
        ehr: mirror_repo.load_contexts(
            conn, sorted({e for f in of_jobs.values() for e in f}), ehr=ehr, held=held_of[ehr]
        )
        for ehr, of_jobs in own.items()
    }
    read_at = mirror_repo.writes(conn)
    for ehr, of_jobs in own.items():
        for job_id, encounters in of_jobs.items():
            mine = {e: contexts[ehr][e] for e in encounters}
            gathered[job_id] = replace(gathered[job_id], contexts=mine, read_at=read_at)
    return gathered


def _validate(resources: list[dict[str, Any]], stored: dict[str, tuple[str | None, str | None]]) -> None:
    for resource in resources:
        if mirror_repo.is_known(resource, stored):
            continue
        try:
            validate_resource(resource)
        except InvalidResource as exc:
            raise FatalJobError(str(exc)) from exc


def read_notification(conn: Connection, job: ClaimedJob) -> Notification:
    try:
        return parse_notification(queue_repo.inbox_body(conn, job.inbox_id))
    except InvalidNotification as exc:  # stored bodies were checked at intake; this is corruption
        raise FatalJobError(f"stored notification unreadable: {exc}") from exc


def is_superseded(
    conn: Connection, job: ClaimedJob, before: dict[str, tuple[str | None, str | None]] | None = None
) -> bool:
    """True when the mirror holds a newer version of the focus than the job names.

    ``before``: the stored versions read before this job's upsert, when they cover the focus (it
    was carried); the upsert only ever keeps the newer version, so they answer without a query.
    """
    if job.focus is None or job.version_id is None:
        return False
    stored = before.get(job.focus) if before is not None else mirror_repo.stored_version(conn, job.focus, ehr=job.ehr)
    return stored is not None and is_newer(stored, (job.version_id, None)) is True


def evaluate(
    conn: Connection,
    encounter: str,
    *,
    runtime: Runtime,
    today: date,
    now: datetime,
    ehr: str = DEFAULT_EHR,
    held: dict[str, dict[str, Any]] | None = None,
    context: EncounterContext | None = None,
    stored: encounter_claims_repo.EncounterClaims | None = None,
    prior: list[dict[str, Any]] | None = None,
    applied: bool = False,
) -> Evaluation | None:
    """Steps 2 and 3 for one encounter of ``ehr``, from the mirror and the stored claims of the patient.

    ``held``: the bodies this job has just stored (not read back from the mirror). ``context``: the
    encounter's context, already loaded from the mirror as it stands (None: load it here).
    ``stored``: the encounter's own stored claims (None: asked here). ``prior``: the patient's prior
    claims (:func:`app.db.encounter_claims_repo.claims_and_prior`; None: asked here). ``applied``: this evaluation
    is stored (a job, a re-evaluation), so the encounter's eligibility results it reads count as applied.
    """
    ctx = context if context is not None else mirror_repo.load_context(conn, encounter, ehr=ehr, held=held)
    if ctx is None:
        return None
    if stored is None:
        stored = encounter_claims_repo.claims_of(conn, encounter, ehr=ehr)
    patient = patient_of(ctx.encounter)
    # Claims of this encounter are earlier versions of the same claim, not prior billing.
    if prior is None:
        prior = claims_repo.prior_claims_for_patient(conn, patient, exclude_encounter=encounter, ehr=ehr)
    history = history_for(ctx, prior_claims=prior)
    history = replace(
        history,
        verifications=eligibility_repo.results_applied(conn, patient, encounter=encounter, now=now, ehr=ehr)
        if applied
        else eligibility_repo.results_for_patient(conn, patient, ehr=ehr),
        # The payer has this visit's claim: the next version replaces it and carries every line, the
        # ChargeItems the EHR has marked ``billed`` since (docs/mapping.md) included.
        replacing=(replacing := stored.with_payer),
        billed_elsewhere=encounter_claims_repo.billed_elsewhere(conn, encounter, ehr=ehr) if replacing else frozenset(),
    )
    return evaluate_encounter(ctx, config=runtime.config, history=history, today=today, now=now)


def reevaluate(
    conn: Connection, encounters: list[str], *, runtime: Runtime, now: datetime, ehr: str = DEFAULT_EHR
) -> list[str]:
    """Steps 2-4 for encounters of ``ehr`` whose inputs changed outside a notification (an eligibility
    answer, an authorization approved)."""
    results = []
    for encounter in sorted(set(encounters)):
        own = encounter_claims_repo.claims_of(conn, encounter, ehr=ehr)
        ev = evaluate(conn, encounter, runtime=runtime, today=now.date(), now=now, ehr=ehr, stored=own, applied=True)
        writeback = runtime.writeback_for(None if ehr == DEFAULT_EHR else ehr)
        settled = settle(conn, encounter, ev, ehr=ehr, job_id=None, now=now, stored=own, writeback=writeback,
                         events=runtime.events_destination)  # fmt: skip
        record_outcome(conn, encounter, ev, config=runtime.config, job_id=None, now=now, ehr=ehr, settled=settled)
        for part in settled.keep:
            results.append(persist(conn, part, job=None, runtime=runtime, now=now, writeback=writeback))
    return results


def persist(
    conn: Connection,
    ev: Evaluation,
    *,
    job: ClaimedJob | None,
    runtime: Runtime,
    now: datetime,
    writeback: str,
    new: bool = False,
    outcome: dict[str, Any] | None = None,
) -> str:
    """Step 4: a new claim version (unless nothing changed), its findings and its outbox rows.

    The claim's row is locked first, then its latest fingerprint read (a claim not stored yet has
    none: one statement fewer for every new claim). A withdrawn claim yielded again comes back even
    with the same content. ``new``: the encounter's stored claims do not list this one; on
    PostgreSQL it is then written with its findings and outbox rows in one statement, no head read
    first (:func:`app.db.claims_repo.save_new_if_absent`), unless it turns out to be stored after all;
    on SQLite its row is inserted unless it is there (no head read either:
    :func:`app.db.claims_repo.save_first_version`), then its version, findings and outbox rows.
    ``outcome``: the encounter's outcome row (``outcomes_repo.outcome_values``), written before the
    claim (in that one statement on PostgreSQL).
    """
    version_row = claims_repo.NewVersion(
        claim_id=ev.claim_id,
        encounter=ev.encounter,
        patient=ev.patient,
        payer_id=ev.payer_id,
        held=ev.held,
        resource=ev.claim,
        fingerprint=ev.fingerprint,
        mapping_version=ev.mapping_version,
        config_hash=ev.config_hash,
        em=ev.em,
        findings=ev.findings,
        filing_deadline=ev.filing_deadline,
        source_job_id=job.id if job else None,
        ehr=ev.ehr,
    )
    if new and conn.dialect.name == "postgresql":
        first = claims_repo.first_status(version_row)
        rows = outbox_rows(ev, version=1, status=first, runtime=runtime, writeback=writeback)
        stored_new = claims_repo.save_new_if_absent(conn, version_row, rows, now=now, outcome=outcome)
        if stored_new is not None:
            return f"{ev.claim_id}:v1:{first}"
        outcome = None  # written by that statement
    if outcome is not None:
        outcomes_repo.save_values(conn, outcome)
    if new and conn.dialect.name == "sqlite":  # inserted unless stored after all: no head read first
        saved = claims_repo.save_first_version(conn, version_row, now=now)
        if saved is not None:
            enqueue_rows(conn, outbox_rows(ev, version=1, status=saved, runtime=runtime, writeback=writeback), now=now)
            return f"{ev.claim_id}:v1:{saved}"
    head = claims_repo.locked_head(conn, ev.claim_id)
    if (
        head is not None
        and head.status != ClaimStatus.WITHDRAWN.value
        and claims_repo.latest_fingerprint(conn, ev.claim_id) == ev.fingerprint
    ):
        return f"{ev.claim_id}:unchanged"
    version, status = claims_repo.save_version_at(conn, version_row, head, now=now)
    enqueue_rows(conn, outbox_rows(ev, version=version, status=status, runtime=runtime, writeback=writeback), now=now)
    # A ready claim waits for the batch submitter (app.worker.submit), which sends it in the next 837P.
    return f"{ev.claim_id}:v{version}:{status}"


def enqueue_rows(conn: Connection, rows: list[dict[str, Any]], *, now: datetime) -> None:
    for row in rows:
        outbox_repo.enqueue(conn, now=now, **row)


def outbox_rows(ev: Evaluation, *, version: int, status: str, runtime: Runtime, writeback: str) -> list[dict[str, Any]]:
    """The outbox rows of a new claim version, in delivery order: the write-back task (when there
    are findings to show), then the event relayed to downstream consumers (when configured)."""
    rows = []
    payload = writeback_payload(ev, version=version)
    if payload is not None:
        rows.append({"destination": writeback, "kind": "task", "key": f"{ev.claim_id}/{version}", "payload": payload})
    if runtime.events_destination is not None:  # relayed to NATS JetStream by the outbox (app.relay)
        event = claim_version_event(
            claim_id=ev.claim_id,
            version=version,
            status=status,
            encounter=ev.encounter,
            payer_id=ev.payer_id,
            fingerprint=ev.fingerprint,
        )
        rows.append({"destination": runtime.events_destination, "kind": CLAIM_VERSION,
                     "key": event_key(ev.claim_id, version), "payload": event})  # fmt: skip
    return rows
