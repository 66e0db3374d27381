"""What a hook is about: the request's context and prefetch, then (only if allowed) the EHR.

A prefetch key that is present is used as is (an OperationOutcome in it counts as missing). A
missing key is fetched from ``fhirServer`` with the request's ``fhirAuthorization`` bearer token,
and only when ``reader`` is given: the service passes one only when ``fhirServer`` is the base URL
of a registered EHR, so no request ever goes to an address the configuration does not list. A
fetch that fails becomes a problem on :class:`~app.cds.evaluate.Gathered` (the answer says the
coverage is indeterminate and why), never an exception, and no further read is tried for that
request (each read times out after 2 s: the answer stays well inside CRD's 5 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from app.cds.evaluate import Gathered
from app.cds.hooks import AUTHORIZATIONS, COVERAGE, HookService
from app.cds.orders import bundle_resources
from app.cds.request import HookRequest
from app.domain.context import ResourceIndex, ref_of

Resource = dict[str, Any]
#: Reads ``Type/id`` or ``Type?query`` (relative to fhirServer) and answers the JSON resource.
Reader = Callable[[str], Resource]


def _fill(template: str, context: dict[str, Any]) -> str:
    for key, value in context.items():
        if isinstance(value, str):
            template = template.replace("{{context." + key + "}}", value)
    return template


class _Gatherer:
    def __init__(self, request: HookRequest, reader: Reader | None, why_not: str) -> None:
        self.request, self.reader, self.why_not = request, reader, why_not
        self.index = ResourceIndex()
        self.problems: list[str] = []
        for value in request.prefetch.values():
            self._index(bundle_resources(value))

    def _index(self, resources: Iterable[Resource]) -> list[Resource]:
        out = [r for r in resources if r.get("resourceType") != "OperationOutcome" and r.get("id")]
        for resource in out:
            self.index.add(resource)
        return out

    def key(self, name: str, template: str, *, required: bool) -> list[Resource] | None:
        """The resources of prefetch key ``name``, else of the query, else None (and a problem if required)."""
        value = self.request.prefetch.get(name)
        if isinstance(value, dict) and value.get("resourceType") not in (None, "OperationOutcome"):
            return self._index(bundle_resources(value))
        return self.read(_fill(template, self.request.context), what=name, required=required)

    def read(self, path: str, *, what: str, required: bool) -> list[Resource] | None:
        if self.reader is None:
            if required:
                self.problems.append(f"{what} was not prefetched and {self.why_not}")
            return None
        try:
            return self._index(bundle_resources(self.reader(path)))
        except Exception as exc:
            if required:
                self.problems.append(f"the EHR's FHIR server could not be read for {what} ({type(exc).__name__})")
            return None

    def resolve(self, reference: str) -> Resource | None:
        found = self.index.resolve(reference)
        if found is None and (key := ref_of(reference)):
            found = next(iter(self.read(key, what=key.split("/")[0], required=True) or ()), None)
        return found


def gather(request: HookRequest, service: HookService, *, reader: Reader | None, why_not: str,
           on_file: Iterable[Resource] = ()) -> Gathered:  # fmt: skip
    """Orders, patient, coverages (with their payer Organizations) and authorizations on file."""
    g = _Gatherer(request, reader, why_not)
    orders: list[Resource] = []
    if service.orders_key is not None:
        value = request.context[service.orders_key]
        if isinstance(value, list):  # order-dispatch: references
            orders = [r for ref in value if (r := g.resolve(ref)) is not None]
        else:
            orders = g._index(bundle_resources(value))
        if service.hook == "appointment-book":
            orders = [r for appt in orders for ref in appt.get("basedOn") or () if (r := g.resolve(ref)) is not None]
    found_patient = request.prefetch.get("patient")  # informative only: never worth a round trip
    patient = (
        found_patient if isinstance(found_patient, dict) and found_patient.get("resourceType") == "Patient" else None
    )
    found = g.key("coverage", COVERAGE, required=True)
    coverages = [r for r in found or () if r.get("resourceType") == "Coverage"]
    auths = g.key("authorizations", AUTHORIZATIONS, required=False) or []
    responses = [r for r in (*auths, *on_file) if r.get("resourceType") == "ClaimResponse"]
    for resource in on_file:
        g.index.add(resource)
    return Gathered(orders=orders, index=g.index, patient=patient, coverages=coverages,
                    authorizations=responses, problems=g.problems)  # fmt: skip
