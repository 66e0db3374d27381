"""The HTTP edge (FastAPI). Thin: verify, store, acknowledge; read models over the same tables.

- :mod:`app.api.notifications`  ``POST /notifications`` and the plain rest-hook routes
- :mod:`app.api.admin`          ``/api/...`` (bearer token): claims, findings, dead letters, subscriptions
- :mod:`app.api.replays`        ``/api/inbox``, ``/api/outbox`` (admin): dead inbox rows and deliveries, replay
- :mod:`app.api.billing`        ``/api/...`` (bearer token): denials, underpayments, KPIs, X12 batches and answers
- :mod:`app.api.quarantine`     ``/api/x12/quarantine`` (bearer token): inbound files that kept failing, release
- :mod:`app.api.encounters`     ``/api/encounters`` (bearer token): each encounter's claim or why none
- :mod:`app.api.ops`            ``/healthz``, ``/readyz``, ``/metrics``
- :mod:`app.api.outcomes`       OperationOutcome errors
"""
