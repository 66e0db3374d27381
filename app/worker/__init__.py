"""The worker: claims jobs from the queue, runs the one pipeline (:mod:`app.worker.pipeline`) for
each in one transaction, retries temporary failures with backoff, dead-letters the rest, and
delivers outbox rows through the adapters.
"""
