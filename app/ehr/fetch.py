"""What to read from an EHR for a job whose resources are not in the notification. Async, no database.

- :func:`fetch_focus`       an id-only focus at its CURRENT version, with the context claims need:
                            ``Encounter`` -> :func:`fetch_encounter`; ``ServiceRequest``,
                            ``MedicationRequest``, ``Condition``, ``ChargeItem`` (``context``),
                            ``Procedure`` -> read, then the encounter it names;
                            anything else (``Coverage``, ``Patient`` ...) -> read alone (the affected
                            encounters' contexts are already in the mirror).
- :func:`fetch_encounter`   an encounter and its context in **2 round trips** whatever the number of
                            orders: ``Encounter?_id&_include&_revinclude`` (as
                            :meth:`~app.fhir.client.FhirClient.encounter_context`), then
                            ``Coverage?beneficiary&_include=Coverage:payor`` — the payer Organization
                            carries the payer id, without which the claim would have no payer.
- :func:`pull_changes`      a notified pull: ``{type}?_lastUpdated=ge{since}`` per subscribed type,
                            then the encounter context of everything found (fetched concurrently).

Errors are those of :mod:`app.fhir.errors`; a vanished focus raises ``ResourceGone``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.resources import encounter_of
from app.fhir.client import ENCOUNTER_INCLUDES, ENCOUNTER_REVINCLUDES, FhirClient
from app.fhir.errors import ResourceGone

Resource = dict[str, Any]
CONTEXT_TYPES = frozenset({"ServiceRequest", "MedicationRequest", "Condition", "ChargeItem", "Procedure"})
PULL_PAGE = "100"


@dataclass(frozen=True)
class Fetched:
    """What step 1b brought from the EHR for one job (or why it brought nothing)."""

    ehr: str | None = None
    resources: tuple[Resource, ...] = ()
    foci: tuple[str, ...] = ()
    round_trips: int = 0
    gone: str | None = None
    pulled: bool = False
    pull_mark: str | None = None
    started_at: datetime | None = None


@dataclass
class _Collected:
    resources: dict[str, Resource] = field(default_factory=dict)
    trips: int = 0

    def add(self, items: Iterable[Resource]) -> None:
        for resource in items:
            self.resources.setdefault(f"{resource['resourceType']}/{resource.get('id')}", resource)


async def fetch_focus(client: FhirClient, focus: str) -> Fetched:
    resource_type, _, resource_id = focus.partition("/")
    if resource_type == "Encounter":
        ctx = await fetch_encounter(client, resource_id)
        return Fetched(resources=tuple(ctx.resources.values()), foci=(focus,), round_trips=ctx.trips)
    resource = await client.read(resource_type, resource_id)
    got = _Collected({focus: resource}, 1)
    encounter = encounter_of(resource)
    if resource_type in CONTEXT_TYPES and encounter:
        ctx = await fetch_encounter(client, encounter.partition("/")[2])
        got.add(ctx.resources.values())
        got.trips += ctx.trips
    return Fetched(resources=tuple(got.resources.values()), foci=(focus,), round_trips=got.trips)


async def fetch_encounter(client: FhirClient, encounter_id: str) -> _Collected:
    got = _Collected()
    params = {"_id": encounter_id, "_include": list(ENCOUNTER_INCLUDES), "_revinclude": list(ENCOUNTER_REVINCLUDES)}
    got.trips += await _collect(client, "Encounter", params, got)
    encounter = got.resources.get(f"Encounter/{encounter_id}")
    if encounter is None:
        raise ResourceGone(f"Encounter/{encounter_id} not found", status=404)
    patient = (encounter.get("subject") or {}).get("reference")
    if isinstance(patient, str) and patient:
        coverage = {"beneficiary": patient, "_include": "Coverage:payor"}
        got.trips += await _collect(client, "Coverage", coverage, got)
    return got


async def pull_changes(client: FhirClient, *, resource_types: Sequence[str], since: str) -> Fetched:
    """Everything of ``resource_types`` changed at or after ``since``, with encounter contexts."""
    found = _Collected()
    for resource_type in resource_types:
        params = {"_lastUpdated": f"ge{since}", "_count": PULL_PAGE}
        async for page in client.pages(resource_type, params):
            found.trips += 1
            found.add(r for r, mode in _matches(page) if mode in (None, "match"))
    foci = tuple(found.resources)
    encounters = sorted({e for r in found.resources.values() if (e := encounter_of(r))})
    contexts = await asyncio.gather(
        *(fetch_encounter(client, e.partition("/")[2]) for e in encounters), return_exceptions=True
    )
    for ctx in contexts:
        if isinstance(ctx, ResourceGone):
            continue  # deleted since: nothing to bill for it
        if isinstance(ctx, BaseException):
            raise ctx
        found.add(ctx.resources.values())
        found.trips += ctx.trips
    marks = [str(m) for r in found.resources.values() if (m := (r.get("meta") or {}).get("lastUpdated"))]
    return Fetched(
        resources=tuple(found.resources.values()),
        foci=foci,
        round_trips=found.trips,
        pulled=True,
        pull_mark=max(marks) if marks else None,
    )


async def _collect(client: FhirClient, resource_type: str, params: dict[str, Any], into: _Collected) -> int:
    trips = 0
    async for page in client.pages(resource_type, params):
        trips += 1
        into.add(r for r, _ in _matches(page))
    return trips


def _matches(bundle: Resource) -> Iterable[tuple[Resource, str | None]]:
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType"):
            yield resource, (entry.get("search") or {}).get("mode")


def instant(moment: datetime) -> str:
    """A FHIR instant (UTC, milliseconds, ``Z``) for search parameters such as ``_lastUpdated``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shift_instant(stamp: str, seconds: float) -> str | None:
    """``stamp`` (an EHR instant) moved by ``seconds``, normalised to UTC; None if unparseable."""
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return instant(moment + timedelta(seconds=seconds))


def instant_sort_key(stamp: str) -> str:
    """Sort EHR instants by the moment they name, whatever their offset."""
    return shift_instant(stamp, 0) or stamp
