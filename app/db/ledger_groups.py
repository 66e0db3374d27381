"""Which claims share one ledger: a visit's primary claim and the secondary claims built after its 835.

A secondary claim (:mod:`app.billing.secondary`) has its own CLM01, so the secondary's 835 is stored
against it (its status, its ClaimResponse, its payer claim control number), but its money belongs
on the primary claim's ledger: the same services, one receivable, the secondary billed what the
primary left to the patient. :func:`ledger_group` gives the claims whose answers and ledger entries
make one claim's balance; :func:`ledger_roots` maps every claim that follows another to the claim
whose ledger it is on (for the KPIs and the balances over many claims).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from app.billing.secondary import ledger_roots as roots_of
from app.db.billing_tables import CLAIM, VERSION


@dataclass(frozen=True, slots=True)
class LedgerGroup:
    root: str  # the primary claim: its charge and its payer come first
    members: tuple[str, ...]  # the root first, then the claims that follow it
    payer_id: str | None  # the root's payer


def _current(conn: Connection, *where: Any) -> list[Any]:
    stmt = (
        select(CLAIM.c.id, CLAIM.c.encounter, CLAIM.c.payer_id, VERSION.c.resource)
        .join(VERSION, (VERSION.c.claim_id == CLAIM.c.id) & (VERSION.c.version == CLAIM.c.current_version))
        .where(*where)
        .order_by(CLAIM.c.id)
    )
    return list(conn.execute(stmt).all())


def ledger_group(conn: Connection, claim_id: str) -> LedgerGroup:
    """The claims whose answers make ``claim_id``'s balance (just itself unless secondaries are involved)."""
    encounter = conn.execute(select(CLAIM.c.encounter).where(CLAIM.c.id == claim_id)).scalar_one_or_none()
    rows = _current(conn, CLAIM.c.encounter == encounter) if encounter is not None else []
    roots = roots_of({r.id: r.resource or {} for r in rows})
    root = roots.get(claim_id, claim_id)
    members = (root, *(r.id for r in rows if r.id != root and roots.get(r.id) == root))
    payer = next((r.payer_id for r in rows if r.id == root), None)
    if payer is None:
        payer = conn.execute(select(CLAIM.c.payer_id).where(CLAIM.c.id == root)).scalar_one_or_none()
    return LedgerGroup(root, members, payer)


def ledger_roots(conn: Connection, claim_ids: Iterable[str] | None = None) -> dict[str, str]:
    """Claim id → the claim whose ledger it is on, for the claims that follow another (secondaries) only.

    Only visits with more than one claim are read (``claim_ids``: limited to those claims' visits)."""
    shared = select(CLAIM.c.encounter).group_by(CLAIM.c.encounter).having(func.count() > 1)
    if claim_ids is not None:
        wanted = sorted(set(claim_ids))
        if not wanted:
            return {}
        shared = shared.where(CLAIM.c.encounter.in_(select(CLAIM.c.encounter).where(CLAIM.c.id.in_(wanted))))
    by_visit: dict[str, dict[str, Any]] = {}
    for r in _current(conn, CLAIM.c.encounter.in_(shared.scalar_subquery())):
        by_visit.setdefault(r.encounter, {})[r.id] = r.resource or {}
    out: dict[str, str] = {}
    for claims in by_visit.values():
        out.update({k: v for k, v in roots_of(claims).items() if k != v})
    return out
