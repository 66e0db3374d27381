"""Plain data shared by every layer: findings (the public taxonomy) and encounter contexts.

Nothing here does I/O; mapping and rules depend only on this package and on ``app.fhir.r4``.
"""
