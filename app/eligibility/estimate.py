"""The patient's expected share of a visit, from the payer's benefits, with the arithmetic shown (pure).

Allowed amount per line: the payer's allowed amount (the payer profile's ``allowed`` table), else the
charge (the charge master's price on the claim line). Then, with in-network benefits for the visit's
service type (else the plan-level ``30``):

- a **copay** for the service: the patient pays ``min(copay, allowed)``; deductible and
  coinsurance do not apply to a copay visit;
- otherwise the **deductible** first: ``min(remaining deductible, allowed)``, then **coinsurance**
  on the rest: ``percent x (allowed - deductible applied)``;
- capped at the **out-of-pocket** maximum remaining, when the payer gave one.

Money is :class:`~decimal.Decimal`, rounded half-up to cents at each step shown.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.domain.eligibility import Benefit, EligibilityResult

CENT = Decimal("0.01")


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LineAmount:
    code: str
    charge: Decimal
    allowed: Decimal
    basis: str  # payer allowed | charge


@dataclass(frozen=True)
class Estimate:
    allowed: Decimal
    copay: Decimal
    deductible: Decimal
    coinsurance: Decimal
    patient_share: Decimal
    plan_pays: Decimal
    lines: tuple[LineAmount, ...]
    steps: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": str(self.allowed),
            "copay": str(self.copay),
            "deductible": str(self.deductible),
            "coinsurance": str(self.coinsurance),
            "patient_share": str(self.patient_share),
            "plan_pays": str(self.plan_pays),
            "lines": [
                {"code": x.code, "charge": str(x.charge), "allowed": str(x.allowed), "basis": x.basis}
                for x in self.lines
            ],
            "steps": list(self.steps),
        }


def _pick(benefits: Iterable[Benefit], kind: str, service_types: tuple[str, ...]) -> Benefit | None:
    """The in-network (or network-less) individual benefit of ``kind``, the visit's service type first."""
    found = [b for b in benefits if b.kind == kind and b.network in ("in", None)]
    for service in (*service_types, "30", None):
        for level in ("individual", "IND", None):
            for b in found:
                if b.service_type == service and b.level in (level, None):
                    return b
    return found[0] if found else None


def _remaining(b: Benefit | None) -> Decimal | None:
    if b is None:
        return None
    if b.remaining is not None:
        return money(b.remaining)
    if b.amount is not None:
        return money(max(b.amount - (b.used or 0.0), 0.0))
    return None


def claim_lines(claim: Mapping[str, Any]) -> list[tuple[str, Decimal]]:
    """(procedure code, charge) of each claim line."""
    out = []
    for item in claim.get("item") or ():
        coding: dict[str, Any] = next(iter((item.get("productOrService") or {}).get("coding") or ()), {})
        net = (item.get("net") or {}).get("value")
        if net is None:
            price = (item.get("unitPrice") or {}).get("value") or 0
            net = Decimal(str(price)) * Decimal(str((item.get("quantity") or {}).get("value") or 1))
        if coding.get("code"):
            out.append((str(coding["code"]), money(net)))
    return out


def estimate(
    result: EligibilityResult,
    lines: Iterable[tuple[str, Decimal]],
    *,
    allowed: Mapping[str, float],
    service_types: tuple[str, ...] = ("30",),
) -> Estimate:
    amounts = tuple(
        LineAmount(code, charge, money(allowed[code]), "payer allowed") if code in allowed
        else LineAmount(code, charge, charge, "charge")
        for code, charge in lines
    )  # fmt: skip
    total = sum((x.allowed for x in amounts), Decimal("0.00"))
    steps = [f"allowed = {' + '.join(f'{x.allowed} ({x.code}, {x.basis})' for x in amounts) or '0'} = {total}"]
    copay_b = _pick(result.benefits, "copay", service_types)
    copay = deductible = coinsurance = Decimal("0.00")
    if copay_b is not None and copay_b.amount is not None:
        copay = min(money(copay_b.amount), total)
        steps.append(f"copay = min(copay {money(copay_b.amount)}, allowed {total}) = {copay}; "
                     "no deductible or coinsurance on a copay visit")  # fmt: skip
    else:
        ded_left = _remaining(_pick(result.benefits, "deductible", service_types)) or Decimal("0.00")
        deductible = min(ded_left, total)
        steps.append(f"deductible = min(remaining {ded_left}, allowed {total}) = {deductible}")
        coins_b = _pick(result.benefits, "coinsurance", service_types)
        pct = Decimal(str(coins_b.percent)) if coins_b is not None and coins_b.percent is not None else Decimal(0)
        coinsurance = money((total - deductible) * pct)
        steps.append(f"coinsurance = {pct * 100:.0f}% x ({total} - {deductible}) = {coinsurance}")
    share = copay + deductible + coinsurance
    steps.append(f"patient share = {copay} + {deductible} + {coinsurance} = {share}")
    oop_left = _remaining(_pick(result.benefits, "out-of-pocket", service_types))
    if oop_left is not None and share > oop_left:
        steps.append(f"capped at the out-of-pocket maximum remaining: {oop_left}")
        share = oop_left
    steps.append(f"plan pays = {total} - {share} = {total - share}")
    return Estimate(total, copay, deductible, coinsurance, share, total - share, amounts, tuple(steps))
