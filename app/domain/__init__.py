"""Plain data shared by every layer: findings (the public taxonomy), encounter contexts, encounter
outcomes (each encounter's claim, or the findings that say why there is none), and the
prior-authorization decisions read from ClaimResponses (:mod:`app.domain.preauth`).

Nothing here does I/O; mapping and rules depend only on this package and on ``app.fhir.r4``.
"""
