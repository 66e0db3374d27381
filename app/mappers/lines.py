"""Every charge source of an encounter, gathered in one place: the billed E/M and one line per service.

Sources, in claim order: completed ServiceRequests, drugs given in the office (MedicationRequest),
billable ChargeItems, completed Procedures (:mod:`app.mappers.charges`,
:mod:`app.mappers.charge_items`). Office E/M codes on ChargeItems/Procedures are E/M carriers
(:func:`app.mappers.em.find_billed_em`); the rest are merged so that one service recorded twice is
one line (:mod:`app.mappers.dedupe`). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from app.domain.chargemaster import ChargeMaster
from app.domain.context import EncounterContext
from app.domain.findings import Finding
from app.mappers.charge_items import charge_item_lines, is_office_em, procedure_lines
from app.mappers.charges import Line, drug_lines, order_lines
from app.mappers.dedupe import merge_same_services
from app.mappers.em import BilledEm, find_billed_em
from app.mappers.spec import MappingSet

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Charges:
    billed: BilledEm | None
    lines: list[Line]
    em_findings: list[Finding] = field(default_factory=list)
    line_findings: list[Finding] = field(default_factory=list)
    seen: bool = False  # anything billable at all (an E/M, or a done order, drug, charge or procedure)


def collect_charges(
    ctx: EncounterContext,
    spec: MappingSet,
    *,
    replacement: bool = False,
    billed_elsewhere: frozenset[str] = frozenset(),
) -> Charges:
    """The billed E/M, the merged charge lines and the findings about them (``replacement``,
    ``billed_elsewhere``: :func:`app.mappers.charge_items.charge_item_lines`)."""
    orders, order_findings, orders_seen = order_lines(ctx, spec)
    drugs, drug_findings, drugs_seen = drug_lines(ctx, spec)
    items, item_findings, items_seen = charge_item_lines(
        ctx, spec, replacement=replacement, billed_elsewhere=billed_elsewhere
    )
    procedures, procedure_findings, procedures_seen = procedure_lines(ctx, spec)
    fhir_native = [*items, *procedures]
    billed, em_findings = find_billed_em(ctx, spec, [line for line in fhir_native if is_office_em(line)])
    others = [*orders, *drugs, *(line for line in fhir_native if not is_office_em(line))]
    lines, merge_findings = merge_same_services(others, default_date=spec.one("encounter.start", ctx.encounter))
    return Charges(
        billed=billed,
        lines=lines,
        em_findings=em_findings,
        line_findings=[*order_findings, *drug_findings, *item_findings, *procedure_findings, *merge_findings],
        seen=billed is not None or orders_seen or drugs_seen or items_seen or procedures_seen,
    )


def line_price(prices: ChargeMaster, line: Line) -> tuple[Decimal, Decimal] | None:
    """(unit price, net) of a line: an honoured override, else the charge master (None: no price)."""
    if line.charge is not None:
        return (line.charge / line.quantity).quantize(_CENT, rounding=ROUND_HALF_UP), line.charge
    price = prices.price(line.code.code)
    if price is None:
        return None
    if line.factor is not None:
        price = (price * line.factor).quantize(_CENT, rounding=ROUND_HALF_UP)
    return price, (price * line.quantity).quantize(_CENT, rounding=ROUND_HALF_UP)
