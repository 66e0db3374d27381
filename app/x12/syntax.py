"""X12 syntax shared by the writer: delimiters, element formatting and the checks every value passes.

The 837P writer always uses ``*`` (element), ``:`` (component), ``^`` (repetition) and ``~``
(segment terminator). Segment models turn themselves into text in their ``render`` method, with
:func:`join_segment` / :func:`composite` where trailing elements or components are optional.
The ``check_*`` helpers raise :class:`~app.x12.errors.GuideViolation` naming the element checked.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from functools import lru_cache

from app.x12.errors import GuideViolation

ELEMENT = "*"
COMPONENT = ":"
REPETITION = "^"
TERMINATOR = "~"

_UNSAFE = re.compile(r"[*:^~\r\n]")
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal(100_000_000)  # R10: 8 integer digits + 2 decimals


def join_segment(tag: str, *elements: str) -> str:
    """``TAG*e1*e2`` without terminator; trailing empty elements are dropped.

    Values never contain a delimiter (:func:`check_text` refuses them), so trimming the trailing
    element separators is exact.
    """
    return ELEMENT.join((tag, *elements)).rstrip(ELEMENT)


def composite(*components: str) -> str:
    """``c1:c2:…`` with trailing empty components dropped."""
    return COMPONENT.join(components).rstrip(COMPONENT)


@lru_cache(maxsize=4096)
def format_date(value: date) -> str:
    """CCYYMMDD (D8); cached, since a batch repeats the same few dates."""
    return value.isoformat().replace("-", "")


def format_amount(value: Decimal) -> str:
    """An R-type amount or quantity: plain notation, never an exponent."""
    text = str(value)
    return format(value, "f") if "E" in text else text


def check_text(value: str, where: str, *, max_len: int, required: bool = True) -> None:
    """Text within the element's maximum length (delimiters are checked by :func:`check_no_delimiters`)."""
    if not value:
        if required:
            raise GuideViolation(f"{where} is required")
        return
    if len(value) > max_len:
        raise GuideViolation(f"{where} {value!r} is longer than {max_len} characters")


_SEP = "\x1f"  # joins the fields a shape pattern checks in one regex call


def text_field(max_len: int, *, min_len: int = 0) -> str:
    """Regex fragment for delimiter-free text of ``min_len``..``max_len`` characters."""
    return f"[^*:^~\\r\\n{_SEP}]{{{min_len},{max_len}}}"


def shape(*fragments: str) -> re.Pattern[str]:
    """One pattern over several fields joined by a unit separator (see :func:`has_shape`)."""
    return re.compile(_SEP.join(fragments))


def has_shape(pattern: re.Pattern[str], *values: str) -> bool:
    """Whether ``values`` match ``pattern`` field by field: the fast path of a segment's checks."""
    return pattern.fullmatch(_SEP.join(values)) is not None


def check_no_delimiters(where: str, *values: str) -> None:
    """None of ``values`` contains an X12 delimiter (``* : ^ ~`` or a line break)."""
    if _UNSAFE.search(values[0] if len(values) == 1 else "".join(values)):
        bad = next(v for v in values if _UNSAFE.search(v))
        raise GuideViolation(f"{where} {bad!r} contains an X12 delimiter (* : ^ ~ or newline)")


def is_amount(value: Decimal) -> bool:
    """Finite, below 100,000,000 in magnitude, at most two decimals."""
    return value.is_finite() and -_MAX_AMOUNT < value < _MAX_AMOUNT and value == value.quantize(_CENT)


def check_amount(value: Decimal, where: str, *, positive: bool = True) -> None:
    """A money amount with at most two decimals (and > 0 when ``positive``)."""
    if not is_amount(value):
        raise GuideViolation(f"{where} {value} must be an amount below 100,000,000 with at most 2 decimals")
    if positive and value <= 0:
        raise GuideViolation(f"{where} {value} must be greater than 0")


def check_code(value: str, where: str, allowed: frozenset[str]) -> None:
    if value not in allowed:
        raise GuideViolation(f"{where} {value!r} is not one of {', '.join(sorted(allowed))}")


def check_pattern(value: str, where: str, pattern: re.Pattern[str], expected: str) -> None:
    if not pattern.fullmatch(value):
        raise GuideViolation(f"{where} {value!r} must be {expected}")


def npi_is_valid(npi: str) -> bool:
    """10 digits starting 1 or 2, Luhn check digit over ``80840`` + the first nine digits."""
    if len(npi) != 10 or not npi.isdigit() or npi[0] not in "12":
        return False
    total = 24  # the Luhn contribution of the 80840 prefix
    for position, char in enumerate(reversed(npi[:9])):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return (10 - total % 10) % 10 == int(npi[9])


def check_npi(npi: str, where: str) -> None:
    if not npi_is_valid(npi):
        raise GuideViolation(f"{where} NPI {npi!r} is not 10 digits with a valid check digit")
