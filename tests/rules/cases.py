"""A rule test case: changes that must make the rule fire, and near misses that must not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tests.rules.factories import VARIANTS, Scenario, Variant

Change = Callable[[Scenario], object]


@dataclass(frozen=True)
class Case:
    rule: str
    fail: Sequence[Change]
    ok: Sequence[Change]
    variants: Sequence[Variant] = VARIANTS
