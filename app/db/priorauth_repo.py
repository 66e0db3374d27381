"""Prior-authorization statements: alerts (``prior_auth_alert``) and authorizations in the mirror.

An alert is one order that needs authorization. Its ``status`` moves open → submitted → approved |
denied | pended (→ approved | denied) and to cancelled when the order is withdrawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from app.db.models import PriorAuthAlert, Resource

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

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "order": self.order_ref, "patient": self.patient, "encounter": self.encounter,
            "payer": self.payer_id, "payer_name": self.payer_name, "codes": list(self.codes), "rule": self.rule,
            "status": self.status, "reason": self.reason, "pre_auth_ref": self.pre_auth_ref,
            "coverage_assertion_id": self.assertion_id, "pas_identifier": self.pas_identifier,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }  # fmt: skip


def _alert(row: Any) -> Alert:
    return Alert(
        row.id, row.order_ref, row.patient, row.encounter, row.payer_id, row.payer_name, tuple(row.codes or ()),
        row.rule, row.status, row.reason, row.pre_auth_ref, row.assertion_id, row.pas_identifier,
        row.claim_response, row.next_inquiry_at, row.created_at, row.updated_at,
    )  # fmt: skip


def open_alert(
    conn: Connection, *, order_ref: str, patient: str | None, encounter: str | None, payer_id: str,
    payer_name: str, codes: list[str], rule: str, assertion_id: str, now: datetime,
) -> tuple[Alert, bool]:  # fmt: skip
    """The alert of ``order_ref``, created open if there is none; (alert, created)."""
    existing = get_alert(conn, order_ref)
    if existing is not None:
        return existing, False
    conn.execute(ALERT.insert().values(
        order_ref=order_ref, patient=patient, encounter=encounter, payer_id=payer_id, payer_name=payer_name,
        codes=codes, rule=rule, status="open", assertion_id=assertion_id, created_at=now, updated_at=now,
    ))  # fmt: skip
    created = get_alert(conn, order_ref)
    assert created is not None
    return created, True


_GET_ALERT = select(ALERT).where(ALERT.c.order_ref == bindparam("order_ref"))


def get_alert(conn: Connection, order_ref: str) -> Alert | None:
    row = conn.execute(_GET_ALERT, {"order_ref": order_ref}).first()
    return _alert(row) if row else None


def set_state(conn: Connection, order_ref: str, *, status: str, now: datetime, **values: Any) -> None:
    assert status in STATES, status
    conn.execute(update(ALERT).where(ALERT.c.order_ref == order_ref).values(status=status, updated_at=now, **values))


def list_alerts(conn: Connection, *, patient: str | None = None, encounter: str | None = None,
                payer: str | None = None, status: str | None = None, limit: int = 200) -> list[Alert]:  # fmt: skip
    stmt = select(ALERT).order_by(ALERT.c.id).limit(limit)
    for column, value in (("patient", patient), ("encounter", encounter), ("payer_id", payer), ("status", status)):
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
    RES.c.patient == bindparam("patient"), RES.c.resource_type == "ClaimResponse"
)


def authorizations_of(conn: Connection, patient: str) -> list[dict[str, Any]]:
    """Preauthorization ClaimResponses stored for ``patient`` (``Patient/id``)."""
    rows = conn.execute(_AUTHORIZATIONS, {"patient": patient}).scalars()
    return [dict(b) for b in rows if (b or {}).get("use") == "preauthorization"]


_RESOURCES_OF = select(RES.c.body).where(
    RES.c.resource_type == bindparam("resource_type"), RES.c.patient == bindparam("patient")
)


def resources_of(conn: Connection, patient: str, resource_type: str) -> list[dict[str, Any]]:
    """The mirrored resources of ``resource_type`` about ``patient``."""
    rows = conn.execute(_RESOURCES_OF, {"resource_type": resource_type, "patient": patient}).scalars()
    return [dict(b) for b in rows]


def open_alerts_of(conn: Connection, patient: str) -> list[Alert]:
    stmt = select(ALERT).where(ALERT.c.patient == patient, ALERT.c.status.in_(["open", "submitted", "pended"]))
    return [_alert(r) for r in conn.execute(stmt)]
