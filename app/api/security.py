"""Bearer-token authentication for admin endpoints (constant-time comparison)."""

from __future__ import annotations

import hmac

from fastapi import Request

from app.api.outcomes import OutcomeError
from app.intake.auth import bearer_token


def require_admin(request: Request) -> str:
    """FastAPI dependency: the admin bearer token, or 401. Returns the caller's name for audit."""
    token = bearer_token(request.headers.get("authorization"))
    expected = request.app.state.services.settings.api.admin_token.get_secret_value()
    if token is None or not hmac.compare_digest(token.encode(), expected.encode()):
        raise OutcomeError(401, "admin endpoints need a valid bearer token", headers={"WWW-Authenticate": "Bearer"})
    return request.headers.get("x-claimbridge-user", "admin")[:100]
