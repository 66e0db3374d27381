"""``/console/config``: the configuration in force, and the what-if replay of a candidate (engineers)."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.services import Services, services_of
from app.web import candidate
from app.web.console import ENGINEER, VIEWER
from app.web.render import WebError, render
from app.web.sessions import (
    ConsoleUser,
    check_csrf,
    record_action,
)
from app.whatif import DiffReport
from app.whatif_replay import reading, stored_encounters
from app.whatif_replay import replay as replay_encounters

router = APIRouter(prefix="/console", include_in_schema=False)


def _config_context(services: Services) -> dict[str, Any]:
    cfg = services.config
    payers = sorted(cfg.payers.profiles.values(), key=lambda p: p.payer_id)
    unique = {p.payer_id: p for p in payers}
    rule_files = sorted(p.name for p in (cfg.directory / "rules").glob("*.yaml")) if cfg.directory.is_dir() else []
    web = services.settings.web
    return {
        "cfg": cfg,
        "payers": list(unique.values()),
        "rule_files": rule_files,
        "settings": services.settings,
        "roots": web.candidate_config_roots,
        "max_upload": web.whatif_max_upload_bytes,
        "max_encounters": web.whatif_max_encounters,
    }


@router.get("/config")
async def config(request: Request, user: ConsoleUser = VIEWER) -> HTMLResponse:
    return render(request, "console/config.html", user=user, **_config_context(services_of(request)))


_WHATIF_RUNNING = threading.Lock()  # one what-if replay per process at a time


@router.post("/config/whatif")
async def whatif(request: Request, user: ConsoleUser = ENGINEER) -> HTMLResponse:
    """Replay the stored encounters through a candidate configuration (uploaded or a server directory).

    Read-only (the CLI's ``claimbridge diff`` replay, every transaction rolled back); bad input is the
    config page again with the problem, 400; every attempt is in the audit trail.
    """
    services = services_of(request)
    web = services.settings.web
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > web.whatif_max_upload_bytes:
        raise WebError(413, "Upload too large", f"A candidate may be at most {web.whatif_max_upload_bytes:,} bytes.")
    body = await request.body()
    if len(body) > web.whatif_max_upload_bytes:
        raise WebError(413, "Upload too large", f"A candidate may be at most {web.whatif_max_upload_bytes:,} bytes.")
    try:
        form = candidate.parse_multipart(request.headers.get("content-type", ""), body)
    except candidate.CandidateError as exc:
        raise WebError(400, "Bad form", str(exc), link=("/console/config", "Config")) from exc
    check_csrf(user.csrf, form.fields)
    directory = form.fields.get("directory", "").strip()
    files = [f"{u.kind}/{u.name}" for u in form.uploads]
    source = directory if directory else "upload: " + ", ".join(files)
    refdata = [services.settings.refdata_dir] if services.settings.refdata_dir.is_dir() else []

    def audit(outcome: str, detail: dict[str, Any]) -> None:
        with services.engine.begin() as conn:
            record_action(
                conn,
                services,
                user,
                "what-if",
                "config/candidate",
                outcome=outcome,
                detail={"source": source[:300], **detail},
            )

    def run() -> tuple[str, DiffReport]:
        if not _WHATIF_RUNNING.acquire(blocking=False):
            raise WebError(503, "Busy", "Another what-if is running; try again shortly.", headers={"Retry-After": "5"})
        try:
            with reading(services.engine) as conn:
                count = len(stored_encounters(conn))
            if count > web.whatif_max_encounters:
                raise candidate.CandidateError(
                    f"{count:,} stored encounters is more than this page replays ({web.whatif_max_encounters:,}, "
                    "web.whatif_max_encounters): run `claimbridge diff --config DIR` instead"
                )
            with ExitStack() as stack:
                if directory:
                    path = candidate.allowed_directory(directory, web.candidate_config_roots)
                    cfg = candidate.directory_candidate(path, refdata)
                else:
                    cfg = stack.enter_context(
                        candidate.uploaded_candidate(services.config.directory, form.uploads, refdata)
                    )
                now = services.clock()
                report = replay_encounters(services.engine, config=cfg, baseline=services.config, now=now, as_of=None)
                return cfg.config_hash, report
        finally:
            _WHATIF_RUNNING.release()

    try:
        config_hash, report = await to_thread.run_sync(run)
    except candidate.CandidateError as exc:
        await to_thread.run_sync(audit, "failure", {"error": str(exc)[:300]})
        return render(
            request,
            "console/config.html",
            status=400,
            user=user,
            whatif_error=str(exc),
            directory=directory,
            **_config_context(services),
        )
    await to_thread.run_sync(
        audit,
        "success",
        {
            "config_hash": config_hash,
            "changed": report.count("changed"),
            "added": report.count("added"),
            "removed": report.count("removed"),
        },
    )
    return render(
        request,
        "console/whatif.html",
        user=user,
        report=report,
        source=source,
        config_hash=config_hash,
        current_hash=services.config.config_hash,
    )
