"""Templates and the HTML error pages (401 with a sign-in link, 400, 403, 404, 502)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
ENV = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self' https: http:; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def money(value: Any) -> str:
    if value is None or value == "":
        return "-"
    try:
        return f"${float(value):,.2f}"
    except (TypeError, ValueError):
        return str(value)


ENV.filters["money"] = money


def render(
    request: Request, template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    html = ENV.get_template(template).render(request=request, **context)
    base = dict(SECURITY_HEADERS)
    if not template.startswith("smart/"):  # the SMART app may be framed by the EHR; the console never
        base["Content-Security-Policy"] += "; frame-ancestors 'none'"
        base["X-Frame-Options"] = "DENY"
    elif ancestors := _smart_frame_ancestors(request):  # only the configured EHR origins may frame it
        base["Content-Security-Policy"] += "; frame-ancestors 'self' " + " ".join(ancestors)
    return HTMLResponse(html, status_code=status, headers={**base, **(headers or {})})


def _smart_frame_ancestors(request: Request) -> tuple[str, ...]:
    services = getattr(request.app.state, "services", None)
    return tuple(services.settings.web.smart_frame_ancestors) if services is not None else ()


class WebError(Exception):
    """An HTML error page: ``title`` and ``message`` for a person, and where to go next."""

    def __init__(
        self,
        status: int,
        title: str,
        message: str,
        *,
        link: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        self.link = link
        self.headers = headers or {}


class LoginRequired(WebError):
    def __init__(self, message: str = "Sign in to see this page.") -> None:
        super().__init__(401, "Sign-in required", message, link=("/console/login", "Sign in to the console"))


async def web_error_handler(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, WebError)
    return render(
        request,
        "error.html",
        status=exc.status,
        headers=exc.headers,
        title=exc.title,
        message=exc.message,
        link=exc.link,
        user=None,
    )
