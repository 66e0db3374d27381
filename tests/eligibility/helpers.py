"""Eligibility test helpers: a configuration whose Buckeye profile has an endpoint, services, answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from app.db.sql import utcnow
from app.services import Services, build_services
from app.settings import Settings
from tests.spine.helpers import ADMIN, register
from tests.x12.test_minimal_payer_profile import documented_minimal_profile

ROOT = Path(__file__).resolve().parents[2]
PAYER_URL = "http://payer.test/fhir"
SUBMIT = f"{PAYER_URL}/CoverageEligibilityRequest/$submit"
BUCKEYE = ROOT / "examples" / "bundles" / "encounter-009.json"  # a visit billed to payer 60054
COVERAGE = "Coverage/cov-009-1"
PATIENT = "Patient/pat-009"
ENCOUNTER = "Encounter/enc-009"
DOS = "2026-10-06"
CATEGORY = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory"
#: The clearinghouse API (``adapters.clearinghouse: http``) with a real-time 270/271 path.
CLEARINGHOUSE = "http://clearinghouse.test"
CLEARINGHOUSE_TOKEN = f"{CLEARINGHOUSE}/oauth/token"
CLEARINGHOUSE_270 = f"{CLEARINGHOUSE}/eligibility/270"
CLEARINGHOUSE_SETTINGS: dict[str, Any] = {
    "adapters": {"clearinghouse": "http"},
    "clearinghouse": {
        "api": {
            "base_url": CLEARINGHOUSE,
            "token_url": CLEARINGHOUSE_TOKEN,
            "client_id": "claimbridge",
            "client_secret": "test-secret-not-real",
            "eligibility_path": "/eligibility/270",
        }
    },
}


def eligibility_config(tmp: Path, **section: Any) -> Path:
    """The shipped configuration; Buckeye's profile is the documented minimal one plus ``eligibility``."""
    config = tmp / "config"
    if config.exists():
        shutil.rmtree(config)
    shutil.copytree(ROOT / "config", config)
    profile = yaml.safe_load(documented_minimal_profile())
    profile["eligibility"] = {"fhir_base_url": PAYER_URL, **section}
    (config / "payers" / "buckeye-mutual.yaml").write_text(yaml.safe_dump(profile))
    return config


def make_services(
    db_url: str, tmp: Path, *, clock: Any = utcnow, settings_extra: dict[str, Any] | None = None, **section: Any
) -> Services:
    extra = dict(settings_extra or {})
    settings = Settings(
        env="test",
        database_url=db_url,
        config_dir=eligibility_config(tmp, **section),
        refdata_dir=tmp / "refdata",
        api={"admin_token": ADMIN},
        adapters={"out_dir": str(tmp / "out"), **extra.pop("adapters", {})},
        **extra,
    )
    services = build_services(settings, clock=clock)
    register(services, sub_id="claimbridge-demo")
    return services


def buckeye_bundle() -> dict[str, Any]:
    """The Buckeye visit without the eligibility response the sample carries (nothing verified yet)."""
    bundle = dict(json.loads(BUCKEYE.read_text()))
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "CoverageEligibilityResponse"]
    return bundle


def response(
    *,
    inforce: bool = True,
    period: tuple[str, str | None] = ("2026-01-01", "2026-12-31"),
    items: list[dict[str, Any]] | None = None,
    errors: list[str] | None = None,
    wrap: bool = False,
) -> dict[str, Any]:
    """A payer's CoverageEligibilityResponse (bare or Parameters-wrapped)."""
    insurance: dict[str, Any] = {
        "coverage": {"reference": "#coverage"},
        "inforce": inforce,
        "benefitPeriod": {k: v for k, v in zip(("start", "end"), period, strict=True) if v},
    }
    if items is not None:
        insurance["item"] = items
    resource: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": "resp-1",
        "status": "active",
        "purpose": ["validation", "benefits"],
        "patient": {"display": "the patient"},
        "created": "2026-10-05T12:00:00Z",
        "request": {"display": "our request"},
        "outcome": "error" if errors else "complete",
        "disposition": "Policy is currently in force." if inforce else "Policy terminated.",
        "insurer": {"display": "Buckeye Mutual"},
        "insurance": [] if errors else [insurance],
    }
    if errors:
        resource["error"] = [{"code": {"coding": [{"system": "https://x12.org/aaa", "code": c}]}} for c in errors]
    if wrap:
        return {"resourceType": "Parameters", "parameter": [{"name": "return", "resource": resource}]}
    return resource


def office_visit_benefits(*, auth: bool = False) -> list[dict[str, Any]]:
    """Copay 25 in network, 20 % coinsurance, deductible 1000 of which 400 used (service type 30)."""
    money = lambda v: {"value": v, "currency": "USD"}  # noqa: E731
    kind = lambda c: {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/benefit-type", "code": c}]}  # noqa: E731
    return [
        {
            "category": {"coding": [{"system": CATEGORY, "code": "30"}]},
            "network": {"coding": [{"code": "in"}]},
            "name": "Health benefit plan coverage",
            "authorizationRequired": auth,
            "benefit": [
                {"type": kind("copay"), "allowedMoney": money(25)},
                {"type": kind("copay-percent"), "allowedUnsignedInt": 20},
                {"type": kind("deductible"), "allowedMoney": money(1000), "usedMoney": money(400)},
            ],
        }
    ]
