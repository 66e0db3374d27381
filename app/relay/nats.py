"""The outbox destination ``events``: each row published to NATS JetStream and acknowledged.

``deliver`` publishes the payload (JSON) to ``<relay.subject_prefix>.<kind>`` with the header
``Nats-Msg-Id: <outbox key>`` and waits for JetStream's PubAck, so a row is marked delivered only
once the stream has it. A redelivery (the worker died between the ack and marking the row) carries
the same id and JetStream answers ``duplicate`` instead of storing it twice (within the stream's
duplicate window, ``relay.duplicate_window_seconds``).

The client runs on its own event loop thread (the outbox dispatcher is synchronous); it connects
on first use and creates the stream if it does not exist (``relay.create_stream``). Errors: no
connection, timeouts, no JetStream responders -> :class:`TemporaryDeliveryError` (the outbox
retries with its backoff and this destination's breaker); JetStream refusing the message (e.g. no
stream for the subject) -> :class:`FatalDeliveryError`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext

from app.adapters.base import FatalDeliveryError, TemporaryDeliveryError
from app.settings import RelaySettings

T = TypeVar("T")
MSG_ID = "Nats-Msg-Id"


class NatsRelay:
    """Outbox adapter for destination ``events`` (enabled by ``relay.nats_url``)."""

    def __init__(self, *, name: str, settings: RelaySettings) -> None:
        if not settings.nats_url:
            raise ValueError("relay.nats_url is empty")
        self.name = name
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="claimbridge-relay", daemon=True)
        self._thread.start()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    def subject(self, kind: str) -> str:
        return f"{self.settings.subject_prefix}.{kind}"

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        self._run(self._publish(self.subject(kind), key, orjson.dumps(payload)))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._nc is not None:
            with contextlib.suppress(TemporaryDeliveryError, FatalDeliveryError):
                self._run(self._nc.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(self.settings.timeout_seconds * 3)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TemporaryDeliveryError("NATS: no answer in time") from exc

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and self._nc.is_connected:
            return self._js
        try:
            self._nc = await nats.connect(
                self.settings.nats_url,
                connect_timeout=self.settings.timeout_seconds,
                max_reconnect_attempts=2,
                allow_reconnect=True,
                name="claimbridge-relay",
            )
        except (OSError, nats.errors.Error) as exc:
            raise TemporaryDeliveryError(f"NATS: cannot connect ({type(exc).__name__})") from exc
        self._js = self._nc.jetstream(timeout=self.settings.timeout_seconds)
        if self.settings.create_stream:
            await self._ensure_stream(self._js)
        return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        try:
            await js.stream_info(self.settings.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(
                name=self.settings.stream,
                subjects=[f"{self.settings.subject_prefix}.>"],
                duplicate_window=self.settings.duplicate_window_seconds,
            )

    async def _publish(self, subject: str, key: str, body: bytes) -> None:
        try:
            js = await self._jetstream()
            await js.publish(subject, body, stream=self.settings.stream, headers={MSG_ID: key})
        except (TemporaryDeliveryError, FatalDeliveryError):
            raise
        except nats.js.errors.APIError as exc:  # JetStream answered and refused
            raise FatalDeliveryError(f"JetStream refused the event: {exc.description or exc.code}") from exc
        except (OSError, nats.errors.Error) as exc:  # timeouts, no responders, connection lost
            raise TemporaryDeliveryError(f"NATS: {type(exc).__name__}") from exc
