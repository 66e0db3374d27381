"""Encounter contexts: the resources one encounter's claim is built from, indexed once.

An :class:`EncounterContext` holds the Encounter and every resource it needs (Patient, Coverage,
Practitioner, PractitionerRole, Organization, Location, Condition, ServiceRequest, MedicationRequest,
Procedure, ChargeItem, DocumentReference, Observation ...), indexed by ``Type/id`` and by full URL, so
mapping and rules resolve references in O(1) and FHIRPath runs on one resource at a time, never on a
whole Bundle. Prior encounters of the same patient travel in ``history`` (new vs established patient).

:func:`build_contexts` groups any bag of resources (a Bundle's entries, the stored mirror) into one
context per Encounter. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from app.domain.bundles import identify_entries
from app.domain.tenancy import DEFAULT_EHR

Resource = dict[str, Any]

# Resource types that point at their encounter, and the element that does it.
ENCOUNTER_LINKS: dict[str, tuple[str, ...]] = {
    "Condition": ("encounter",),
    "ServiceRequest": ("encounter",),
    "MedicationRequest": ("encounter",),
    "MedicationAdministration": ("context",),
    "Procedure": ("encounter",),
    "ChargeItem": ("context",),
    "Observation": ("encounter",),
    "DiagnosticReport": ("encounter",),
    "DocumentReference": ("context.encounter",),
    "Composition": ("encounter",),
    "Immunization": ("encounter",),
}


def reference_key(reference: str | None) -> str | None:
    """Normalise a literal reference to ``Type/id`` (drops base URL and ``_history``)."""
    if not reference:
        return None
    if reference.__class__ is str:  # the same references recur in every job: each normalised once
        return _string_key(reference)
    return _reference_key(reference)


def _reference_key(reference: str) -> str | None:
    if reference.startswith(("urn:uuid:", "urn:oid:")):
        return reference
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) < 2:
        return None
    return f"{parts[-2]}/{parts[-1]}"


#: :func:`reference_key` of a ``str``, remembered (bounded: the cache only ever holds strings).
_string_key = lru_cache(maxsize=16_384)(_reference_key)


def ref_of(value: Any) -> str | None:
    """The ``Type/id`` key of a Reference dict (or a plain string)."""
    if isinstance(value, dict):
        return reference_key(value.get("reference"))
    if isinstance(value, str):
        return reference_key(value)
    return None


# An Encounter tagged with this is context only (a prior visit sent so new-vs-established can be
# judged): it is never billed, it joins the history of the patient's other encounters.
HISTORY_TAG = ("urn:claimbridge:encounter-role", "history")


def is_history(resource: Resource) -> bool:
    tags = (resource.get("meta") or {}).get("tag") or ()
    return any(
        t.get("system") == HISTORY_TAG[0] and t.get("code") == HISTORY_TAG[1] for t in tags if isinstance(t, dict)
    )


def key_of(resource: Resource) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


_LINK_STEPS: dict[str, tuple[tuple[str, ...], ...]] = {
    rtype: tuple(tuple(path.split(".")) for path in paths) for rtype, paths in ENCOUNTER_LINKS.items()
}


def _get_path(resource: Resource, steps: tuple[str, ...]) -> list[Any]:
    values: list[Any] = [resource]
    for step in steps:
        nxt: list[Any] = []
        for value in values:
            if isinstance(value, dict) and step in value:
                item = value[step]
                nxt.extend(item if isinstance(item, list) else [item])
        values = nxt
    return values


def linked_encounters(resource: Resource) -> list[str]:
    """``Encounter/id`` keys a resource points at through its encounter link element."""
    out: list[str] = []
    for steps in _LINK_STEPS.get(str(resource.get("resourceType")), ()):
        for ref in _get_path(resource, steps):
            key = ref_of(ref)
            if key and key.startswith("Encounter/"):
                out.append(key)
    return out


@dataclass
class ResourceIndex:
    """Resources by ``Type/id`` and by full URL (for ``urn:uuid`` references inside Bundles)."""

    by_key: dict[str, Resource] = field(default_factory=dict)
    by_type: dict[str, list[Resource]] = field(default_factory=lambda: defaultdict(list))
    aliases: dict[str, str] = field(default_factory=dict)

    def add(self, resource: Resource, full_url: str | None = None) -> None:
        key = key_of(resource)
        if key not in self.by_key:
            self.by_type[str(resource.get("resourceType"))].append(resource)
        else:
            lst = self.by_type[str(resource.get("resourceType"))]
            lst[lst.index(self.by_key[key])] = resource
        self.by_key[key] = resource
        if full_url:
            self.aliases[full_url] = key

    def resolve(self, reference: Any) -> Resource | None:
        raw = reference.get("reference") if isinstance(reference, dict) else reference
        if not isinstance(raw, str):
            return None
        if raw in self.aliases:
            return self.by_key.get(self.aliases[raw])
        key = reference_key(raw)
        return self.by_key.get(key) if key else None

    def of_type(self, resource_type: str) -> list[Resource]:
        return list(self.by_type.get(resource_type, ()))

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.by_key.values())


@dataclass(frozen=True)
class EncounterContext:
    """One encounter and everything its claim is built from."""

    encounter: Resource
    index: ResourceIndex
    history: tuple[Resource, ...] = ()  # prior Encounters of the same patient
    ehr: str = DEFAULT_EHR  # whose resources these are (app.domain.tenancy): part of the claim's identity
    # Memo of linked(); a context is not changed after it is built.
    _linked: dict[str, list[Resource]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return key_of(self.encounter)

    def resolve(self, reference: Any) -> Resource | None:
        return self.index.resolve(reference)

    def of_type(self, resource_type: str) -> list[Resource]:
        return self.index.of_type(resource_type)

    @property
    def patient(self) -> Resource | None:
        return self.resolve(self.encounter.get("subject"))

    def linked(self, resource_type: str) -> list[Resource]:
        """Resources of ``resource_type`` that point at this encounter (a new list each call)."""
        found = self._linked.get(resource_type)
        if found is None:
            key = self.key
            found = [r for r in self.of_type(resource_type) if key in linked_encounters(r)]
            self._linked[resource_type] = found
        return list(found)

    def coverages(self) -> list[Resource]:
        """Coverages whose beneficiary is this encounter's patient, ordered by ``Coverage.order``."""
        patient = ref_of(self.encounter.get("subject"))
        found = [c for c in self.of_type("Coverage") if ref_of(c.get("beneficiary")) == patient]
        return sorted(found, key=lambda c: (c.get("order") is None, c.get("order") or 0, key_of(c)))


def patient_of(resource: Resource) -> str | None:
    """``Patient/id`` a resource is, or is about (subject, patient or beneficiary)."""
    if resource.get("resourceType") == "Patient":
        return key_of(resource)
    for element in ("subject", "patient", "beneficiary"):
        key = ref_of(resource.get(element))
        if key and key.startswith("Patient/"):
            return key
    return None


def build_contexts(
    resources: Iterable[Resource | tuple[Resource, str | None]],
    *,
    history: Iterable[Resource] = (),
) -> list[EncounterContext]:
    """Group resources (or ``(resource, fullUrl)`` pairs) into one context per billable Encounter.

    Every context shares one index of all given resources (references resolve across the bag);
    ``history`` adds prior Encounters (e.g. from storage) for new-vs-established decisions, and so do
    Encounters in the bag tagged :data:`HISTORY_TAG` (they get no context of their own).
    Encounters come out in a stable order (by ``Type/id``).
    """
    index = ResourceIndex()
    for item in resources:
        if isinstance(item, tuple):
            index.add(item[0], item[1])
        else:
            index.add(item)
    past: dict[str, list[Resource]] = defaultdict(list)
    for enc in [*index.of_type("Encounter"), *history]:
        patient = patient_of(enc)
        if patient:
            past[patient].append(enc)
    contexts = []
    for encounter in sorted(index.of_type("Encounter"), key=key_of):
        if is_history(encounter):
            continue
        patient = patient_of(encounter)
        prior = tuple(e for e in past.get(patient or "", ()) if key_of(e) != key_of(encounter))
        contexts.append(EncounterContext(encounter=encounter, index=index, history=prior))
    return contexts


def resources_from_bundle(bundle: Resource) -> list[tuple[Resource, str | None]]:
    """``(resource, fullUrl)`` pairs of a Bundle's entries that carry a resource.

    Id-less resources and ``urn:uuid`` references (transaction Bundles) come out id-ful, with
    ``Type/id`` references (:func:`app.domain.bundles.identify_entries`).
    """
    out: list[tuple[Resource, str | None]] = []
    for entry in bundle.get("entry") or ():
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType"):
            full_url = entry.get("fullUrl")
            out.append((resource, full_url if isinstance(full_url, str) else None))
    return identify_entries(out)
