"""The FastAPI application: routers, error handlers, and (for ``serve``) the worker beside the API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api import (
    admin,
    alerts,
    audit,
    billing,
    cds,
    eligibility,
    encounters,
    notifications,
    openapi,
    ops,
    payments,
    quarantine,
    replays,
    wellknown,
)
from app.api.intake_writer import IntakeWriter
from app.api.limits import RequestLimits
from app.api.notifications import SenderCache
from app.api.outcomes import (
    claimbridge_error_handler,
    http_error_handler,
    unhandled_error_handler,
    validation_error_handler,
)
from app.api.throttle import credential_throttle
from app.credentials import SecretKeys
from app.errors import ClaimbridgeError
from app.services import Services
from app.web.mount import mount_web


def create_app(services: Services, *, run_worker: bool = False) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(services.worker().run_forever(stop)) if run_worker else None
        app.state.worker_stop = stop
        try:
            yield
        finally:
            await app.state.intake_writer.drain()
            if getattr(app.state, "cds", None) is not None:  # the CDS service's HTTP client (EHR reads, JWKS)
                app.state.cds.client.close()
            stop.set()
            if task is not None:
                with suppress(asyncio.CancelledError):
                    await task

    production = services.settings.env == "production"
    app = FastAPI(
        title="claimbridge",
        version=__version__,
        lifespan=lifespan,
        docs_url=None if production else "/docs",
        redoc_url=None,
        openapi_url=None if production else "/openapi.json",
    )
    app.state.services = services
    app.state.cds = None  # built on the first CDS Hooks call (app.api.cds)
    app.state.sender_cache = SenderCache(ttl=services.settings.intake.auth_cache_seconds)
    app.state.intake_writer = IntakeWriter(services.engine, services.clock)
    security = services.settings.security
    app.state.secret_keys = SecretKeys(security.secret_key.get_secret_value())
    app.state.credential_throttle = credential_throttle(services)
    app.state.throttle_reads = {}  # address -> the shared counters' read in flight (app.api.throttle)
    direct = {("POST", "/notifications"): notifications.post_notification_asgi}  # intake without the router
    app.add_middleware(RequestLimits, settings=services.settings, direct=direct)
    app.add_exception_handler(Exception, unhandled_error_handler)
    app.add_exception_handler(ClaimbridgeError, claimbridge_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.include_router(notifications.router)
    app.include_router(admin.router)
    app.include_router(replays.router)
    app.include_router(ops.router)
    app.include_router(billing.router)
    app.include_router(payments.router)
    app.include_router(wellknown.router)
    app.include_router(quarantine.router)
    app.include_router(encounters.router)
    app.include_router(audit.router)
    app.include_router(cds.router)
    app.include_router(alerts.router)
    app.include_router(eligibility.router)
    mount_web(app)  # the SMART app and the console (HTML)
    openapi.install(app)
    return app
