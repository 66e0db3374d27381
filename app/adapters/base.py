"""The adapter port and its branch of the error tree (:mod:`app.errors`).

DeliveryError
 ├── TemporaryDeliveryError   also a TemporaryError: retried with the destination's backoff (or exactly
 │                            ``retry_after``); counts toward the destination's circuit breaker
 └── FatalDeliveryError       also a FatalError: the delivery is dead; an operator fixes and replays it
"""

from __future__ import annotations

from typing import Any, Protocol

from app.errors import ClaimbridgeError, FatalError, TemporaryError


class DeliveryError(ClaimbridgeError):
    """A side effect could not be delivered."""


class TemporaryDeliveryError(DeliveryError, TemporaryError):
    """Worth delivering again later."""


class FatalDeliveryError(DeliveryError, FatalError):
    """The destination refused it; retrying unchanged will not help."""


class Adapter(Protocol):
    name: str

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Deliver one side effect; idempotent on ``key``."""
