"""The status a claim version gets: ``held``, ``ready``, or ``needs-replacement`` when the payer has it.

Pure: the worker (new versions), finding overrides (releasing a held claim) and the what-if replay
all ask here, so a claim the payer already holds is never sent again as an original (CARC 18).
"""

from __future__ import annotations

from collections.abc import Callable

# The payer has (or may have) the claim: a change must go as a replacement. "rejected": fix, resubmit as new.
SUBMITTED_STATES = frozenset({"submitted", "accepted", "paid", "denied", "needs-replacement"})


def next_status(*, held: bool, previous: str | None, with_payer: Callable[[], bool]) -> str:
    """The status of a claim version with (``held``) or without open errors, given the claim's last status.

    ``with_payer`` (was a submission of the claim not rejected?) is asked only for a claim held
    before, which may have been sent before it was held.
    """
    if held:
        return "held"
    if previous in SUBMITTED_STATES or (previous == "held" and with_payer()):
        return "needs-replacement"
    return "ready"
