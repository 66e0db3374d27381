"""The audit trail as FHIR: AuditEvent resources made from ``audit_event`` rows (:mod:`app.db.audit_repo`)."""
