"""Relay of outbox events to a message broker for downstream consumers (NATS JetStream).

Owns: the event payloads written with each claim version (:mod:`app.relay.events`, pure) and the
outbox destination ``events`` that publishes them (:mod:`app.relay.nats`). No dual writes: the
pipeline writes the event row in the job's transaction, and the outbox dispatcher relays it later,
at least once; JetStream drops repeats by message id (``Nats-Msg-Id`` = the outbox key) within its
duplicate window, so consumers see each event once. See ``docs/deploy.md``.
"""
