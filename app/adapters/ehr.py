"""The EHR write-back adapter: outbox ``task`` payloads become FHIR Tasks on a registered EHR, and
``claim-response`` payloads (999 / 277CA / 835 answers) ClaimResponses, created once.

Idempotent on the Task's identifier (``urn:claimbridge:task|<claim id>``): a conditional create
(``If-None-Exist``) makes the Task once; when it exists already with other content (a new claim
version) it is updated in place under ``If-Match`` of the version just read, keeping the status the
clinic may have moved it to. Every call goes through the EHR's shared client on the gateway loop,
with the write-back retry policy (``ehr.writeback_attempts``, Retry-After honoured) inside one
delivery, then the outbox's backoff and this destination's circuit breaker between deliveries.

Destinations: ``writeback`` (with ``adapters.writeback: ehr``, writes to ``ehr.writeback_ehr``) and
``ehr:<name>`` for each registered EHR (the pipeline routes a job's Task to its subscription's EHR),
so one failing EHR only opens its own breaker.

Scopes: each kind names the SMART scopes it needs (:data:`WRITE_SCOPES`; the gateway asks for them
when ``adapters.writeback: ehr``, see :func:`ehr_scopes`). Before writing, the adapter checks the
EHR's grant: when the EHR granted less, the delivery fails fatally with the missing scopes as its
reason (a retry would be refused the same way) and the EHR shows as degraded.

Errors: temporary FHIR errors and version races -> :class:`TemporaryDeliveryError`; anything the
EHR refuses (4xx), scopes it did not grant, an unknown EHR or a payload of another kind ->
:class:`FatalDeliveryError`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.adapters.base import Adapter, FatalDeliveryError, TemporaryDeliveryError
from app.adapters.ehr_priorauth import write_order_coverage, write_pa_task
from app.errors import FatalError, TemporaryError
from app.fhir.auth import DEFAULT_READ_TYPES, scopes_for
from app.fhir.client import FhirClient
from app.fhir.errors import VersionConflict
from app.settings import Settings

if TYPE_CHECKING:
    from app.ehr.gateway import EhrGateway

KEEP_FROM_EXISTING = ("id", "status", "owner", "meta")
#: Read what claims are built from; create, read, reactivate and delete our Subscriptions ($status, $events).
BASE_SCOPES = (
    *scopes_for(DEFAULT_READ_TYPES),
    *scopes_for(("Subscription",), access="cruds"),
    *scopes_for(("SubscriptionTopic", "Basic"), access="rs"),  # topic definitions (discovery)
)
#: What each write-back kind does on the EHR: Tasks are conditional-created, read and updated in
#: place; ClaimResponses are conditional-created once (the condition is a search).
WRITE_SCOPES: dict[str, tuple[str, ...]] = {
    "task": scopes_for(("Task",), access="crus"),
    "claim-response": scopes_for(("ClaimResponse",), access="cs"),
    "pa-task": scopes_for(("Task",), access="crus"),
    "order-coverage": scopes_for(("ServiceRequest", "MedicationRequest"), access="ru"),
    "eligibility-response": scopes_for(("CoverageEligibilityResponse",), access="cs"),
}


def ehr_scopes(settings: Settings) -> tuple[str, ...]:
    """The scopes to ask every EHR for: the base ones, plus the write-back kinds when the EHR is written to."""
    if settings.adapters.writeback != "ehr":
        return BASE_SCOPES
    return tuple(dict.fromkeys([*BASE_SCOPES, *(s for scopes in WRITE_SCOPES.values() for s in scopes)]))


class EhrWritebackAdapter:
    def __init__(self, *, name: str, ehr_name: str | None) -> None:
        self.name = name
        self.ehr_name = ehr_name
        self._gateway: EhrGateway | None = None

    def bind(self, gateway: EhrGateway) -> None:
        self._gateway = gateway

    def deliver(self, *, kind: str, key: str, payload: dict[str, Any]) -> None:
        writer = WRITERS.get(kind)
        if writer is None:
            raise FatalDeliveryError(f"the ehr adapter cannot write {kind!r} deliveries")
        if self._gateway is None or not self.ehr_name:
            raise FatalDeliveryError(f"{self.name}: no EHR to write to (set ehr.writeback_ehr)")
        ehr = self.ehr_name
        try:
            self._gateway.require_scopes(ehr, WRITE_SCOPES[kind])
            self._gateway.call(ehr, lambda connection: writer(connection.writer, payload))
        except (TemporaryError, VersionConflict) as exc:  # a version race: read again and retry
            raise TemporaryDeliveryError(f"{ehr}: {exc}", retry_after=exc.retry_after) from exc
        except FatalError as exc:  # the EHR refused it, did not grant the scopes, or is not registered
            raise FatalDeliveryError(f"{ehr}: {exc}") from exc


async def write_task(client: FhirClient, task: dict[str, Any]) -> str:
    """Create the Task once; update it when its content changed. Returns created|unchanged|updated."""
    result = await client.create_unique(task)
    existing = result.resource
    if result.created or existing is None:
        return "created"
    if all(existing.get(k) == v for k, v in task.items() if k not in KEEP_FROM_EXISTING):
        return "unchanged"
    merged = {**task, **{k: existing[k] for k in KEEP_FROM_EXISTING if k in existing and k != "meta"}}
    await client.update(merged, if_match_version=result.version_id)
    return "updated"


async def write_claim_response(client: FhirClient, response: dict[str, Any]) -> str:
    """Create the ClaimResponse once (conditional create on its claimbridge identifier); never update it."""
    result = await client.create_unique(response)
    return "created" if result.created else "unchanged"


WRITERS: dict[str, Callable[[FhirClient, dict[str, Any]], Coroutine[Any, Any, str]]] = {
    "task": write_task,
    "claim-response": write_claim_response,
    "pa-task": write_pa_task,  # app.adapters.ehr_priorauth: prior-authorization alerts
    "order-coverage": write_order_coverage,
    "eligibility-response": write_claim_response,  # a CoverageEligibilityResponse, created once the same way
}


def bind_ehr_adapters(adapters: dict[str, Adapter], gateway: EhrGateway) -> dict[str, Adapter]:
    """Bind configured EHR adapters and add an ``ehr:<name>`` destination per registered EHR."""
    out = dict(adapters)
    for adapter in out.values():
        if isinstance(adapter, EhrWritebackAdapter):
            adapter.bind(gateway)
    for name in gateway.names():
        per_ehr = EhrWritebackAdapter(name=f"ehr:{name}", ehr_name=name)
        per_ehr.bind(gateway)
        out[per_ehr.name] = per_ehr
    return out
