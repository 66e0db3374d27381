"""Adds the people's side to the FastAPI app: ``/`` (to the console sign-in), ``/console``, ``/smart``, ``/static``."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from app.web import console, console_config, console_messages, console_subscriptions, dead_rows, oidc, smart, smart_app
from app.web.render import STATIC_DIR, WebError, web_error_handler
from app.web.sign_in_throttle import SignInThrottle


def mount_web(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/login", status_code=303)

    app.state.sign_in_throttle = SignInThrottle.for_services(app.state.services)
    app.add_exception_handler(WebError, web_error_handler)
    for module in (console, console_messages, console_subscriptions, console_config):
        app.include_router(module.router)
    app.include_router(dead_rows.router)
    app.include_router(oidc.router)
    app.include_router(smart.router)
    app.include_router(smart_app.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
