"""Da Vinci PAS client: submit an order's request through the outbox, handle the answer, inquire when pended.

- :func:`submit_order` (``claimbridge pa submit``) judges the order as the claim rules do, builds and
  checks the request Bundle (:mod:`app.priorauth.pas`; a problem refuses it before anything is
  queued), queues a ``pas-submit`` delivery to destination ``pas`` and marks the alert ``submitted``.
- :class:`PasAdapter` delivers it: ``POST {prior_auth_endpoint}/Claim/$submit`` (bearer token from the
  environment variable the payer profile names), classified by :mod:`app.http_policy` (5xx/429:
  retried by the outbox with the same Bundle identifier; other 4xx: dead, the alert keeps the reason).
- :func:`record_response` applies the ClaimResponse: A1 (any authorizing item) → ``approved`` with
  ``preAuthRef``; the ClaimResponse is stored in the mirror as a preauthorization ClaimResponse of
  the patient, where the claim rules and CRD's ``satisfied-pa-id`` read it. A3 → ``denied`` with the
  reason. A4 → ``pended``: :class:`PasInquirer` (a worker duty) queues ``Claim/$inquire`` every
  :data:`INQUIRY_SECONDS` until it is decided. The staff Task follows each state.
- :func:`take_notified_responses`: the payer may instead notify the decision through the
  subscription intake (a ``POST /notifications`` of a subscription registered for the payer, PAS
  subscription topic ``PASSubscriptionTopic``, full-resource content). A preauthorization
  ClaimResponse in a job is matched to its alert by the item trace number claimbridge sent (the
  coverage-assertion-id), else by ``request`` = the ``Claim/pa-<order id>`` submitted, and applied as
  :func:`record_response` applies a ``$submit``/``$inquire`` answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from app.adapters.base import FatalDeliveryError, TemporaryDeliveryError
from app.cds.evaluate import judge, primary_coverage
from app.cds.orders import read_order
from app.db import mirror_repo, outbox_repo, priorauth_repo
from app.db.priorauth_repo import Alert
from app.domain.context import patient_of, ref_of
from app.domain.payers import PayerDirectory, PayerProfile
from app.domain.tenancy import DEFAULT_EHR
from app.errors import FatalError
from app.http_policy import Verdict, classify, retry_after_header
from app.priorauth.alerts import RULE, OrderRules, gather_for
from app.priorauth.pas import bundle_problems, claim_for, inquiry_bundle, request_bundle
from app.priorauth.responses import claim_response_of, read_outcome, request_claim_id, trace_numbers
from app.priorauth.tasks import alert_task

DESTINATION = "pas"
INQUIRY_SECONDS = 900.0
FHIR_JSON = "application/fhir+json"


class PasError(FatalError, ValueError):
    """An order that cannot be submitted for prior authorization (the message says why)."""


def _resolver(
    conn: Connection, extra: list[dict[str, Any]], ehr: str
) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    known = {f"{r.get('resourceType')}/{r.get('id')}": r for r in extra}

    def resolve(ref: dict[str, Any]) -> dict[str, Any] | None:
        key = ref_of(ref)
        if key is None:
            return None
        return known.get(key) or mirror_repo.get(conn, key, ehr=ehr)

    return resolve


def build_request(
    conn: Connection, order_ref: str, rules: OrderRules, *, now: datetime, assertion_id: str | None = None,
    ehr: str = DEFAULT_EHR,
) -> tuple[dict[str, Any], PayerProfile, list[str], str]:  # fmt: skip
    """(request Bundle, payer profile, codes, patient) for ``ehr``'s order; raises :class:`PasError`."""
    order = mirror_repo.get(conn, order_ref, ehr=ehr)
    if order is None:
        raise PasError(f"{order_ref} is not known (it arrives by subscription notification)")
    read, patient = read_order(order, rules.code_map(order)), patient_of(order)
    if read is None or patient is None:
        raise PasError(f"{order_ref} is not an order claimbridge can request authorization for")
    gathered = gather_for(conn, patient, [order], ehr=ehr)
    verdict = judge(read, gathered, rules.payers, today=now.date())
    if verdict.coverage is None or verdict.profile is None or verdict.profile.is_default:
        raise PasError(f"{order_ref}: {verdict.problem or 'no active coverage with a payer profile'}")
    if not verdict.needs:
        raise PasError(f"{order_ref} needs no prior authorization from {verdict.profile.name}")
    if not verdict.profile.prior_auth_endpoint:
        raise PasError(f"payer {verdict.profile.payer_id} has no prior_auth_endpoint in its profile")
    payor = next((ref_of(p) for p in verdict.coverage.get("payor") or () if ref_of(p)), None)
    if payor is None or not payor.startswith("Organization/"):
        raise PasError(f"{order_ref}: the coverage names no payer Organization")
    claim = claim_for(
        order,
        verdict.coverage,
        payer_org=payor,
        codes=list(verdict.needs),
        assertion_id=assertion_id or str(uuid.uuid4()),
        created=now.isoformat(timespec="seconds"),
    )
    bundle = request_bundle(claim, _resolver(conn, [order, verdict.coverage], ehr), now=now)
    problems = bundle_problems(bundle)
    if problems:
        raise PasError(f"{order_ref}: the PAS request is not conformant: {'; '.join(problems[:3])}")
    return bundle, verdict.profile, list(verdict.needs), patient


def submit_order(
    conn: Connection, order_ref: str, rules: OrderRules, *, now: datetime, ehr: str = DEFAULT_EHR
) -> Alert:
    """Queue the PAS submission of ``ehr``'s ``order_ref`` (its alert becomes ``submitted``)."""
    alert = priorauth_repo.get_alert(conn, order_ref, ehr=ehr)
    if alert is not None and alert.status in ("submitted", "approved"):
        raise PasError(f"{order_ref} is already {alert.status}")
    bundle, profile, codes, patient = build_request(
        conn, order_ref, rules, now=now, assertion_id=alert.assertion_id if alert else None, ehr=ehr
    )
    if alert is None:
        order = mirror_repo.get(conn, order_ref, ehr=ehr) or {}
        alert, _ = priorauth_repo.open_alert(
            conn,
            order_ref=order_ref,
            patient=patient,
            encounter=ref_of(order.get("encounter")),
            payer_id=profile.payer_id,
            payer_name=profile.name,
            codes=codes,
            rule=RULE,
            assertion_id=str(uuid.uuid4()),
            now=now,
            ehr=ehr,
        )
    identifier = bundle["identifier"]["value"]
    payload = {"order": order_ref, "ehr": ehr, "payer_id": profile.payer_id, "operation": "$submit", "bundle": bundle}
    outbox_repo.enqueue(
        conn, destination=DESTINATION, kind="pas-submit", key=f"{order_ref}/{identifier}", payload=payload, now=now
    )
    priorauth_repo.set_state(
        conn, order_ref, status="submitted", now=now, ehr=ehr, pas_identifier=identifier, reason=None
    )
    return _alert(conn, order_ref, ehr)


def _alert(conn: Connection, order_ref: str, ehr: str) -> Alert:
    alert = priorauth_repo.get_alert(conn, order_ref, ehr=ehr)
    if alert is None:
        raise PasError(f"{order_ref} has no prior-authorization alert")
    return alert


def _payer_org(conn: Connection, order_ref: str, patient: str | None, ehr: str) -> str | None:
    """The payer Organization of the coverage the order was judged under (the claim's insurer)."""
    order = mirror_repo.get(conn, order_ref, ehr=ehr)
    if order is None or patient is None:
        return None
    coverage = primary_coverage(order, gather_for(conn, patient, [order], ehr=ehr))
    return next((ref for p in (coverage or {}).get("payor") or () if (ref := ref_of(p))), None)


def record_response(
    conn: Connection, order_ref: str, body: Any, *, now: datetime, writeback: str, ehr: str = DEFAULT_EHR
) -> str:
    """Apply a PAS response (Bundle) to the alert of ``ehr``'s order; returns the new state."""
    response = claim_response_of(body)
    if response is None:
        raise FatalDeliveryError("the PAS answer holds no ClaimResponse")
    alert = _alert(conn, order_ref, ehr)
    outcome = read_outcome(response)
    stored = {
        **response,
        "id": f"pas-{order_ref.split('/')[-1]}"[:64],
        "use": "preauthorization",
        "patient": {"reference": alert.patient},
    }
    stored.pop("request", None)  # the payer's references name its own ids: ours are the patient and insurer
    insurer = _payer_org(conn, order_ref, alert.patient, ehr)
    if insurer:
        stored["insurer"] = {"reference": insurer}
    else:
        stored.pop("insurer", None)
    values: dict[str, Any] = {"claim_response": stored, "reason": outcome.reason}
    if outcome.status == "approved":
        values["pre_auth_ref"] = outcome.number
        mirror_repo.upsert_resources(conn, [stored], now=now, ehr=ehr)  # the claim rules and CRD read it there
    values["next_inquiry_at"] = now + timedelta(seconds=INQUIRY_SECONDS) if outcome.status == "pended" else None
    priorauth_repo.set_state(conn, order_ref, status=outcome.status, now=now, ehr=ehr, **values)
    alert = _alert(conn, order_ref, ehr)
    outbox_repo.enqueue(
        conn,
        destination=writeback,
        kind="pa-task",
        key=f"{order_ref}/{alert.status}/{now.isoformat()}",
        payload=alert_task(alert, order=mirror_repo.get(conn, order_ref, ehr=ehr)),
        now=now,
    )
    return outcome.status


def answered_alert(conn: Connection, response: dict[str, Any]) -> Alert | None:
    """The alert a PAS ClaimResponse answers: by the item trace number, else by the Claim it names."""
    alert = priorauth_repo.alert_by_assertion(conn, sorted(trace_numbers(response)))
    claim_id = request_claim_id(response)
    if alert is None and claim_id and claim_id.startswith("pa-"):
        alert = priorauth_repo.alert_of_order_id(conn, claim_id[3:])
    return alert


def take_notified_responses(conn: Connection, resources: list[dict[str, Any]], *, writeback: str,
                            now: datetime) -> list[str]:  # fmt: skip
    """Apply the PAS decisions that arrived by notification; returns ``order:state`` for each applied."""
    done = []
    for resource in resources:
        if resource.get("resourceType") != "ClaimResponse" or resource.get("use") != "preauthorization":
            continue
        alert = answered_alert(conn, resource)
        if alert is None or alert.status == "cancelled":
            continue
        outcome = read_outcome(resource)
        if (outcome.status, outcome.number, outcome.reason) == (alert.status, alert.pre_auth_ref, alert.reason):
            continue  # the same decision again (a re-delivered notification)
        state = record_response(conn, alert.order_ref, resource, now=now, writeback=writeback, ehr=alert.ehr)
        done.append(f"{alert.order_ref}:{state}")
    return done


class PasAdapter:
    """Outbox adapter for ``pas-submit`` / ``pas-inquire`` deliveries to each payer's PAS endpoint."""

    def __init__(
        self,
        *,
        engine: Engine,
        payers: PayerDirectory,
        clock: Callable[[], datetime],
        writeback: str,
        client: httpx.Client | None = None,
        env: Callable[[str], str | None] = os.environ.get,
    ) -> None:
        self.name = DESTINATION
        self.engine, self.payers, self.clock, self.writeback, self.env = engine, payers, clock, writeback, env
        self.client = client or httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0), follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        if kind not in ("pas-submit", "pas-inquire"):
            raise FatalDeliveryError(f"the pas adapter cannot deliver {kind!r}")
        problems = bundle_problems(payload.get("bundle"))
        if problems:  # never send a non-conformant request (PAS answers it with a 4xx anyway)
            raise FatalDeliveryError(f"not a conformant PAS request: {'; '.join(problems[:3])}")
        profile = self.payers.profile_for(payload.get("payer_id"))
        if not profile.prior_auth_endpoint:
            raise FatalDeliveryError(f"payer {payload.get('payer_id')} has no prior_auth_endpoint")
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        if profile.prior_auth_token_env:
            token = self.env(profile.prior_auth_token_env)
            if not token:
                raise FatalDeliveryError(f"{profile.prior_auth_token_env} is not set (the PAS bearer token)")
            headers["Authorization"] = f"Bearer {token}"
        url = f"{profile.prior_auth_endpoint}/Claim/{payload['operation']}"
        try:
            response = self.client.post(url, json=payload["bundle"], headers=headers)
        except httpx.HTTPError as exc:
            raise TemporaryDeliveryError(f"PAS endpoint unreachable ({type(exc).__name__})") from exc
        verdict = classify(response.status_code)
        if verdict is Verdict.TEMPORARY:
            raise TemporaryDeliveryError(
                f"PAS answered {response.status_code}", retry_after=retry_after_header(response.headers)
            )
        ehr = str(payload.get("ehr") or DEFAULT_EHR)  # rows queued before alerts were per EHR: the default
        if verdict is not Verdict.OK:
            self._refused(payload["order"], response, ehr)
            raise FatalDeliveryError(f"PAS refused the request ({response.status_code})")
        try:
            body = response.json()
        except ValueError as exc:
            raise FatalDeliveryError("the PAS answer is not JSON") from exc
        with self.engine.begin() as conn:
            record_response(conn, payload["order"], body, now=self.clock(), writeback=self.writeback, ehr=ehr)

    def _refused(self, order_ref: str, response: httpx.Response, ehr: str) -> None:
        try:
            issues = response.json().get("issue") or []
            why = "; ".join(str(i.get("diagnostics") or i.get("code")) for i in issues)[:300]
        except (ValueError, AttributeError):
            why = ""
        with self.engine.begin() as conn:
            alert = priorauth_repo.get_alert(conn, order_ref, ehr=ehr)
            if alert is not None:
                reason = f"payer refused the request ({response.status_code}){': ' + why if why else ''}"
                priorauth_repo.set_state(conn, order_ref, status="open", now=self.clock(), ehr=ehr, reason=reason)


class PasInquirer:
    """Worker duty: for each pended alert due, queue a ``Claim/$inquire`` (answers come back as for $submit)."""

    def __init__(self, *, engine: Engine, rules: OrderRules, clock: Callable[[], datetime]) -> None:
        self.engine, self.rules, self.clock = engine, rules, clock

    def run_if_due(self) -> int:
        now = self.clock()
        with self.engine.begin() as conn:
            due = priorauth_repo.due_inquiries(conn, now=now)
            for alert in due:
                next_at = now + timedelta(seconds=INQUIRY_SECONDS)
                try:
                    request, profile, _, _ = build_request(
                        conn, alert.order_ref, self.rules, now=now, assertion_id=alert.assertion_id, ehr=alert.ehr
                    )
                except PasError as exc:
                    priorauth_repo.set_state(conn, alert.order_ref, status="pended", now=now, ehr=alert.ehr,
                                             reason=str(exc)[:500], next_inquiry_at=next_at)  # fmt: skip
                    continue
                inquiry = inquiry_bundle(request, now=now)
                payload = {
                    "order": alert.order_ref,
                    "ehr": alert.ehr,
                    "payer_id": profile.payer_id,
                    "operation": "$inquire",
                    "bundle": inquiry,
                }
                outbox_repo.enqueue(
                    conn,
                    destination=DESTINATION,
                    kind="pas-inquire",
                    key=f"{alert.order_ref}/{inquiry['identifier']['value']}",
                    payload=payload,
                    now=now,
                )
                priorauth_repo.set_state(
                    conn, alert.order_ref, status="pended", now=now, ehr=alert.ehr, next_inquiry_at=next_at
                )
        return len(due)
