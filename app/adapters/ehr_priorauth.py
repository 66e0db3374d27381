"""EHR writers for prior-authorization alerts: the staff Task and coverage-information on the order.

- ``pa-task``: conditional create on the Task identifier; an existing Task is updated under
  ``If-Match`` with the payload, keeping its ``owner`` (staff may have reassigned it) and, unless
  the alert ended it (completed / failed / cancelled), its ``status``.
- ``order-coverage``: read the order, put the coverage-information extension on it (replacing an
  earlier one of ours for the same coverage, keeping every other extension) and update it under
  ``If-Match`` of the version read; a 412 (someone changed it meanwhile) reads it again, up to
  :data:`ATTEMPTS` times, then the delivery is retried later by the outbox.
"""

from __future__ import annotations

from typing import Any

from app.cds.coverage_info import COVERAGE_INFORMATION
from app.fhir.client import FhirClient
from app.fhir.errors import VersionConflict

ATTEMPTS = 3
TERMINAL = frozenset({"completed", "failed", "cancelled"})  # Task states the alert ends with


async def write_pa_task(client: FhirClient, task: dict[str, Any]) -> str:
    result = await client.create_unique(task)
    existing = result.resource
    if result.created or existing is None:
        return "created"
    merged = {**task, "id": existing.get("id")}
    if existing.get("owner"):
        merged["owner"] = existing["owner"]
    if task["status"] not in TERMINAL and existing.get("status"):
        merged["status"] = existing["status"]
    if all(existing.get(k) == v for k, v in merged.items()):
        return "unchanged"
    await client.update(merged, if_match_version=result.version_id)
    return "updated"


def _coverage_of(ext: dict[str, Any]) -> Any:
    return next((p.get("valueReference") for p in ext.get("extension") or () if p.get("url") == "coverage"), None)


def with_extension(order: dict[str, Any], ext: dict[str, Any]) -> dict[str, Any]:
    mine = _coverage_of(ext)
    kept = [e for e in order.get("extension") or ()
            if not (e.get("url") == COVERAGE_INFORMATION and _coverage_of(e) == mine)]  # fmt: skip
    return {**order, "extension": [*kept, ext]}


async def write_order_coverage(client: FhirClient, payload: dict[str, Any]) -> str:
    resource_type, _, resource_id = str(payload["order"]).partition("/")
    for _ in range(ATTEMPTS):
        current = await client.read(resource_type, resource_id)
        updated = with_extension(current, payload["extension"])
        if updated == current:
            return "unchanged"
        try:
            await client.update(updated, if_match_version=(current.get("meta") or {}).get("versionId"))
            return "updated"
        except VersionConflict:
            continue  # changed since we read it: read the new version and apply ours to it
    raise VersionConflict(f"{resource_type} kept changing while its coverage information was written")
