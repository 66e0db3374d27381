"""``/api/encounters``: how every evaluated encounter ended. Every route needs the admin token.

- ``GET /api/encounters?outcome=&patient=&billed=&limit=&offset=``  outcomes in encounter order:
  ``claim``, ``nothing-billable``, ``no-coverage``, ``not-finished``, ``history``; ``billed=false``
  lists the encounters that have no claim (each with the findings that explain why)
- ``GET /api/encounters/{id}``  one encounter (its id, or ``Encounter/{id}``); 404 when unknown
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from app.api.params import Offset
from app.api.reads import read, read_one
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


@router.get("/encounters/{encounter_id:path}")
async def get_encounter(
    request: Request, encounter_id: Annotated[str, Path(min_length=1, max_length=200)]
) -> dict[str, Any]:
    key = _key(encounter_id, "Encounter")
    return await read_one(request, lambda conn: outcomes_repo.get_outcome(conn, key), f"no evaluated encounter {key}")
