"""The people's side: the SMART-on-FHIR app (clinicians, front desk) and the integration console.

Server-rendered with Jinja2; htmx (vendored under ``static/``) only enhances forms that work without
JavaScript. :func:`app.web.mount.mount_web` adds it all to the FastAPI app. Nothing here imports
:mod:`app.api` (the API imports this package).
"""
