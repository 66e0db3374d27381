"""The adapter port and its error tree.

DeliveryError
 ├── TemporaryDeliveryError   retried with backoff; counts toward the destination's circuit breaker
 └── FatalDeliveryError       the delivery is dead; an operator fixes and replays it
"""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    pass


class TemporaryDeliveryError(DeliveryError):
    pass


class FatalDeliveryError(DeliveryError):
    pass


class Adapter(Protocol):
    name: str

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Deliver one side effect; idempotent on ``key``."""
