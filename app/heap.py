"""The long-running processes' garbage-collector settings, applied once start-up is done (``serve``, ``worker``).

After start-up a ``serve`` process holds ~230,000 tracked objects (FHIR models, pydantic and
SQLAlchemy internals, configuration) that live as long as the process. With the default thresholds
(700, 10, 10) the collector walked them all in a full collection every ~3,000 notifications
(240–340 ms of CPU on this machine, one request stalled behind it) and ran a young collection every
~8 requests: ~90–130 us of a notification's CPU in all (measured in-process, bench/README.md Notes).
:func:`settle_heap` collects once, freezes what start-up built (never scanned again; it is freed
normally by reference counting) and raises the young-generation threshold, so a collection scans
only what requests allocated. Reference cycles made by requests are still collected.

A ``worker`` process is the same: a full collection of 0.27–0.41 s landed in every 200-visit run of
``bench/eligibility.py``, about 1 ms of CPU per claim job (bench/README.md Notes, 2026-12-08).
"""

from __future__ import annotations

import gc

#: Young-generation threshold (allocations minus deallocations of tracked objects between runs).
YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
