"""EHR connectivity, the integration half: everything the worker does with a registered EHR.

- :mod:`app.ehr.gateway`    one event loop thread per process and one bounded ``httpx.AsyncClient``
                            per EHR (SMART backend auth or none), called from the sync worker;
- :mod:`app.ehr.fetch`      what to read for an id-only focus, an encounter context (2 round trips)
                            and a notified pull (``_lastUpdated`` search); async, no database;
- :mod:`app.ehr.prefetch`   the worker's step 1b, outside the transaction: decide, fetch, classify;
- :mod:`app.ehr.recovery`   the periodic sweep: gaps in event numbers, silences, ``$events`` /
                            ``$status`` + search recovery, reactivation of stopped subscriptions
                            (the calls themselves in :mod:`app.ehr.status`);
- :mod:`app.ehr.worker`     :class:`~app.ehr.worker.EhrWorker`, the job runner with the above wired in;
- :mod:`app.ehr.discovery`, :mod:`app.ehr.provision`  ``ehrs add`` and ``subscriptions create``.
"""
