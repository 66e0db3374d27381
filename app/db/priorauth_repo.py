"""Prior-authorization statements: alerts (``prior_auth_alert``) and authorizations in the mirror.

An alert is one order of one EHR (``ehr``: order ids are only unique within an EHR, ADR 0011)
that needs authorization. Its ``status`` moves open → submitted → approved |
denied | pended (→ approved | denied) and to cancelled when the order is withdrawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from app.db.models import PriorAuthAlert, Resource
from app.domain.tenancy import DEFAULT_EHR

ALERT = PriorAuthAlert.__table__  # type: ignore[attr-defined]
RES = Resource.__table__  # type: ignore[attr-defined]
STATES = ("open", "submitted", "approved", "denied", "pended", "cancelled")
CLOSED = frozenset({"approved", "denied", "cancelled"})


@dataclass(frozen=True)
class Alert:
    id: int
    order_ref: str
    patient: str | None
    encounter: str | None
    payer_id: str
    payer_name: str
    codes: tuple[str, ...]
    rule: str
    status: str
    reason: str | None
    pre_auth_ref: str | None
    assertion_id: str
    pas_identifier: str | None
    claim_response: dict[str, Any] | None
    next_inquiry_at: datetime | None
    created_at: datetime
    updated_at: datetime
    ehr: str = DEFAULT_EHR

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "ehr": self.ehr, "order": self.order_ref, "patient": self.patient,
            "encounter": self.encounter,
            "payer": self.payer_id, "payer_name": self.payer_name, "codes": list(self.codes), "rule": self.rule,
            "status": self.status, "reason": self.reason, "pre_auth_ref": self.pre_auth_ref,
            "coverage_assertion_id": self.assertion_id, "pas_identifier": self.pas_identifier,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }  # fmt: skip


def _alert(row: Any) -> Alert:
    return Alert(
        row.id, row.order_ref, row.patient, row.encounter, row.payer_id, row.payer_name, tuple(row.codes or ()),
        row.rule, row.status, row.reason, row.pre_auth_ref, row.assertion_id, row.pas_identifier,
        row.claim_response, row.next_inquiry_at, row.created_at, row.updated_at, row.ehr,
    )  # fmt: skip


def open_alert(
    conn: Connection, *, order_ref: str, patient: str | None, encounter: str | None, payer_id: str,
    payer_name: str, codes: list[str], rule: str, assertion_id: str, now: datetime, ehr: str = DEFAULT_EHR,
) -> tuple[Alert, bool]:  # fmt: skip
    """The alert of ``order_ref`` in ``ehr``, created open if there is none; (alert, created)."""
    existing = get_alert(conn, order_ref, ehr=ehr)
    if existing is not None:
        return existing, False
    conn.execute(ALERT.insert().values(
        ehr=ehr, order_ref=order_ref, patient=patient, encounter=encounter, payer_id=payer_id, payer_name=payer_name,
        codes=codes, rule=rule, status="open", assertion_id=assertion_id, created_at=now, updated_at=now,
    ))  # fmt: skip
    created = get_alert(conn, order_ref, ehr=ehr)
    assert created is not None
    return created, True


_GET_ALERT = select(ALERT).where(ALERT.c.ehr == bindparam("ehr"), ALERT.c.order_ref == bindparam("order_ref"))


def get_alert(conn: Connection, order_ref: str, *, ehr: str = DEFAULT_EHR) -> Alert | None:
    row = conn.execute(_GET_ALERT, {"ehr": ehr, "order_ref": order_ref}).first()
    return _alert(row) if row else None


def alert_by_assertion(conn: Connection, assertion_ids: Iterable[str]) -> Alert | None:
    """The alert whose coverage-assertion-id (the PAS item trace number) is one of ``assertion_ids``."""
    ids = list(assertion_ids)
    if not ids:
        return None
    row = conn.execute(select(ALERT).where(ALERT.c.assertion_id.in_(ids)).order_by(ALERT.c.id)).first()
    return _alert(row) if row else None


def alert_of_order_id(conn: Connection, order_id: str) -> Alert | None:
    """The alert of the order whose id is ``order_id`` (a PAS Claim ``pa-<id>`` names only the id);
    None unless exactly one alert, of any EHR, has it."""
    refs = [f"{t}/{order_id}" for t in ("ServiceRequest", "MedicationRequest", "DeviceRequest")]
    rows = conn.execute(select(ALERT).where(ALERT.c.order_ref.in_(refs)).limit(2)).all()
    return _alert(rows[0]) if len(rows) == 1 else None


def set_state(conn: Connection, order_ref: str, *, status: str, now: datetime, ehr: str = DEFAULT_EHR,
              **values: Any) -> None:  # fmt: skip
    """Move the alert to ``status``; an approval also marks its encounter's claim for re-evaluation."""
    assert status in STATES, status
    if status == "approved":
        values.setdefault("reevaluate_at", now)
    stmt = update(ALERT).where(ALERT.c.ehr == ehr, ALERT.c.order_ref == order_ref)
    conn.execute(stmt.values(status=status, updated_at=now, **values))


def due_reevaluations(conn: Connection, *, limit: int = 20) -> list[Alert]:
    """Approved alerts whose encounter's claim was not re-evaluated since, oldest first."""
    stmt = select(ALERT).where(ALERT.c.reevaluate_at.is_not(None)).order_by(ALERT.c.reevaluate_at, ALERT.c.id)
    return [_alert(r) for r in conn.execute(stmt.limit(limit))]


def mark_reevaluated(conn: Connection, alert_ids: list[int]) -> None:
    if alert_ids:
        conn.execute(update(ALERT).where(ALERT.c.id.in_(alert_ids)).values(reevaluate_at=None))


def list_alerts(conn: Connection, *, patient: str | None = None, encounter: str | None = None,
                payer: str | None = None, status: str | None = None, ehr: str | None = None,
                limit: int = 200) -> list[Alert]:  # fmt: skip
    """Alerts, filtered by each criterion given (``ehr`` None: every EHR's)."""
    stmt = select(ALERT).order_by(ALERT.c.id).limit(limit)
    criteria = (("ehr", ehr), ("patient", patient), ("encounter", encounter), ("payer_id", payer), ("status", status))
    for column, value in criteria:
        if value:
            stmt = stmt.where(ALERT.c[column] == value)
    return [_alert(r) for r in conn.execute(stmt)]


def due_inquiries(conn: Connection, *, now: datetime, limit: int = 20) -> list[Alert]:
    stmt = (
        select(ALERT)
        .where(ALERT.c.status == "pended", ALERT.c.next_inquiry_at <= now)
        .order_by(ALERT.c.next_inquiry_at)
        .limit(limit)
    )
    return [_alert(r) for r in conn.execute(stmt)]


def counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(ALERT.c.status, func.count()).group_by(ALERT.c.status)).all()
    return {s: int(n) for s, n in rows}


_AUTHORIZATIONS = select(RES.c.body).where(
    RES.c.ehr == bindparam("ehr"), RES.c.patient == bindparam("patient"), RES.c.resource_type == "ClaimResponse"
)


def authorizations_of(conn: Connection, patient: str, *, ehr: str = DEFAULT_EHR) -> list[dict[str, Any]]:
    """Preauthorization ClaimResponses stored for ``patient`` (``Patient/id``) of ``ehr``."""
    rows = conn.execute(_AUTHORIZATIONS, {"ehr": ehr, "patient": patient}).scalars()
    return [dict(b) for b in rows if (b or {}).get("use") == "preauthorization"]


_RESOURCES_OF = select(RES.c.body).where(
    RES.c.ehr == bindparam("ehr"),
    RES.c.resource_type == bindparam("resource_type"),
    RES.c.patient == bindparam("patient"),
)


def resources_of(conn: Connection, patient: str, resource_type: str, *, ehr: str = DEFAULT_EHR) -> list[dict[str, Any]]:
    """The mirrored resources of ``resource_type`` about ``patient`` of ``ehr``."""
    rows = conn.execute(_RESOURCES_OF, {"ehr": ehr, "resource_type": resource_type, "patient": patient}).scalars()
    return [dict(b) for b in rows]


def open_alerts_of(conn: Connection, patient: str, *, ehr: str = DEFAULT_EHR) -> list[Alert]:
    active = ALERT.c.status.in_(["open", "submitted", "pended"])
    stmt = select(ALERT).where(ALERT.c.ehr == ehr, ALERT.c.patient == patient, active)
    return [_alert(r) for r in conn.execute(stmt)]
