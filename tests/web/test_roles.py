"""The one role rule of the console (viewer < engineer < admin): route checks, templates and OIDC mapping."""

from __future__ import annotations

from app.settings import WebSettings
from app.web.oidc import role_of
from app.web.sessions import ConsoleUser, highest_role, role_at_least


def test_a_role_grants_itself_and_the_roles_below_it() -> None:
    assert role_at_least("admin", "viewer") and role_at_least("engineer", "engineer")
    assert not role_at_least("viewer", "engineer") and not role_at_least("root", "viewer")
    assert not role_at_least(None, "viewer")
    assert ConsoleUser("e", "engineer", "c", "s").can("viewer")


def test_the_highest_role_wins_and_non_roles_are_ignored() -> None:
    assert highest_role(["viewer", "admin", "engineer"]) == "admin"
    assert highest_role(["cafeteria", "viewer"]) == "viewer" and highest_role(["root"]) is None
    web = WebSettings(oidc_role_claim="groups", oidc_roles={"billing-admins": "admin"})
    assert role_of({"groups": ["billing", "billing-admins"]}, web) == "admin"
    assert role_of({"groups": "engineer"}, web) == "engineer" and role_of({}, web) is None
