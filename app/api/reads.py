"""The one shape of an admin read: a query on a worker thread in a read-only transaction.

``read(request, query)`` runs ``query(conn)`` off the event loop on a connection that never queues
behind (or blocks) the SQLite writer; ``read_one`` adds the 404 OperationOutcome when the query finds
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from anyio import to_thread
from fastapi import Request
from sqlalchemy import Connection

from app.api.outcomes import OutcomeError
from app.db.engine import read_only
from app.services import services_of

T = TypeVar("T")


async def read(request: Request, query: Callable[[Connection], T]) -> T:
    engine = services_of(request).engine

    def run() -> T:
        with read_only(engine) as conn:
            return query(conn)

    return await to_thread.run_sync(run)


async def read_one(request: Request, query: Callable[[Connection], T | None], missing: str) -> T:
    found = await read(request, query)
    if found is None:
        raise OutcomeError(404, missing)
    return found
