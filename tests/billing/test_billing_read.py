"""`claimbridge x12 read`: summaries of the real 999 / 277CA / 835 samples; broken input never crashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from billing_factories import X12_FIXTURES
from typer.testing import CliRunner

from app.billing import summarize_x12
from app.cli.main import app
from app.x12 import read_x12

RUNNER = CliRunner()
IMS = X12_FIXTURES / "imsweb-x12-parser"
LFH = X12_FIXTURES / "linuxforhealth-x12"
EDI = X12_FIXTURES / "edi-835-parser"


def read_json(path: Path) -> tuple[int, dict[str, object]]:
    result = RUNNER.invoke(app, ["x12", "read", str(path), "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_999_rejected_names_the_transaction_and_segment() -> None:
    code, summary = read_json(IMS / "999_rejected.txt")
    assert code == 0 and summary["kind"] == "999"
    assert (summary["accepted"], summary["rejected"]) == (0, 1)
    (tx,) = summary["transactions"]  # type: ignore[misc]
    assert tx["control_number"] == "0028" and tx["status"] == "R" and tx["segment_errors"][0]["position"] == 17


def test_999_accepted_keeps_its_envelope_problem() -> None:
    code, summary = read_json(IMS / "999_accepted.txt")
    assert code == 0 and (summary["accepted"], summary["rejected"]) == (1, 0)
    assert summary["problems"]  # IEA/ISA control mismatch in the sample


def test_277ca_rejected_and_accepted() -> None:
    _, rejected = read_json(IMS / "277CA_rejected.txt")
    (claim,) = rejected["claims"]  # type: ignore[misc]
    assert claim["disposition"] == "rejected" and claim["statuses"][0]["category"] == "A7"
    assert (claim["statuses"][0]["code"], claim["statuses"][0]["entity"]) == ("562", "85")
    _, accepted = read_json(IMS / "277CA_accepted.txt")
    assert accepted["accepted"] == 1 and accepted["rejected"] == 0


def test_835_claims_carry_carc_categories_and_denials() -> None:
    code, summary = read_json(EDI / "835_emedny_sample.txt")
    assert code == 0 and summary["claims"] == 3 and summary["denied"] == 2
    claims = summary["transactions"][0]["claims"]  # type: ignore[index]
    timely, documentation = claims[1], claims[2]
    assert timely["denial"] == {"denied": True, "whole_claim": True, "categories": ["timely-filing"], "amount": "34"}
    assert [a["reason"] for ln in timely["lines"] for a in ln["adjustments"]] == ["29", "29"]
    assert documentation["denial"]["categories"] == ["documentation"] and not documentation["denial"]["whole_claim"]
    assert documentation["lines"][3]["adjustments"][0]["category"] == "documentation"


def test_835_contractual_and_cost_share_are_not_denials() -> None:
    summary = summarize_x12(read_x12((EDI / "835_united_healthcare_legacy_sample.txt").read_text()))
    assert summary["denied"] == 0
    adjustments = [a for c in summary["transactions"][0]["claims"] for ln in c["lines"] for a in ln["adjustments"]]
    assert {(a["group"], a["reason"], a["category"], a["denial_reason"]) for a in adjustments} >= {
        ("CO", "45", None, False),
        ("PR", "1", None, False),
    }


def test_text_summary_of_an_835() -> None:
    result = RUNNER.invoke(app, ["x12", "read", str(EDI / "835_emedny_sample.txt")])
    assert result.exit_code == 0
    assert "3 claim(s), 2 with denials" in result.output
    assert "DENIED timely-filing 34" in result.output and "CO-251 20 [documentation]" in result.output


def test_envelope_less_835_is_read_with_its_problems() -> None:
    code, summary = read_json(EDI / "835_blue_cross_nc_no_envelope.txt")
    assert code == 0 and summary["claims"] == 1 and summary["problems"]


@pytest.mark.parametrize("name", ["837P_demo.837", "271_subscriber.271", "277_X212_claim-level-status.277"])
def test_unsupported_sets_exit_2_and_say_what_they_are(name: str) -> None:
    result = RUNNER.invoke(app, ["x12", "read", str(LFH / name)])
    assert result.exit_code == 2
    assert "not read by claimbridge" in result.stdout
    assert "nothing readable" in result.stderr


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\xff\xfe garbage \x81", b"hello world", b"ISA*00*"],
)
def test_nothing_readable_exits_2_without_a_crash(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "in.x12"
    path.write_bytes(content)
    result = RUNNER.invoke(app, ["x12", "read", str(path), "--json"])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)  # an exit, not a crash
    assert json.loads(result.stdout)["readable"] is False


def test_truncated_835_reads_what_is_there(tmp_path: Path) -> None:
    text = (EDI / "835_emedny_sample.txt").read_text()
    cut = text[: text.index("CLP", text.index("CLP") + 3) + 40]  # stops inside the second claim
    path = tmp_path / "cut.835"
    path.write_text(cut)
    code, summary = read_json(path)
    assert code == 0 and summary["claims"] == 2 and summary["problems"]


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    result = RUNNER.invoke(app, ["x12", "read", str(tmp_path / "nope.835")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().startswith("claimbridge: error: ") and len(result.stderr.strip().splitlines()) == 1
