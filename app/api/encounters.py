"""``/api/encounters``: how every evaluated encounter ended. Every route needs the admin token.

- ``GET /api/encounters?outcome=&patient=&billed=&limit=&offset=``  outcomes in encounter order:
  ``claim``, ``nothing-billable``, ``no-coverage``, ``not-finished``, ``history``; ``billed=false``
  lists the encounters that have no claim (each with the findings that explain why)
- ``GET /api/encounters/{id}?ehr=``  one encounter (its id, or ``Encounter/{id}``) of the EHR ``ehr``
  (identity is per EHR: ADR 0011); without ``ehr``, 409 naming the EHRs when more than one holds the
  id; 404 when unknown
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from app.api.outcomes import OutcomeError
from app.api.params import Offset
from app.api.reads import read
from app.api.security import require_admin
from app.db import outcomes_repo
from app.domain.outcomes import Outcome

router = APIRouter(prefix="/api", tags=["encounters"], dependencies=[Depends(require_admin)])
OUTCOMES = tuple(o.value for o in Outcome)


def _key(value: str, resource_type: str) -> str:
    return value if value.startswith(f"{resource_type}/") else f"{resource_type}/{value}"


@router.get("/encounters")
async def list_encounters(
    request: Request,
    outcome: Outcome | None = None,
    patient: str | None = Query(None, max_length=200),
    billed: bool | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    wanted = outcome.value if outcome else None
    who = _key(patient, "Patient") if patient else None
    return await read(
        request,
        lambda conn: outcomes_repo.list_outcomes(
            conn, outcome=wanted, patient=who, billed=billed, limit=limit, offset=offset
        ),
    )


@router.get(
    "/encounters/{encounter_id:path}",
    responses={409: {"description": "Several EHRs hold the id and no ehr was named (OperationOutcome)"}},
)
async def get_encounter(
    request: Request,
    encounter_id: Annotated[str, Path(min_length=1, max_length=200)],
    ehr: str | None = Query(None, min_length=1, max_length=200),
) -> dict[str, Any]:
    key = _key(encounter_id, "Encounter")
    found = await read(request, lambda conn: outcomes_repo.outcomes_of(conn, key, ehr=ehr))
    if not found:
        raise OutcomeError(404, f"no evaluated encounter {key}" + (f" of EHR {ehr}" if ehr else ""))
    if len(found) > 1:
        names = ", ".join(str(o["ehr"]) for o in found)
        raise OutcomeError(409, f"{key} is held by several EHRs ({names}): name one with ?ehr=")
    return found[0]
