"""Browser sessions, console accounts and CSRF.

- Passwords: argon2id (``argon2-cffi``), re-hashed on sign-in when the parameters change.
- Sessions: a random 256-bit token in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure`` outside
  development; the SMART app's ``SameSite=None; Secure; Partitioned`` for an embedded launch,
  ``web.smart_cookie_samesite``); the server keeps its SHA-256 and the session data (:mod:`app.db.web_repo`). A console
  session ends after ``web.session_idle_minutes`` idle and at most ``web.session_max_minutes``.
- CSRF: every form carries the session's token in a hidden ``csrf`` field, compared in constant time;
  the sign-in form (no session yet) uses a double-submit cookie.
- Roles: viewer < engineer < admin.
- Names: local accounts (no ``:``) and OIDC users (``oidc:<issuer host>:<name>``) never collide, in
  sessions and in the audit trail.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any
from urllib.parse import parse_qsl

from anyio import to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import Request, Response
from sqlalchemy import Connection

from app.db import audit_repo, web_repo
from app.db.engine import read_only
from app.db.web_repo import SessionRecord
from app.services import Services, services_of
from app.web.render import LoginRequired, WebError

ROLES = ("viewer", "engineer", "admin")
CONSOLE_COOKIE = "cb_console"
SMART_COOKIE = "cb_smart"
LAUNCH_COOKIE = "cb_launch"
LOGIN_CSRF_COOKIE = "cb_login_csrf"
#: Names of OIDC users start with it (``oidc:<issuer host>:<name>``); local account names have no ``:``.
OIDC_PREFIX = "oidc:"
MAX_FORM_BYTES = 64_000
_HASHER = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so a wrong name costs what a wrong password costs."""
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _HASHER.check_needs_rehash(stored)


def record_sign_in(
    conn: Connection, services: Services, name: str | None, ok: bool, *, detail: dict[str, Any] | None = None
) -> None:
    """The audit row of a console sign-in attempt (password or OIDC), successful or not."""
    audit_repo.record(
        conn,
        actor=name or "-",
        actor_kind="console",
        action="sign-in" if ok else "sign-in-failed",
        entity="console",
        outcome="success" if ok else "failure",
        now=services.clock(),
        detail=detail,
    )


def record_action(
    conn: Connection, services: Services, user: ConsoleUser, action: str, entity: str, **more: Any
) -> None:
    """The audit row of a signed-in console user's action (payload view, replay, what-if, re-activation);
    ``more``: ``outcome`` and ``detail``, as :func:`app.db.audit_repo.record` takes them."""
    audit_repo.record(
        conn, actor=user.name, actor_kind="console", action=action, entity=entity, now=services.clock(), **more
    )


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _embedded(services: Services, name: str) -> bool:
    return name in (SMART_COOKIE, LAUNCH_COOKIE) and services.settings.web.smart_cookie_samesite == "none"


def _partition(response: Response) -> None:
    """Add ``Partitioned`` to the cookie just set (the standard library writes it only from Python 3.14)."""
    key, value = response.raw_headers[-1]
    assert key == b"set-cookie"
    response.raw_headers[-1] = (key, value + b"; Partitioned")


def set_cookie(response: Response, services: Services, name: str, value: str, *, max_age: int | None = None) -> None:
    """``SameSite=Lax`` (``Secure`` outside development); the SMART app's cookies ``SameSite=None;
    Secure; Partitioned`` when ``web.smart_cookie_samesite`` is ``none`` (embedded in an EHR's iframe)."""
    if _embedded(services, name):
        response.set_cookie(name, value, max_age=max_age, httponly=True, path="/", secure=True, samesite="none")
        _partition(response)
        return
    secure = services.settings.env != "development"
    response.set_cookie(name, value, max_age=max_age, httponly=True, path="/", secure=secure, samesite="lax")


def clear_cookie(response: Response, services: Services, name: str) -> None:
    if _embedded(services, name):
        response.delete_cookie(name, path="/", httponly=True, secure=True, samesite="none")
        _partition(response)
        return
    secure = services.settings.env != "development"
    response.delete_cookie(name, path="/", httponly=True, secure=secure, samesite="lax")


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str
    csrf: str
    session_id: str

    def can(self, role: str) -> bool:
        return role_at_least(self.role, role)


def role_at_least(role: str | None, needed: str) -> bool:
    """Whether ``role`` grants ``needed`` (viewer < engineer < admin); a non-role grants nothing."""
    return role in ROLES and ROLES.index(str(role)) >= ROLES.index(needed)


def highest_role(values: Iterable[str]) -> str | None:
    """The highest console role among ``values`` (values that name no role ignored), or None."""
    granted = [v for v in values if v in ROLES]
    return max(granted, key=ROLES.index) if granted else None


async def start_session(
    services: Services,
    *,
    kind: str,
    subject: str | None,
    role: str | None,
    data: dict[str, Any],
    lifetime: timedelta,
) -> tuple[str, str]:
    """Store a new session; returns ``(token for the cookie, csrf token)``."""
    token, csrf = new_token(), new_token()
    now = services.clock()

    def run() -> None:
        with services.engine.begin() as conn:
            web_repo.purge_expired(conn, now=now)
            web_repo.create_session(
                conn,
                token=token,
                kind=kind,
                subject=subject,
                role=role,
                csrf=csrf,
                data=data,
                now=now,
                expires_at=now + lifetime,
            )

    await to_thread.run_sync(run)
    return token, csrf


async def load_session(services: Services, token: str | None, kind: str) -> SessionRecord | None:
    if not token or len(token) > 200:
        return None

    def run() -> SessionRecord | None:
        with read_only(services.engine) as conn:
            return web_repo.get_session(conn, token)

    found = await to_thread.run_sync(run)
    if found is None or found.kind != kind or found.expires_at <= services.clock():
        return None
    return found


async def console_session(request: Request) -> ConsoleUser | None:
    """The signed-in console user (sliding the idle expiry), or None."""
    services = services_of(request)
    found = await load_session(services, request.cookies.get(CONSOLE_COOKIE), "console")
    if found is None or found.subject is None or found.role not in ROLES:
        return None
    web = services.settings.web
    now = services.clock()
    expires = min(
        now + timedelta(minutes=web.session_idle_minutes), found.created_at + timedelta(minutes=web.session_max_minutes)
    )
    if expires - found.expires_at > timedelta(minutes=1):

        def touch() -> None:
            with services.engine.begin() as conn:
                web_repo.touch_session(conn, found.id, expires_at=expires)

        await to_thread.run_sync(touch)
    return ConsoleUser(found.subject, str(found.role), found.csrf, found.id)


def require(role: str) -> Callable[[Request], Any]:
    """FastAPI dependency: the console user with at least ``role``; 401 page when signed out, 403 below it."""

    async def dependency(request: Request) -> ConsoleUser:
        user = await console_session(request)
        if user is None:
            raise LoginRequired()
        if not role_at_least(user.role, role):
            raise WebError(403, "Not allowed", f"This needs the {role} role; you are signed in as {user.role}.")
        request.state.console_user = user
        return user

    return dependency


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded form body (last value wins); 400 page when too large or not a form."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise WebError(413, "Form too large", "The form sent was too large.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebError(400, "Bad form", "The form could not be read.") from exc


def check_csrf(expected: str, form: dict[str, str]) -> None:
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise WebError(403, "Form expired", "The form was stale or not sent from this site; reload and try again.")
