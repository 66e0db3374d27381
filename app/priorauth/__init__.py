"""Prior authorization at order time, after the hook: alerts, Task write-back, and the Da Vinci PAS client.

- :mod:`app.priorauth.alerts`  an order arriving by notification that needs authorization not on
  file opens an alert and writes back a Task and the coverage-information extension (outbox);
  an authorization on file, a cancelled or entered-in-error order closes it.
- :mod:`app.priorauth.tasks`   the write-back payloads (pure).
- :mod:`app.priorauth.pas`     the PAS request Bundle (pure) and its validation.
- :mod:`app.priorauth.submit`  ``Claim/$submit`` / ``Claim/$inquire`` and the ClaimResponse handling.
"""
