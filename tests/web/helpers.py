"""Helpers of the web tests: console accounts, a signed-in TestClient, forms' CSRF tokens."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from app.db import web_repo
from app.db.sql import utcnow
from app.services import Services
from app.web.sessions import hash_password

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def add_user(services: Services, name: str, role: str, password: str = PASSWORD) -> None:
    with services.engine.begin() as conn:
        web_repo.upsert_user(conn, name=name, password_hash=hash_password(password), role=role, now=utcnow())


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no csrf field in the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token (from the next page)."""
    page = client.get("/console/login")
    response = client.post(
        "/console/login", data={"csrf": csrf_of(page.text), "name": name, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console/").text)
