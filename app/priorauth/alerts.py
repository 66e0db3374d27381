"""Orders that arrive by notification: judge them as the CDS service does, keep the alert, write back.

For each ServiceRequest / MedicationRequest still to be performed (draft, active, on-hold) that a
job stored (and each open alert of a patient whose ClaimResponses changed), :func:`consider_orders`
judges the order with the same code mapping, payer
profile and prior-auth rule as the claim (:func:`app.cds.evaluate.judge`) against the mirror's
Coverage, payer Organization and authorizations on file:

- authorization needed and none on file, no alert yet → an ``open`` alert; outbox rows for the staff
  ``pa-task`` and the ``order-coverage`` extension (``pa-needed`` = ``auth-needed``);
- an authorization now on file → the alert is ``approved`` with its number, the Task completed and
  the order's extension says ``satisfied``;
- the order revoked, entered-in-error or stopped → the alert is ``cancelled`` and the Task too.

Everything happens in the job's transaction (the outbox delivers it later, retried on its own).
Alerts, like the mirror they are judged from, belong to the job's EHR (ADR 0011): two EHRs' orders
with the same id are two alerts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from app.cds.evaluate import Gathered, Verdict, assertion, judge
from app.cds.orders import CodeMap, read_order
from app.db import mirror_repo, outbox_repo, priorauth_repo
from app.db.priorauth_repo import CLOSED, Alert
from app.domain.context import EncounterContext, ResourceIndex, key_of, patient_of, ref_of
from app.domain.payers import PayerDirectory
from app.domain.tenancy import DEFAULT_EHR
from app.priorauth.tasks import alert_task, order_coverage

ORDER_TYPES = ("ServiceRequest", "MedicationRequest")
WITHDRAWN = frozenset({"revoked", "entered-in-error", "stopped", "cancelled"})
PENDING = frozenset(
    {"draft", "active", "on-hold"}
)  # still to be performed: order time (completed: the claim's business)
RULE = "prior-auth.prior-auth-missing"


_GATHERED = frozenset({"Coverage", "ClaimResponse"})


@dataclass(frozen=True)
class OrderRules:
    """What judging an order needs (the claim configuration's payers and code mapping)."""

    payers: PayerDirectory
    code_map: CodeMap


def gather_for(conn: Connection, patient: str, orders: list[dict[str, Any]], *, ehr: str = DEFAULT_EHR) -> Gathered:
    """The patient's Coverages, their payer Organizations and authorizations, from ``ehr``'s mirror.

    Coverages and authorizations come in key order (the order the first active coverage is chosen
    in when the order names none), as :func:`gathered_from` gives them from a context.
    """
    coverages = sorted(priorauth_repo.resources_of(conn, patient, "Coverage", ehr=ehr), key=key_of)
    payors: dict[str, dict[str, Any]] = {}
    for cov in coverages:
        for ref in cov.get("payor") or ():
            key = ref_of(ref)
            org = mirror_repo.get(conn, key, ehr=ehr) if key else None
            if key and org is not None:
                payors[key] = org
    auths = sorted(priorauth_repo.authorizations_of(conn, patient, ehr=ehr), key=key_of)
    return _gathered(coverages, payors, auths, orders)


def gathered_from(ctx: EncounterContext, patient: str, orders: list[dict[str, Any]]) -> Gathered:
    """:func:`gather_for`'s answer from a context of ``patient``'s encounter in the same EHR, loaded in
    this transaction since the mirror last changed: no query.

    The context holds every patient-level row of the patient (Coverages and ClaimResponses link to no
    encounter) and what they reference (the payor Organizations), as the mirror does.
    """
    # by type first: patient_of only for the Coverages and ClaimResponses (same rows, same order)
    mine = [r for r in ctx.index if r.get("resourceType") in _GATHERED and patient_of(r) == patient]
    coverages = sorted((r for r in mine if r.get("resourceType") == "Coverage"), key=key_of)
    payors: dict[str, dict[str, Any]] = {}
    for cov in coverages:
        for ref in cov.get("payor") or ():
            key = ref_of(ref)
            org = ctx.index.by_key.get(key) if key else None
            if key and org is not None:
                payors[key] = org
    auths = sorted(
        (r for r in mine if r.get("resourceType") == "ClaimResponse" and r.get("use") == "preauthorization"),
        key=key_of,
    )
    return _gathered(coverages, payors, auths, orders)


def _gathered(
    coverages: list[dict[str, Any]],
    payors: dict[str, dict[str, Any]],
    auths: list[dict[str, Any]],
    orders: list[dict[str, Any]],
) -> Gathered:
    index = ResourceIndex()
    for resource in [*coverages, *payors.values(), *auths, *orders]:
        index.add(resource)
    return Gathered(orders=orders, index=index, coverages=coverages, authorizations=auths)


def _enqueue(conn: Connection, alert: Alert, order: dict[str, Any], verdict: Verdict | None, *,
             destination: str, today: date, now: datetime) -> None:  # fmt: skip
    key = f"{alert.order_ref}/{alert.status}"
    outbox_repo.enqueue(conn, destination=destination, kind="pa-task", key=key,
                        payload=alert_task(alert, order=order), now=now)  # fmt: skip
    if verdict is not None:
        ext = assertion(verdict, today=today, new_id=lambda: alert.assertion_id).extension()
        outbox_repo.enqueue(conn, destination=destination, kind="order-coverage", key=key,
                            payload=order_coverage(alert.order_ref, ext), now=now)  # fmt: skip


def _consider(conn: Connection, order: dict[str, Any], rules: OrderRules, *, destination: str,
              today: date, now: datetime, ehr: str,
              contexts: Mapping[str, EncounterContext]) -> str | None:  # fmt: skip
    ref = f"{order.get('resourceType')}/{order.get('id')}"
    if order.get("status") in WITHDRAWN:
        alert = priorauth_repo.get_alert(conn, ref, ehr=ehr)
        if alert is None or alert.status in CLOSED:
            return None
        priorauth_repo.set_state(conn, ref, status="cancelled", now=now, ehr=ehr, reason=f"order {order.get('status')}")
        _enqueue(conn, _reread(conn, ref, ehr), order, None, destination=destination, today=today, now=now)
        return f"{ref}:cancelled"
    if order.get("status") not in PENDING:
        return None  # completed (the claim's business) or unknown: no alert is read or changed
    read = read_order(order, rules.code_map(order))
    patient = patient_of(order)
    if read is None or patient is None:
        return None
    alert = priorauth_repo.get_alert(conn, ref, ehr=ehr)
    ctx = contexts.get(patient)
    gathered = gathered_from(ctx, patient, [order]) if ctx is not None else gather_for(conn, patient, [order], ehr=ehr)
    verdict = judge(read, gathered, rules.payers, today=today)
    if verdict.on_file is not None and alert is not None and alert.status not in CLOSED:
        priorauth_repo.set_state(conn, ref, status="approved", now=now, ehr=ehr, pre_auth_ref=verdict.on_file.number)
        _enqueue(conn, _reread(conn, ref, ehr), order, verdict, destination=destination, today=today, now=now)
        return f"{ref}:approved"
    if not verdict.auth_needed or alert is not None or verdict.profile is None:
        return None
    alert, _ = priorauth_repo.open_alert(
        conn, order_ref=ref, patient=patient, encounter=ref_of(order.get("encounter")),
        payer_id=verdict.profile.payer_id, payer_name=verdict.profile.name, codes=list(verdict.needs),
        rule=RULE, assertion_id=str(uuid.uuid4()), now=now, ehr=ehr,
    )  # fmt: skip
    _enqueue(conn, alert, order, verdict, destination=destination, today=today, now=now)
    return f"{ref}:alert"


def _reread(conn: Connection, ref: str, ehr: str) -> Alert:
    alert = priorauth_repo.get_alert(conn, ref, ehr=ehr)
    assert alert is not None
    return alert


def consider_orders(conn: Connection, resources: Iterable[dict[str, Any]], rules: OrderRules, *,
                    destination: str, now: datetime, ehr: str = DEFAULT_EHR,
                    contexts: Mapping[str, EncounterContext] | None = None) -> list[str]:  # fmt: skip
    """Alerts of ``ehr`` opened or closed for the orders in ``resources`` (and for patients whose
    authorizations changed).

    ``contexts``: patient -> a context of one of the patient's encounters (same EHR), loaded in this
    transaction after the mirror's last change; an order of such a patient is judged from it
    (:func:`gathered_from`) instead of reading the mirror again."""
    items = list(resources)
    orders = {f"{r['resourceType']}/{r.get('id')}": r for r in items if r.get("resourceType") in ORDER_TYPES}
    for patient in {patient_of(r) for r in items if r.get("resourceType") == "ClaimResponse"} - {None}:
        for alert in priorauth_repo.open_alerts_of(conn, str(patient), ehr=ehr):
            if alert.order_ref not in orders and (stored := mirror_repo.get(conn, alert.order_ref, ehr=ehr)):
                orders[alert.order_ref] = stored
    results = []
    for order in orders.values():
        done = _consider(conn, order, rules, destination=destination, today=now.date(), now=now, ehr=ehr,
                         contexts=contexts or {})  # fmt: skip
        if done:
            results.append(done)
    return results


_LAST_RULES: list[tuple[Any, OrderRules]] = []  # (config, its rules): the worker asks once per job


def rules_for(config: Any) -> OrderRules:
    """The order rules of a claim configuration (:class:`app.config.loader.ClaimConfig`); built once
    for the configuration last asked about (a reloaded configuration is a new object)."""
    last = _LAST_RULES[-1] if _LAST_RULES else None
    if last is not None and last[0] is config:
        return last[1]
    from app.cds.orders import mapping_code_map

    rules = OrderRules(payers=config.payers, code_map=mapping_code_map(config.mappings.values))
    _LAST_RULES[:] = [(config, rules)]
    return rules
