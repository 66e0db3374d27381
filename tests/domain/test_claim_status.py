"""The claim lifecycle table, pair by pair: every (status, event) gives the documented status or is refused.

``EXPECTED`` is the specification, written out by hand (one row per event, one column per status);
docs/architecture.md shows the same grid, and a test keeps the two equal.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.domain.claim_status import (
    TRANSITIONS,
    ClaimEvent,
    ClaimStatus,
    IllegalTransition,
    next_status,
    transition,
    version_event,
)

ROOT = Path(__file__).resolve().parents[2]
COLUMNS: tuple[ClaimStatus | None, ...] = (None, *ClaimStatus)
# "=": the claim keeps its status; "-": illegal; "n-r": needs-replacement. Columns: no claim, then ClaimStatus.
EXPECTED = """
event               new    held   ready      n-r        submitted  accepted  rejected  paid  denied  withdrawn
version-held        held   held   held       held       held       held      held      held  held    held
version-clean       ready  -      ready      n-r        n-r        n-r       ready     n-r   n-r     ready
version-clean-sent  -      -      -          -          -          -         n-r       -     -       -
cleared             -      ready  -          -          -          -         -         -     -       -
cleared-sent        -      n-r    -          -          -          -         -         -     -       -
refused             -      -      held       held       -          -         -         -     -       -
withdrawn           -      withdrawn withdrawn -        -          -         withdrawn -     -       =
submitted           -      -      submitted  submitted  -          -         -         -     -       -
999-accepted        -      =      =          =          =          =         =         =     =       =
999-rejected        -      =      =          =          rejected   =         =         =     =       =
277ca-accepted      -      =      =          =          accepted   =         =         =     =       =
277ca-rejected      -      =      =          =          rejected   rejected  =         =     =       =
277ca-other         -      =      =          =          =          =         =         =     =       =
835-paid            -      =      =          =          paid       paid      paid      =     paid    =
835-denied          -      =      =          =          denied     denied    denied    =     =       =
835-reversed        -      =      =          =          =          =         =         =     =       =
835-forwarded       -      =      =          =          =          =         =         =     =       =
"""


ABBREVIATIONS = {"n-r": "needs-replacement"}


def parse_grid(rows: list[list[str]]) -> dict[tuple[ClaimStatus | None, ClaimEvent], ClaimStatus | None]:
    """``{(status, event): status after, or None when illegal}`` from rows of event + one cell per column."""
    out: dict[tuple[ClaimStatus | None, ClaimEvent], ClaimStatus | None] = {}
    for event, *cells in rows:
        assert len(cells) == len(COLUMNS), event
        for state, cell in zip(COLUMNS, cells, strict=True):
            assert state is not None or cell != "=", "no claim cannot keep its status"
            after = None if cell == "-" else state if cell == "=" else ClaimStatus(ABBREVIATIONS.get(cell, cell))
            out[(state, ClaimEvent(event))] = after
    return out


GRID = [line.split() for line in EXPECTED.strip().splitlines()]
SPEC = parse_grid(GRID[1:])
PAIRS = [(state, event) for event in ClaimEvent for state in COLUMNS]


def test_the_specification_names_every_pair() -> None:
    assert [ABBREVIATIONS.get(cell, cell) for cell in GRID[0]] == ["event", "new", *ClaimStatus]
    assert set(SPEC) == set(PAIRS)


@pytest.mark.parametrize(("state", "event"), PAIRS, ids=[f"{s or 'new'}-{e}" for s, e in PAIRS])
def test_every_pair(state: ClaimStatus | None, event: ClaimEvent) -> None:
    expected = SPEC[(state, event)]
    if expected is None:
        message = f"event {event} is not allowed from status {state or '.no claim.'}"
        with pytest.raises(IllegalTransition, match=message):
            transition(state, event)
        assert (state, event) not in TRANSITIONS
    else:
        assert transition(state, event) is expected
        assert transition(None if state is None else str(state), event) is expected  # stored strings work too


def test_statuses_keep_their_stored_values() -> None:
    """Stored rows and JSON carry these strings: renaming one is a data migration, not a refactor."""
    assert [str(s) for s in ClaimStatus] == [
        "held", "ready", "needs-replacement", "submitted", "accepted", "rejected", "paid", "denied", "withdrawn",
    ]  # fmt: skip


def test_an_unknown_stored_status_is_refused() -> None:
    with pytest.raises(ValueError, match="'sent' is not a valid ClaimStatus"):
        transition("sent", ClaimEvent.PAID_835)


def test_the_illegal_transition_names_the_claim() -> None:
    with pytest.raises(IllegalTransition) as refused:
        transition("paid", ClaimEvent.SUBMITTED, claim_id="c1")
    assert str(refused.value) == "claim c1: event submitted is not allowed from status paid"
    assert (refused.value.state, refused.value.event, refused.value.claim_id) == ("paid", "submitted", "c1")


@pytest.mark.parametrize("previous", COLUMNS)
@pytest.mark.parametrize("held", [True, False])
@pytest.mark.parametrize("sent", [True, False])
def test_next_status_of_a_new_version(previous: ClaimStatus | None, held: bool, sent: bool) -> None:
    """Held with open errors; else a replacement once the payer has (or may have) the claim; else ready."""
    asked: list[bool] = []

    def with_payer() -> bool:
        asked.append(True)
        return sent

    if held:
        expected = ClaimStatus.HELD
    elif previous in {"submitted", "accepted", "paid", "denied", "needs-replacement"}:
        expected = ClaimStatus.NEEDS_REPLACEMENT
    elif previous in {"held", "rejected"} and sent:  # an earlier submission is with the payer: never an original
        expected = ClaimStatus.NEEDS_REPLACEMENT
    else:
        expected = ClaimStatus.READY
    assert next_status(held=held, previous=previous, with_payer=with_payer) is expected
    assert asked == ([True] if previous in {"held", "rejected"} and not held else [])  # asked only then


def test_a_clean_version_of_a_held_claim_clears_it() -> None:
    assert version_event(held=False, previous="held", with_payer=lambda: False) is ClaimEvent.CLEARED
    assert version_event(held=False, previous="held", with_payer=lambda: True) is ClaimEvent.CLEARED_SENT
    assert version_event(held=False, previous="ready", with_payer=lambda: True) is ClaimEvent.VERSION_CLEAN


def test_a_clean_version_of_a_rejected_claim_replaces_what_the_payer_holds() -> None:
    """A rejected replacement: the payer still holds the earlier version, so the fix is a replacement."""
    assert version_event(held=False, previous="rejected", with_payer=lambda: True) is ClaimEvent.VERSION_CLEAN_SENT
    assert version_event(held=False, previous="rejected", with_payer=lambda: False) is ClaimEvent.VERSION_CLEAN
    assert next_status(held=False, previous="rejected", with_payer=lambda: True) is ClaimStatus.NEEDS_REPLACEMENT
    assert next_status(held=False, previous="rejected", with_payer=lambda: False) is ClaimStatus.READY


def test_a_refused_replacement_is_held_once_not_picked_again() -> None:
    assert transition("needs-replacement", ClaimEvent.REFUSED) is ClaimStatus.HELD
    assert next_status(held=False, previous="held", with_payer=lambda: True) is ClaimStatus.NEEDS_REPLACEMENT


def documented_grid() -> list[list[str]]:
    """The lifecycle table of docs/architecture.md as rows of cells (backticks and padding dropped)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Claim lifecycle", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [[re.sub(r"[`*]", "", cell).strip() for cell in row.strip("|").split("|")] for row in rows]


def test_the_documented_table_is_the_code() -> None:
    assert parse_grid(documented_grid()) == SPEC
