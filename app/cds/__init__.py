"""CDS Hooks 2.0 service with Da Vinci CRD 2.x behaviour (the order-time face of the claim rules).

- :mod:`app.cds.hooks`          the services per hook and the discovery document;
- :mod:`app.cds.request`        a hook request checked (400 / 422) and read;
- :mod:`app.cds.gather`         context, prefetch, then (registered EHRs only) the EHR's FHIR server;
- :mod:`app.cds.orders`         draft orders read into billable codes (the claim mapping's tables first);
- :mod:`app.cds.evaluate`       the payer profile and prior-auth rule per order (pure, shared with
                                :mod:`app.priorauth`), the response;
- :mod:`app.cds.coverage_info`  the coverage-information extension and its CRD invariants;
- :mod:`app.cds.cards`          the cards;
- :mod:`app.cds.auth`           the CDS client JWT check (joserfc, jti replay store);
- :mod:`app.cds.service`        one call in order (shared by ``POST /cds-services/{id}`` and ``claimbridge cds call``).
"""
