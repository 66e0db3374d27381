"""EHR connectivity, the integration half: everything the worker does with a registered EHR.

The worker (:mod:`app.worker`) uses this package; it imports nothing from the worker, the adapters
or the composition root. The worker's step 1b (deciding what to fetch per job) is
:mod:`app.worker.prefetch`; the sweep runs as one of the worker's periodic duties.

- :mod:`app.ehr.gateway`    one event loop thread per process and one bounded ``httpx.AsyncClient``
                            per EHR (SMART backend auth or none), called from the sync worker;
- :mod:`app.ehr.fetch`      what to read for an id-only focus, an encounter context (2 round trips)
                            and a notified pull (``_lastUpdated`` search); async, no database;
- :mod:`app.ehr.recovery`   the periodic sweep: gaps in event numbers, silences, ``$events`` /
                            ``$status`` + search recovery, reactivation of stopped subscriptions
                            (the calls themselves in :mod:`app.ehr.status`);
- :mod:`app.ehr.discovery`, :mod:`app.ehr.provision`  ``ehrs add`` and ``subscriptions create``.
"""
