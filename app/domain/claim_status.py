"""The claim lifecycle: the statuses, the events that move a claim, and ONE table between them (pure).

``TRANSITIONS[(status, event)]`` is the status after ``event``; ``None`` stands for "no claim yet".
A pair missing from the table is an illegal transition (:class:`IllegalTransition`). An answer from
the clearinghouse or payer (999, 277CA, 835) is defined for every existing claim: where it does not
move the claim (a late or repeated answer) the claim keeps its status. The repository applies the
table (:func:`app.db.claims_repo.apply_transitions`); docs/architecture.md draws it.

:func:`next_status` is the status a new claim version gets (``held``, ``ready``, or
``needs-replacement`` when the payer has the claim): the worker, finding overrides and the what-if
replay ask here, so a claim the payer already holds is never sent again as an original (CARC 18),
also when its latest submission was rejected but an earlier one reached the payer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from app.errors import FatalError


class ClaimStatus(StrEnum):
    """A claim's status as stored in ``claim.status`` and shown in JSON (the values are the contract)."""

    HELD = "held"  # an open error finding: not sent
    READY = "ready"  # waits for the batch submitter
    NEEDS_REPLACEMENT = "needs-replacement"  # changed after the payer got it: goes as a replacement (freq 7)
    SUBMITTED = "submitted"  # in an 837P batch
    ACCEPTED = "accepted"  # 277CA accepted
    REJECTED = "rejected"  # 999 or 277CA rejected: fix, resubmit as new
    PAID = "paid"  # 835
    DENIED = "denied"  # 835, the whole claim denied
    WITHDRAWN = "withdrawn"  # never with the payer, and its encounter no longer yields it: not sent


class ClaimEvent(StrEnum):
    """What happens to a claim."""

    VERSION_HELD = "version-held"  # a new version with an open error finding
    VERSION_CLEAN = "version-clean"  # a new version without one (of a claim not held)
    VERSION_CLEAN_SENT = "version-clean-sent"  # the same of a rejected claim an earlier submission of which was not
    CLEARED = "cleared"  # a held claim has no open error left (clean version or overrides), never with the payer
    CLEARED_SENT = "cleared-sent"  # the same, and a submission of it was not rejected (the payer may have it)
    REFUSED = "refused"  # the X12 builder refused the claim at submit time
    WITHDRAWN = "withdrawn"  # its encounter no longer yields it and the payer never had it
    SUBMITTED = "submitted"  # written into an 837P batch
    ACCEPTED_999 = "999-accepted"
    REJECTED_999 = "999-rejected"
    ACCEPTED_277CA = "277ca-accepted"
    REJECTED_277CA = "277ca-rejected"
    OTHER_277CA = "277ca-other"  # pending or informational
    PAID_835 = "835-paid"
    DENIED_835 = "835-denied"  # the whole claim denied
    REVERSED_835 = "835-reversed"  # CLP02 22: a payer's reversal (posted against the original)
    FORWARDED_835 = "835-forwarded"  # CLP02 23: not this payer's claim, forwarded to another: no adjudication


_S = ClaimStatus
_E = ClaimEvent
# The payer has (or may have) the claim: a change must go as a replacement. "rejected": fix, resubmit as new.
SUBMITTED_STATES: Final = frozenset({_S.SUBMITTED, _S.ACCEPTED, _S.PAID, _S.DENIED, _S.NEEDS_REPLACEMENT})
IN_FLIGHT: Final = frozenset({_S.SUBMITTED, _S.ACCEPTED})
Key = tuple[ClaimStatus | None, ClaimEvent]


def _answer(event: ClaimEvent, moves: Mapping[ClaimStatus, ClaimStatus]) -> dict[Key, ClaimStatus]:
    """An answer: defined for every existing claim, which keeps its status unless ``moves`` says otherwise."""
    return {(state, event): moves.get(state, state) for state in ClaimStatus}


def _rows(event: ClaimEvent, moves: Mapping[ClaimStatus | None, ClaimStatus]) -> dict[Key, ClaimStatus]:
    return {(state, event): to for state, to in moves.items()}


TRANSITIONS: Final[Mapping[Key, ClaimStatus]] = MappingProxyType(
    {
        **_rows(_E.VERSION_HELD, dict.fromkeys((None, *ClaimStatus), _S.HELD)),
        **_rows(
            _E.VERSION_CLEAN,
            {None: _S.READY, _S.READY: _S.READY, _S.REJECTED: _S.READY, _S.WITHDRAWN: _S.READY}
            | dict.fromkeys(SUBMITTED_STATES, _S.NEEDS_REPLACEMENT),
        ),
        **_rows(_E.VERSION_CLEAN_SENT, {_S.REJECTED: _S.NEEDS_REPLACEMENT}),
        **_rows(_E.CLEARED, {_S.HELD: _S.READY}),
        **_rows(_E.CLEARED_SENT, {_S.HELD: _S.NEEDS_REPLACEMENT}),
        # Refused once: held with the x12.refused finding until a new version (or an override) clears it.
        **_rows(_E.REFUSED, {_S.READY: _S.HELD, _S.NEEDS_REPLACEMENT: _S.HELD}),
        **_rows(_E.WITHDRAWN, dict.fromkeys((_S.HELD, _S.READY, _S.REJECTED, _S.WITHDRAWN), _S.WITHDRAWN)),
        **_rows(_E.SUBMITTED, {_S.READY: _S.SUBMITTED, _S.NEEDS_REPLACEMENT: _S.SUBMITTED}),
        **_answer(_E.ACCEPTED_999, {}),
        **_answer(_E.REJECTED_999, {_S.SUBMITTED: _S.REJECTED}),
        **_answer(_E.ACCEPTED_277CA, {_S.SUBMITTED: _S.ACCEPTED}),
        **_answer(_E.REJECTED_277CA, dict.fromkeys(IN_FLIGHT, _S.REJECTED)),
        **_answer(_E.OTHER_277CA, {}),
        **_answer(_E.PAID_835, dict.fromkeys((*IN_FLIGHT, _S.REJECTED, _S.DENIED), _S.PAID)),
        **_answer(_E.DENIED_835, dict.fromkeys((*IN_FLIGHT, _S.REJECTED), _S.DENIED)),
        **_answer(_E.REVERSED_835, {}),
        **_answer(_E.FORWARDED_835, {}),
    }
)


class IllegalTransition(FatalError):
    """An event the lifecycle does not allow from the claim's status (a bug in the caller)."""

    def __init__(self, state: ClaimStatus | None, event: ClaimEvent, *, claim_id: str | None = None) -> None:
        self.state, self.event, self.claim_id = state, event, claim_id
        where = f"claim {claim_id}: " if claim_id else ""
        super().__init__(f"{where}event {event} is not allowed from status {state or '(no claim)'}")


def transition(state: str | None, event: ClaimEvent, *, claim_id: str | None = None) -> ClaimStatus:
    """The status after ``event`` from ``state`` (``None``: no claim yet); :class:`IllegalTransition` if none.

    ``claim_id`` only names the claim in the error.
    """
    current = None if state is None else ClaimStatus(state)
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise IllegalTransition(current, event, claim_id=claim_id) from None


def cleared(*, with_payer: bool) -> ClaimEvent:
    """The event for a held claim left without open errors."""
    return _E.CLEARED_SENT if with_payer else _E.CLEARED


def version_event(*, held: bool, previous: str | None, with_payer: Callable[[], bool]) -> ClaimEvent:
    """The event of a new claim version with (``held``) or without open errors, given the claim's last status.

    ``with_payer`` (was a submission of the claim not rejected?) is asked only for a claim held
    before, which may have been sent before it was held, and for a rejected one, an earlier
    submission of which may be with the payer (then the new version replaces it).
    """
    if held:
        return _E.VERSION_HELD
    if previous == _S.HELD:
        return cleared(with_payer=with_payer())
    if previous == _S.REJECTED and with_payer():
        return _E.VERSION_CLEAN_SENT
    return _E.VERSION_CLEAN


def next_status(*, held: bool, previous: str | None, with_payer: Callable[[], bool]) -> ClaimStatus:
    """The status of a new claim version: :func:`version_event` looked up in the table."""
    return transition(previous, version_event(held=held, previous=previous, with_payer=with_payer))
