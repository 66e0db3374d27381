"""The secondary claim, built from the primary claim and the primary payer's adjudication (pure).

When the primary payer's 835 is posted for a claim whose patient has another coverage after the
billed one (``Claim.insurance`` in ``Coverage.order``), :func:`secondary_claim` returns the claim to
send to the next payer: the same services, its focal insurance the next coverage, and the primary's
adjudication carried along so the 837P writes the other-payer loops (2320 AMT*D and CAS, 2330B
DTP*573, 2430 per line):

- ``insurance``: the same entries in the same order; ``focal`` moves to the next coverage; the
  primary's entry gets ``claimResponse`` → ``#primary-adjudication`` and loses its ``preAuthRef``;
- ``contained``: the primary's ClaimResponse (as :func:`app.x12.claim_response_from_835_claim` built
  it from the 835), id ``primary-adjudication``;
- ``related``: the primary claim, relationship ``associated`` (not ``prior``: this is no replacement);
- a new id (:func:`app.mappers.claim_id` of the encounter and the secondary payer), no patient
  control number (the submitter assigns one) and ``insurer`` = the next coverage's payer.

:func:`primary_claim_of` reads the link back: the secondary claim has its own CLM01, so the
secondary's 835 names it, but its money belongs on the primary claim's ledger (the same visit, one
receivable: the secondary is billed what the primary left to the patient).

None when there is no coverage after the billed one. Which answers call for one is
:func:`calls_for_next_payer`: CLP02 1-4 (processed or denied; never a reversal, nor a claim the payer
forwarded to the next payer itself: crossover, CLP02 19-21), and not a processed claim that left the
patient nothing (CLP05 = 0: there is nothing for the next payer to pay).
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from app.domain.tenancy import DEFAULT_EHR
from app.mappers.ids import CLAIM_ID_SYSTEM, claim_id

RELATED = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
ADJUDICATION_ID = "primary-adjudication"
Resource = dict[str, Any]
SECONDARY_AFTER = frozenset({"1", "2", "3", "4"})  # CLP02 of the answer after which the next payer is billed
PROCESSED = frozenset({"1", "2", "3"})  # CLP02: processed (a denial, 4, goes to the next payer whatever it left)
MEMBER_LIABILITY = "memberliability"


def left_to_patient(response: Resource) -> Decimal | None:
    """What the answer left to the patient (its ``memberliability`` total, the 835's CLP05), if it says."""
    for total in response.get("total") or ():
        codes = {c.get("code") for c in ((total.get("category") or {}).get("coding") or ())}
        value = (total.get("amount") or {}).get("value")
        if MEMBER_LIABILITY in codes and value is not None:
            return Decimal(str(value))
    return None


def calls_for_next_payer(response: Resource, clp02: str) -> bool:
    """Whether the next payer is billed after this answer: CLP02 1-4, except a processed claim that left
    the patient nothing (the primary paid or wrote off everything: nothing for a secondary to pay)."""
    if clp02 not in SECONDARY_AFTER:
        return False
    return not (clp02 in PROCESSED and left_to_patient(response) == 0)


def next_insurance(claim: Resource) -> tuple[Resource, Resource] | None:
    """(the billed insurance entry, the next one in ``sequence`` order), or None."""
    entries = sorted(
        (i for i in claim.get("insurance") or () if isinstance(i, dict)), key=lambda i: i.get("sequence", 0)
    )
    focal = next((i for i in entries if i.get("focal")), None)
    if focal is None:
        return None
    after = [i for i in entries if i.get("sequence", 0) > focal.get("sequence", 0) and i.get("coverage")]
    return (focal, after[0]) if after else None


def secondary_claim(
    primary: Resource,
    response: Resource,
    *,
    encounter: str,
    payer_id: str,
    insurer: Resource | None,
    created: str,
    ehr: str = DEFAULT_EHR,
) -> Resource | None:
    """The claim for the next payer (``payer_id``), carrying ``response`` (the primary's adjudication)."""
    pair = next_insurance(primary)
    if pair is None:
        return None
    billed, following = pair
    claim = copy.deepcopy(primary)
    new_id = claim_id(encounter, payer_id, ehr=ehr)  # the primary's EHR scope, as the mapper's ids
    claim["id"] = new_id
    claim["identifier"] = [{"system": CLAIM_ID_SYSTEM, "value": new_id}]
    claim["created"] = created
    claim["status"] = "active"
    if insurer is not None:
        claim["insurer"] = insurer
    else:
        claim.pop("insurer", None)
    entries = []
    for entry in claim.get("insurance") or ():
        entry = {k: v for k, v in entry.items() if k not in ("focal", "claimResponse", "preAuthRef")}
        entry["focal"] = entry.get("sequence") == following.get("sequence")
        if entry.get("sequence") == billed.get("sequence"):
            entry["claimResponse"] = {"reference": "#" + ADJUDICATION_ID}
        entries.append(entry)
    claim["insurance"] = entries
    contained = {k: v for k, v in response.items() if k not in ("id", "meta")}
    claim["contained"] = [{**contained, "id": ADJUDICATION_ID}]
    claim["related"] = [
        {"claim": {"reference": f"Claim/{primary.get('id')}"},
         "relationship": {"coding": [{"system": RELATED, "code": "associated"}]}}
    ]  # fmt: skip
    return claim


def primary_claim_of(claim: Resource) -> str | None:
    """The id of the primary claim a secondary claim (as :func:`secondary_claim` builds it) follows, else None.

    A secondary claim carries the primary's adjudication (an insurance entry whose ``claimResponse``
    is ``#primary-adjudication``) and names the primary in ``related`` (``associated``); a claim-split
    part is ``associated`` too but carries no adjudication."""
    carries = any(
        isinstance(i, dict) and (i.get("claimResponse") or {}).get("reference") == "#" + ADJUDICATION_ID
        for i in claim.get("insurance") or ()
    )
    if not carries:
        return None
    for related in claim.get("related") or ():
        codes = {c.get("code") for c in ((related.get("relationship") or {}).get("coding") or ())}
        ref = str((related.get("claim") or {}).get("reference") or "")
        if "associated" in codes and ref.startswith("Claim/"):
            return ref.removeprefix("Claim/") or None
    return None


def ledger_roots(claims: dict[str, Resource]) -> dict[str, str]:
    """Each claim id of one visit → the claim whose ledger its money is on (its primary, followed up the
    chain: a tertiary's secondary's primary); a claim that follows no claim of ``claims`` is its own."""
    roots: dict[str, str] = {}
    for key in claims:
        root, seen = key, {key}
        while (parent := primary_claim_of(claims[root])) is not None and parent in claims and parent not in seen:
            root = parent
            seen.add(root)
        roots[key] = root
    return roots
