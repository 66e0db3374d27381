"""``/api/encounters``: how every evaluated encounter ended. Every route needs the admin token.

- ``GET /api/encounters?outcome=&patient=&billed=&limit=&offset=``  outcomes in encounter order:
  ``claim``, ``nothing-billable``, ``no-coverage``, ``not-finished``, ``history``; ``billed=false``
  lists the encounters that have no claim (each with the findings that explain why)
- ``GET /api/encounters/{id}``  one encounter (its id, or ``Encounter/{id}``); 404 when unknown
"""

from __future__ import annotations

from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request

from app.api.outcomes import OutcomeError
from app.api.params import Offset
from app.api.security import require_admin
from app.db import outcomes_repo
from app.db.engine import read_only
from app.domain.outcomes import Outcome
from app.services import Services

router = APIRouter(prefix="/api", tags=["encounters"], dependencies=[Depends(require_admin)])
OUTCOMES = tuple(o.value for o in Outcome)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


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
    services = _services(request)
    who = _key(patient, "Patient") if patient else None

    def run() -> list[dict[str, Any]]:
        with read_only(services.engine) as conn:
            return outcomes_repo.list_outcomes(
                conn, outcome=wanted, patient=who, billed=billed, limit=limit, offset=offset
            )

    return await to_thread.run_sync(run)


@router.get("/encounters/{encounter_id:path}")
async def get_encounter(
    request: Request, encounter_id: Annotated[str, Path(min_length=1, max_length=200)]
) -> dict[str, Any]:
    services = _services(request)
    key = _key(encounter_id, "Encounter")

    def run() -> dict[str, Any] | None:
        with read_only(services.engine) as conn:
            return outcomes_repo.get_outcome(conn, key)

    found = await to_thread.run_sync(run)
    if found is None:
        raise OutcomeError(404, f"no evaluated encounter {key}")
    return found
