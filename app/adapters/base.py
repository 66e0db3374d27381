"""The adapter port and its error tree.

DeliveryError
 ├── TemporaryDeliveryError   retried with backoff (at least ``retry_after``); counts toward the breaker
 └── FatalDeliveryError       the delivery is dead; an operator fixes and replays it
"""

from __future__ import annotations

from typing import Any, Protocol


class DeliveryError(Exception):
    pass


class TemporaryDeliveryError(DeliveryError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds the receiver asked us to wait (Retry-After)


class FatalDeliveryError(DeliveryError):
    pass


class Adapter(Protocol):
    name: str

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Deliver one side effect; idempotent on ``key``."""
