"""``claimbridge diff``: claims stored by the real pipeline, replayed through a candidate config."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from typer.testing import CliRunner, Result

from app.cli.main import app
from app.db.models import SQLModel
from tests.spine.helpers import EXAMPLES, ROOT
from tests.whatif.conftest import BUNDLES, Stored

RUNNER = CliRunner()
LOCAL_ORDERS = "http://example.org/fhir/CodeSystem/local-orders"


def run_diff(db_url: str, tmp: Path, *args: str) -> Result:
    env = {"CLAIMBRIDGE_DATABASE_URL": db_url, "CLAIMBRIDGE_REFDATA_DIR": str(tmp / "refdata")}
    return RUNNER.invoke(app, ["diff", *args, "--baseline", str(ROOT / "config")], env=env)


def diff_json(db_url: str, tmp: Path, config: Path) -> dict[str, Any]:
    result = run_diff(db_url, tmp, "--config", str(config), "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def codes(claim: dict[str, Any]) -> list[str]:
    return [item["productOrService"]["coding"][0]["code"] for item in claim.get("item", [])]


def set_price(config: Path, code: str, price: str) -> None:
    path = config / "chargemaster.yaml"
    text, count = re.subn(rf'^(\s+"{code}"): [0-9.]+$', rf"\g<1>: {price}", path.read_text(), flags=re.M)
    assert count == 1
    path.write_text(text)


def database_rows(stored: Stored) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show the diff wrote nothing."""
    out = {}
    with stored.services.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = sorted(map(repr, conn.execute(select(table)).all()))
    return out


def test_same_config_reports_no_change(stored: Stored, tmp_path: Path) -> None:
    report = diff_json(stored.db_url, tmp_path, ROOT / "config")
    assert report["encounters"] == len(stored.claims)  # history encounters are not replayed
    assert (report["changed"], report["added"], report["removed"], report["claims"]) == (0, 0, 0, [])
    assert report["unchanged"] + len(report["drift"]) == len(stored.claims)
    assert report["config_hash"] == report["baseline_hash"]


def test_a_price_change_reports_exactly_the_claims_with_that_code(
    stored: Stored, candidate: Path, tmp_path: Path
) -> None:
    using = {c["id"]: c for c in stored.claims if "99213" in codes(c["claim"])}
    assert 0 < len(using) < len(stored.claims)
    set_price(candidate, "99213", "152.50")
    before = database_rows(stored)
    report = diff_json(stored.db_url, tmp_path, candidate)
    assert database_rows(stored) == before
    assert {d["claim_id"] for d in report["claims"]} == set(using)
    assert (report["changed"], report["added"], report["removed"]) == (len(using), 0, 0)
    for diff in report["claims"]:
        claim = using[diff["claim_id"]]
        line = next(i for i in claim["claim"]["item"] if i["productOrService"]["coding"][0]["code"] == "99213")
        units = Decimal(str(line["quantity"]["value"]))
        expected = Decimal(str(claim["claim"]["total"]["value"])) + (Decimal("152.50") - Decimal("145.00")) * units
        assert diff["before"]["total"] == claim["claim"]["total"]["value"]
        assert Decimal(str(diff["after"]["total"])) == expected
        assert diff["before"]["status"] == diff["after"]["status"] == claim["status"]
        assert diff["lines"]["added"] == diff["lines"]["removed"] == []
        [changed] = diff["lines"]["changed"]
        assert changed["before"]["code"] == changed["after"]["code"] == "99213"
        assert (changed["before"]["net"], changed["after"]["net"]) == (145.0 * float(units), 152.5 * float(units))
        assert diff["findings"] == {"appeared": [], "disappeared": [], "severity_changed": []}
        assert diff["other_elements"] == []


def test_an_unmapped_order_code_removes_lines_and_raises_findings(
    stored: Stored, candidate: Path, tmp_path: Path
) -> None:
    tables = candidate / "mappings" / "code-tables.yaml"
    text = tables.read_text()
    assert text.count("VENIPUNCTURE:") == 1
    tables.write_text(re.sub(r"^\s+VENIPUNCTURE:.*\n", "", text, flags=re.M))
    affected = encounters_ordering("VENIPUNCTURE")
    assert affected
    report = diff_json(stored.db_url, tmp_path, candidate)
    assert {d["encounter"] for d in report["claims"]} == affected
    for diff in report["claims"]:
        assert [line["code"] for line in diff["lines"]["removed"]] == ["36415"]
        assert diff["after"]["total"] == diff["before"]["total"] - 15.0
        assert [f["rule"] for f in diff["findings"]["appeared"]] == ["charge-capture.unmapped-order"]


def encounters_ordering(local_code: str) -> set[str]:
    """Encounters of the stored sample bundles with a completed order coded ``local_code``."""
    found = set()
    for path in sorted(EXAMPLES.glob("*.json"))[:BUNDLES]:
        bundle = orjson.loads(path.read_bytes())
        for entry in bundle["entry"]:
            res = entry["resource"]
            codings = res.get("code", {}).get("coding", []) if res["resourceType"] == "ServiceRequest" else []
            if res.get("status") == "completed" and {"system": LOCAL_ORDERS, "code": local_code} in [
                {"system": c.get("system"), "code": c.get("code")} for c in codings
            ]:
                found.add(res["encounter"]["reference"])
    return found


def test_readable_report_names_each_changed_claim(stored: Stored, candidate: Path, tmp_path: Path) -> None:
    set_price(candidate, "99213", "152.50")
    result = run_diff(stored.db_url, tmp_path, "--config", str(candidate))
    assert result.exit_code == 0, result.stderr
    using = [c for c in stored.claims if "99213" in codes(c["claim"])]
    assert f"{len(using)} claim(s) would change" in result.stdout
    for claim in using:
        assert claim["id"] in result.stdout
    assert "~ line 99213: ×1.0 145.00 → ×1.0 152.50" in result.stdout


def test_bad_input_is_one_line_and_exit_2(stored: Stored, candidate: Path, tmp_path: Path) -> None:
    missing = run_diff(stored.db_url, tmp_path, "--config", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines() == [
        f"claimbridge: error: {tmp_path / 'nope'}: configuration directory not found"
    ]
    set_price(candidate, "99213", "-1")
    broken = run_diff(stored.db_url, tmp_path, "--config", str(candidate))
    assert broken.exit_code == 2 and broken.stdout == ""
    [line] = broken.stderr.strip().splitlines()
    assert line.startswith(f"claimbridge: error: {candidate / 'chargemaster.yaml'}:") and "99213" in line


def test_a_missing_database_is_exit_2_and_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "absent.db"
    result = run_diff(f"sqlite:///{target}", tmp_path, "--config", str(ROOT / "config"))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"claimbridge: error: database not found: sqlite:///{target}"
    assert not target.exists()
