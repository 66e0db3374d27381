"""Outbound ports, chosen by name from an explicit registry (:mod:`app.adapters.registry`).

Each adapter delivers one outbox row and is idempotent on the row's key; it raises
:class:`~app.adapters.base.TemporaryDeliveryError` (retried with the destination's policy) or
:class:`~app.adapters.base.FatalDeliveryError` (dead at once). The clearinghouse transports
(:mod:`~app.adapters.x12_folder`, :mod:`~app.adapters.clearinghouse_http`) also offer a response
source: inbound 999 / 277CA / 835 files waiting to be ingested.
"""
