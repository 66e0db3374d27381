"""claimbridge: a FHIR-native bridge between EHRs and medical billing.

Packages and what each owns:

- ``app.fhir``      FHIR R4 on the wire (R4B models pinned in ``app.fhir.r4``), the EHR client.
- ``app.domain``    plain data shared by every layer: findings, encounter contexts.
- ``app.intake``    pure parsing and validation of inbound notifications.
- ``app.mappers``   EHR resources -> R4 Claim (pure).
- ``app.rules``     claim scrubbing rules (pure).
- ``app.adapters``  outbound ports (folder, EHR write-back, clearinghouse) behind a registry.
- ``app.db``        SQLModel tables, engine, repositories (every SQL statement lives here).
- ``app.worker``    the job queue and the one pipeline orchestrator.
- ``app.cds``       the CDS Hooks / Da Vinci CRD service (order time, the claim's own rules).
- ``app.priorauth`` prior-authorization alerts, their write-back, and the Da Vinci PAS client.
- ``app.api``       the HTTP edge (FastAPI).
- ``app.cli``       the ``claimbridge`` command.
"""

__version__ = "0.1.0"
