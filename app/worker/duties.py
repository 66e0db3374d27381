"""Which of the worker's duties a process runs: ``claimbridge worker --duties`` / ``--no-duties``.

By default one process does everything (claim jobs, then every periodic duty). An operator can split
the work across processes sharing one database, e.g. one claim worker without eligibility and one
process that only talks to payers::

    claimbridge worker --no-duties eligibility     # claim jobs and every other duty
    claimbridge worker --duties eligibility        # only the eligibility checks (no claim jobs)

Nothing is handed over in memory between duties: a claim job stores the checks it plans as
``pending`` rows (``eligibility_checks``), the eligibility duty of whichever process claims due rows
sends them (each round, so within ``worker.poll_interval_seconds`` of the commit when idle), stores the
answers, and the claim job or a re-evaluation applies them. Every name below must be run by some
process: a deployment that leaves one out (no ``outbox``: nothing is delivered) is the operator's choice.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Every duty of :func:`app.services.build_worker`, in the order a round runs them; ``jobs`` is the
#: claim job loop itself (claim, prefetch, process).
DUTY_NAMES: tuple[str, ...] = (
    "jobs",
    "expansion",
    "ehr-recovery",
    "clearinghouse",
    "eligibility",
    "outbox",
    "priorauth-inquiry",
    "priorauth-reevaluation",
)


def select_duties(only: Iterable[str] = (), without: Iterable[str] = ()) -> frozenset[str]:
    """The duties a process runs: ``only`` those (when given), minus ``without``; unknown names fail.

    Names may be given comma-separated (``"jobs,outbox"``) or one per item.
    """
    wanted, dropped = _names(only), _names(without)
    unknown = sorted((wanted | dropped) - set(DUTY_NAMES))
    if unknown:
        raise ValueError(f"unknown worker duty {', '.join(unknown)} (known: {', '.join(DUTY_NAMES)})")
    chosen = (wanted or frozenset(DUTY_NAMES)) - dropped
    if not chosen:
        raise ValueError("this selection leaves the worker nothing to do")
    return chosen


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(name.strip() for value in values for name in value.split(",") if name.strip())
