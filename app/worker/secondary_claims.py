"""After the primary's 835: store the claim for the next payer, ready for the next batch (one call).

:func:`queue_secondary` is called by the 835 posting (:mod:`app.worker.remit`) for each matched claim
payment, inside the ingest transaction. It builds :func:`app.billing.secondary.secondary_claim` from
the claim and the ClaimResponse just made from the 835, and saves it as a claim of its own (the
encounter, the secondary payer) with no findings, so the submitter sends it in the next batch; the
837P carries the primary's adjudication in 2320/2330B/2430. Posting the same answer again saves
nothing new (same fingerprint).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from app.billing.secondary import calls_for_next_payer, next_insurance, secondary_claim
from app.db import claims_repo, mirror_repo
from app.db.inbound_repo import ClaimLink
from app.domain.context import key_of
from app.logging import get_logger
from app.x12.systems import PAYER_ID

log = get_logger("claimbridge.secondary")


def _payer(ctx: Any, coverage_ref: Any) -> tuple[str, dict[str, Any]] | None:
    coverage = ctx.resolve(coverage_ref) if ctx is not None else None
    for ref in (coverage or {}).get("payor") or ():
        org = ctx.resolve(ref)
        for ident in (org or {}).get("identifier") or ():
            if org and org.get("resourceType") == "Organization" and ident.get("system") == PAYER_ID:
                return str(ident["value"]), {"reference": key_of(org)}
    return None


def queue_secondary(
    conn: Connection, link: ClaimLink, response: dict[str, Any], *, clp02: str, now: datetime
) -> str | None:
    """Save the next payer's claim after this answer; its claim id, or None when there is none to send."""
    pair = next_insurance(link.resource)
    if pair is None:
        return None
    if not calls_for_next_payer(response, clp02):
        log.info("secondary.not_billed", claim=link.claim_id, clp02=clp02)  # e.g. nothing left to the patient
        return None
    ctx = mirror_repo.load_context(conn, link.encounter, ehr=link.scope)
    payer = _payer(ctx, pair[1].get("coverage"))
    if payer is None:
        log.warning("secondary.no_payer", claim=link.claim_id)
        return None
    claim = secondary_claim(link.resource, response, encounter=link.encounter, payer_id=payer[0],
                            insurer=payer[1], created=now.isoformat(), ehr=link.scope)  # fmt: skip
    if claim is None:
        return None
    body = {k: v for k, v in claim.items() if k not in ("created", "contained")}  # the same answer twice:
    body["adjudication"] = [{k: v for k, v in r.items() if k not in ("created", "identifier")}  # one version
                            for r in claim.get("contained") or ()]  # fmt: skip
    fingerprint = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
    if claims_repo.latest_fingerprint(conn, claim["id"]) == fingerprint:
        return str(claim["id"])
    new = claims_repo.NewVersion(
        claim_id=claim["id"], encounter=link.encounter, patient=link.patient, payer_id=payer[0], held=False,
        resource=claim, fingerprint=fingerprint, mapping_version=None, config_hash=None, em=None, findings=[],
        filing_deadline=None, source_job_id=None, ehr=link.scope,
    )  # fmt: skip
    claims_repo.save_version(conn, new, now=now)
    log.info("secondary.queued", claim=claim["id"], primary=link.claim_id, payer=payer[0])
    return str(claim["id"])
