"""The worker: claims jobs from the queue, runs the one pipeline (:mod:`app.worker.pipeline`) for
each in one transaction (claims, and every evaluated encounter's outcome: :mod:`app.worker.outcomes`),
retries temporary failures with backoff, dead-letters the rest, and delivers outbox rows through the
adapters.

Clearinghouse side (:mod:`app.worker.clearinghouse` runs them periodically): the batch submitter
(:mod:`app.worker.submit`: ready claims → one 837P per run) and the inbound ingester
(:mod:`app.worker.ingest`, with 835 posting in :mod:`app.worker.remit`: 999 / 277CA / 835 → statuses,
ClaimResponses, payments, denial queue, underpayment alerts).
"""
