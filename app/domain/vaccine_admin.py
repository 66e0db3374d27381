"""Which administration code each vaccine administration line gets at a payer that bills its own (pure).

Medicare Part B bills the administration of an influenza, pneumococcal or hepatitis B vaccine as
G0008 / G0009 / G0010, one per such vaccine; every other vaccine keeps CPT 90471 (the first) and
90472 (each additional). The payer profile's ``vaccine_administration`` table says which vaccine
product codes take which code (synthetic lists in ``config/payers/medicare.yaml``).

Administration lines do not say which vaccine they administer, so the claim's vaccine product lines
(CPT 90476-90759, or any code of the table) decide: with exactly one administration (one unit per
line) per product line, the payer's codes go to the last administration lines and the other
vaccines keep 90471 then 90472 on the first ones (each line keeps its charge). Anything else (more
or fewer administrations than products, an administration line of several units) is not guessed:
:func:`pair_administrations` says why and the rule ``coding.vaccine-admin-unpaired`` reports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

ADMIN_CODES = ("90471", "90472")  # initial, each additional (CPT codes only; no descriptions shipped)


def is_vaccine_product(code: str, table: Mapping[str, frozenset[str]]) -> bool:
    """A vaccine/toxoid product line: CPT 90476-90759, or a code the payer's table names."""
    in_range = len(code) == 5 and code.isdigit() and "90476" <= code <= "90759"
    return in_range or any(code in products for products in table.values())


@dataclass(frozen=True)
class Pairing:
    codes: tuple[str, ...] | None  # the new code of each administration line, in order (None: unchanged)
    problem: str | None = None  # why the lines could not be paired (only when a payer code was due)


def pair_administrations(lines: Sequence[tuple[str, float | None]], table: Mapping[str, frozenset[str]]) -> Pairing:
    """``lines``: (code, units) of every claim line, in order. See the module docstring."""
    if not table:
        return Pairing(None)
    payer_code = {p: code for code, products in table.items() for p in products}
    products = [c for c, _ in lines if is_vaccine_product(c, table)]
    due = [payer_code[p] for p in products if p in payer_code]
    admins = [(c, u) for c, u in lines if is_administration(c, table)]
    if not due or not admins:
        return Pairing(None)
    several = [c for c, u in admins if u not in (None, 1, 1.0)]
    if several:
        return Pairing(None, f"administration line {several[0]} has several units; bill one line per vaccine")
    if len(admins) != len(products):
        return Pairing(
            None,
            f"{len(admins)} administration line(s) for {len(products)} vaccine product line(s): which "
            f"administration is the {'/'.join(sorted(set(due)))} one cannot be told",
        )
    codes: list[str | None] = []
    for code, _ in admins:  # a line already billed with a payer code that is due keeps it
        keep = code in due
        if keep:
            due.remove(code)
        codes.append(code if keep else None)
    others = iter(["90471"] + ["90472"] * len(admins))
    free = sum(1 for c in codes if c is None) - len(due)  # the other vaccines' administrations come first
    out: list[str] = []
    for kept in codes:
        if kept is None:
            kept = next(others) if free > 0 else due.pop(0)
            free -= 1
        out.append(kept)
    return Pairing(tuple(out))


def is_administration(code: str, table: Mapping[str, frozenset[str]]) -> bool:
    """90471 / 90472, or one of the payer's own administration codes (already applied)."""
    return code in ADMIN_CODES or code in table
