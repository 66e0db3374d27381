"""``GET /.well-known/jwks.json``: the public keys EHRs verify claimbridge's client assertions with.

A JWKS is public by nature (it holds public keys only), so this route needs no token: an EHR's
authorization server fetches it when it registers claimbridge by JWKS URL and again when it meets an
unknown ``kid``. Served: the public half of every registered EHR's signing key (``ehrs add --key``)
and of each file in ``ehr.published_key_files`` (the next key during a rollover, the previous one
until its assertions expire), once per ``kid``. A key file that cannot be read is left out and
logged, so one bad file does not stop every EHR from verifying the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import structlog
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.db import ehr_repo
from app.db.engine import read_only
from app.fhir.keys import KeyFileError, public_keys_in
from app.services import Services, services_of

router = APIRouter(tags=["smart"])
log = structlog.get_logger(__name__)
#: Caches may keep the document this long: publish a new key at least this long before signing with it.
MAX_AGE_SECONDS = 300


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (JWKS) for SMART Backend Services",
    description=(
        "Public by design: a JWKS holds public keys only, so no token is required. EHR authorization "
        "servers verify claimbridge's client assertions with these keys; during a key rollover both "
        f"the old and the new key are listed. Cacheable for {MAX_AGE_SECONDS} s."
    ),
    response_model=None,
)
async def jwks(request: Request) -> JSONResponse:
    services = services_of(request)
    document = await to_thread.run_sync(published_jwks, services)
    return JSONResponse(
        document, media_type="application/jwk-set+json", headers={"Cache-Control": f"public, max-age={MAX_AGE_SECONDS}"}
    )


def published_jwks(services: Services) -> dict[str, Any]:
    """The JWKS document: registered signing keys first, then the extra published files, one per kid."""
    with read_only(services.engine) as conn:
        paths = [Path(r.key_path) for r in ehr_repo.list_ehrs(conn) if r.auth == "smart-backend" and r.key_path]
    paths.extend(services.settings.ehr.published_key_files)
    keys: dict[str, dict[str, Any]] = {}
    for path in dict.fromkeys(paths):
        try:
            found = public_keys_in(path)
        except (OSError, KeyFileError) as exc:
            log.warning("jwks.key_unreadable", path=str(path), error=type(exc).__name__)
            continue
        for jwk in found:
            keys.setdefault(str(jwk["kid"]), jwk)
    return {"keys": list(keys.values())}
