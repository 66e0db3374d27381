"""Pure facts about one FHIR resource dict: its version, whose it is, which encounter it belongs to.

One place for what the mirror, the EHR fetches, the pipeline and the rules each used to compute on
their own: :func:`encounter_of` follows the same encounter links as the encounter context
(:data:`app.domain.context.ENCOUNTER_LINKS`, so ``DocumentReference.context.encounter`` and
``ChargeItem.context`` count everywhere), :func:`patient_of` (from the context module) the
subject/patient/beneficiary reference, :func:`is_newer` the version order the mirror keeps.
"""

from __future__ import annotations

from typing import Any

from app.domain.context import key_of, linked_encounters, patient_of

__all__ = ["encounter_of", "is_newer", "patient_of", "version_of"]

Resource = dict[str, Any]
Version = tuple[str | None, str | None]  # (meta.versionId, meta.lastUpdated)


def version_of(resource: Resource) -> Version:
    meta = resource.get("meta") or {}
    vid = meta.get("versionId")
    return (str(vid) if vid is not None else None), meta.get("lastUpdated")


def is_newer(new: Version, old: Version) -> bool | None:
    """True if ``new`` is newer, False if older, None if the same or not comparable.

    Version ids compare as numbers when both are numbers; otherwise ``lastUpdated`` decides.
    """
    (nv, nl), (ov, ol) = new, old
    if nv is not None and ov is not None and nv.isdigit() and ov.isdigit() and int(nv) != int(ov):
        return int(nv) > int(ov)
    if nv is not None and nv == ov:
        return None
    if nl and ol and nl != ol:
        return nl > ol
    return None


def encounter_of(resource: Resource) -> str | None:
    """``Encounter/id`` an encounter is, or the first encounter a resource belongs to."""
    if resource.get("resourceType") == "Encounter":
        return key_of(resource)
    linked = linked_encounters(resource)
    return linked[0] if linked else None
