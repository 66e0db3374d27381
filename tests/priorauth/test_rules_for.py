"""rules_for builds the order rules once per configuration object (the worker asks once per job)."""

from __future__ import annotations

from pathlib import Path

from app.config.loader import load_config
from app.priorauth.alerts import rules_for

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_the_rules_of_one_configuration_are_built_once_and_a_new_configuration_gets_its_own() -> None:
    first, second = load_config(CONFIG), load_config(CONFIG)
    rules = rules_for(first)
    assert rules_for(first) is rules
    assert rules.payers is first.payers
    other = rules_for(second)
    assert other is not rules and other.payers is second.payers
    assert rules_for(first) is not other and rules_for(first).payers is first.payers
    order = {"resourceType": "ServiceRequest", "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]}}
    assert rules_for(first).code_map(order) == other.code_map(order)
