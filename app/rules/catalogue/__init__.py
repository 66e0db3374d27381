"""The scrubbing catalogue: importing this package registers every rule (one module per family)."""

from app.rules.catalogue import (
    diagnoses,
    duplicates,
    edits,
    eligibility,
    global_surgery,
    labs,
    lines,
    modifiers,
    parties,
    prior_auth,
    procedures,
    records,
    timely,
    vaccines,
    verification,
)

__all__ = [
    "diagnoses",
    "duplicates",
    "edits",
    "eligibility",
    "global_surgery",
    "labs",
    "lines",
    "modifiers",
    "parties",
    "prior_auth",
    "procedures",
    "records",
    "timely",
    "vaccines",
    "verification",
]
