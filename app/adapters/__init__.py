"""Outbound ports, chosen by name from an explicit registry (:mod:`app.adapters.registry`).

Each adapter delivers one outbox row and is idempotent on the row's key; it raises
:class:`~app.adapters.base.TemporaryDeliveryError` (retried with the destination's policy) or
:class:`~app.adapters.base.FatalDeliveryError` (dead at once).
"""
