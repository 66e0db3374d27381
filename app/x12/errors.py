"""The X12 branch of the error tree (:mod:`app.errors`): every X12Error is a FatalError.

::

    X12Error                      base of everything this package raises
    ├── GuideViolation            a model broke a 005010X222A1 invariant (raised by validators)
    └── X12BuildError             a claim (or envelope) was refused before any of it was written

Readers never raise on broken input: they record :class:`app.x12.tokenizer.Problem` rows instead.
"""

from __future__ import annotations

from app.errors import FatalError


class X12Error(FatalError):
    """Base class of the errors raised by :mod:`app.x12`."""


class GuideViolation(X12Error, ValueError):
    """A segment or loop model does not satisfy the implementation guide."""


class X12BuildError(X12Error, ValueError):
    """A claim or envelope cannot be turned into an 837P; nothing of it was written.

    ``claim_id`` names the claim (``None`` for envelope problems) and ``reasons`` lists every
    problem found, each naming the loop/segment/element it concerns.
    """

    def __init__(self, claim_id: str | None, reasons: list[str] | tuple[str, ...]) -> None:
        self.claim_id = claim_id
        self.reasons = tuple(reasons)
        subject = f"claim {claim_id!r}" if claim_id is not None else "837P envelope"
        super().__init__(f"{subject} refused: " + "; ".join(self.reasons))
