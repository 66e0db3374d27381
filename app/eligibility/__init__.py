"""Real-time eligibility: verify a Coverage with its payer, over FHIR or X12, behind one port.

::

    triggers   Coverage created/changed, Appointment booked (+ a re-check 24 h before), Encounter
               arrived / in-progress (check-in) or finished without a fresh answer  (triggers.py)
      -> eligibility_check rows, idempotent per (coverage, date of service, trigger) (app.db.eligibility_repo);
               the checks of notifications whose jobs still wait are planned and sent ahead (ahead.py)
    duty       claims due checks in a short transaction, builds each request from the mirror
               (gather.py), runs it on its own event loop with no transaction open (runner.py),
               stores the answer, writes it back and re-evaluates the claim             (duty.py)
    port       the payer profile's ``eligibility:`` section picks the adapter; bounded timeouts,
               retries per the payer's policy (Retry-After honoured), a circuit breaker per payer;
               payer trouble becomes an ``unverified`` result, never an exception   (port.py)
    adapters   FHIR CoverageEligibilityRequest/$submit (fhir.py), X12 270 out / 271 in (x12.py)
    write-back CoverageEligibilityResponse + a front-desk Task per error, via the outbox (writeback.py)
    estimate   the patient's expected share from the benefits, with the arithmetic (estimate.py)

The result model is pure and lives in :mod:`app.domain.eligibility` (the rules read it).
"""
