"""Underpayment detection (pure): expected allowed amount per 835 service line vs what the payer allowed.

Expected allowed (billing-domain.md §3): the payer profile's contracted ``allowed`` amount for the
billed code (SVC06 when the payer changed the code, else SVC01) × units (SVC05, default 1), then:

- payment modifiers: a profile key ``"CODE-MOD"`` (e.g. ``"73030-26"``) is a contracted rate for that
  code and modifier and is used as is; otherwise each modifier listed in the policy's
  ``modifier_percent`` (26, TC, 50 ... see ``config/clearinghouse.yaml``) multiplies the amount;
- multiple-procedure reduction: among the lines of one date of service whose code is in the policy's
  ranges, the highest expected amount keeps ``mppr_primary_percent`` and every other one gets
  ``mppr_others_percent``.

Actual allowed: ``AMT*B6`` when present, else SVC03 paid + Σ PR amounts + Σ CO-253 (sequestration is
taken off the payment after the allowed amount is set, so it is added back: it is never an
underpayment). A line **alerts** when the shortfall (expected − actual) exceeds both tolerances,
i.e. ``shortfall > max(tolerance_amount, expected × tolerance_percent / 100)``.

Lines that cannot be judged are reported with a note and never alert: denied lines (the denial queue
owns them), codes without a contracted rate, lines without a paid amount. Reversals (CLP02 = 22) are
skipped. Amounts are rounded to cents, half up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from app.billing.denials import REVERSAL_STATUS, is_denial_reason
from app.config.clearinghouse import UnderpaymentPolicy
from app.x12 import ClaimPayment, ServicePayment

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
SEQUESTRATION = ("CO", "253")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class LineCheck:
    """One service line: ``basis`` explains the expected amount; ``note`` why it was not judged."""

    line: int
    procedure: str
    modifiers: tuple[str, ...]
    expected: Decimal | None
    actual: Decimal | None
    basis: tuple[str, ...] = ()
    note: str = ""
    alert: bool = False

    @property
    def shortfall(self) -> Decimal | None:
        if self.expected is None or self.actual is None:
            return None
        return self.expected - self.actual


@dataclass(frozen=True, slots=True)
class UnderpaymentReport:
    patient_control_number: str
    payer_id: str
    lines: tuple[LineCheck, ...]
    note: str = ""

    @property
    def alerts(self) -> tuple[LineCheck, ...]:
        return tuple(line for line in self.lines if line.alert)

    @property
    def shortfall(self) -> Decimal:
        """Total shortfall over the alerting lines."""
        return sum((line.shortfall or Decimal(0) for line in self.alerts), Decimal(0))


def actual_allowed(line: ServicePayment) -> Decimal | None:
    """AMT*B6, else paid + patient responsibility + sequestration (``None`` without a paid amount)."""
    if line.allowed is not None:
        return line.allowed
    if line.paid is None:
        return None
    extra = sum(
        (a.amount or Decimal(0) for a in line.adjustments if a.group == "PR" or (a.group, a.reason) == SEQUESTRATION),
        Decimal(0),
    )
    return line.paid + extra


def _fee(code: str, modifiers: tuple[str, ...], allowed: Mapping[str, float]) -> tuple[Decimal, str] | None:
    """(rate, modifier it already covers or '') from the profile's contracted amounts."""
    for modifier in modifiers:
        rate = allowed.get(f"{code}-{modifier}")
        if rate is not None:
            return Decimal(str(rate)), modifier
    rate = allowed.get(code)
    return (Decimal(str(rate)), "") if rate is not None else None


def _priced(i: int, line: ServicePayment, allowed: Mapping[str, float], policy: UnderpaymentPolicy) -> LineCheck:
    code = line.original_procedure or line.procedure
    base = LineCheck(i, code, line.modifiers, None, actual_allowed(line))
    if line.paid is not None and line.paid == 0 and any(is_denial_reason(a.group, a.reason) for a in line.adjustments):
        return replace(base, note="denied (see the denial queue)")
    if base.actual is None:
        return replace(base, note="no paid amount (SVC03) to compare")
    fee = _fee(code, line.modifiers, allowed)
    if fee is None:
        return replace(base, note=f"no contracted allowed amount for {code}")
    rate, covered = fee
    units = line.units if line.units is not None and line.units > 0 else Decimal(1)
    amount = rate * units
    basis = [f"contract {code}{'-' + covered if covered else ''} {rate} x {units} unit(s)"]
    for modifier in line.modifiers:
        percent = policy.modifier_percent.get(modifier)
        if percent is not None and modifier != covered:
            amount = amount * percent / HUNDRED
            basis.append(f"modifier {modifier}: {percent}%")
    return replace(base, expected=amount, basis=tuple(basis))


def _reduce_multiple(checks: list[LineCheck], dates: Sequence[str], policy: UnderpaymentPolicy) -> list[LineCheck]:
    by_date: dict[str, list[int]] = defaultdict(list)
    for n, check in enumerate(checks):
        if check.expected is not None and policy.reduces(check.procedure):
            by_date[dates[n]].append(n)
    out = list(checks)
    for members in by_date.values():
        if len(members) < 2:
            continue
        ranked = sorted(members, key=lambda n: (-(checks[n].expected or 0), n))
        for rank, n in enumerate(ranked):
            percent = policy.mppr_primary_percent if rank == 0 else policy.mppr_others_percent
            c = out[n]
            reason = f"multiple procedure: {'primary' if rank == 0 else 'secondary'} {percent}%"
            out[n] = replace(c, expected=(c.expected or Decimal(0)) * percent / HUNDRED, basis=(*c.basis, reason))
    return out


def _judge(check: LineCheck, policy: UnderpaymentPolicy) -> LineCheck:
    if check.expected is None or check.actual is None:
        return check
    expected = _cents(check.expected)
    threshold = max(policy.tolerance_amount, expected * policy.tolerance_percent / HUNDRED)
    return replace(check, expected=expected, alert=expected - check.actual > threshold)


def check_underpayment(
    claim: ClaimPayment, *, payer_id: str, allowed: Mapping[str, float], policy: UnderpaymentPolicy
) -> UnderpaymentReport:
    """Compare each service line of one 835 claim payment with the contracted amount."""
    pcn = claim.patient_control_number
    if claim.status == REVERSAL_STATUS:
        return UnderpaymentReport(pcn, payer_id, (), note="reversal (CLP02 22): not judged")
    if not claim.lines:
        return UnderpaymentReport(pcn, payer_id, (), note="no service lines (SVC) to compare")
    checks = [_priced(i, line, allowed, policy) for i, line in enumerate(claim.lines)]
    dates = [line.service_date or claim.statement_from for line in claim.lines]
    checks = _reduce_multiple(checks, dates, policy)
    return UnderpaymentReport(pcn, payer_id, tuple(_judge(c, policy) for c in checks))
