"""Which EHR a piece of data belongs to: resource identity is scoped per EHR.

Two EHRs (or two subscriptions of different EHR systems) may both send ``Encounter/1``; they are
different visits. Every row built from what an EHR sent (mirror, jobs, contexts, claims, encounter
outcomes, dedupe keys) carries the EHR's name, the subscription's ``--ehr``; a subscription that
names none belongs to :data:`DEFAULT_EHR`. A subscription's secret therefore only ever writes its
own EHR's data. Pure: no I/O.
"""

from __future__ import annotations

DEFAULT_EHR = "default"


def ehr_scope(ehr: str | None) -> str:
    """The scope of a subscription's data: its EHR's name, or :data:`DEFAULT_EHR` when it names none."""
    return ehr or DEFAULT_EHR
