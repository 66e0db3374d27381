"""`claimbridge x12 build`: clean claims only, ordered by filing deadline, pyx12-valid, unique ISA13."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from billing_factories import CONFIG, finding, merged_bundle
from typer.testing import CliRunner

from app.billing import (
    ControlNumberError,
    FileControlNumbers,
    LeftOut,
    patient_control_number,
    plan_submission,
    refused_by_writer,
)
from app.cli.main import app
from app.cli.x12 import run_build
from app.config.clearinghouse import load_clearinghouse
from app.domain.findings import Category, Severity
from app.domain.payers import PayerDirectory
from app.evaluate import CheckReport, Evaluation
from app.x12 import SequentialControlNumbers, write_837p
from app.x12.tokenizer import SegmentReader
from tests.x12.x12_fhir_factories import claim, context
from tests.x12.x12_pyx12 import assert_valid_837p

RUNNER = CliRunner()
AS_OF = "2026-11-25"
# Medicare (365 d), Lakeshore, Summit HMO, Medicare held (bad MBI), Buckeye (90 d), Medicaid, Buckeye
ENCOUNTERS = ["001", "003", "006", "007", "009", "010", "016"]


def clm01s(text: str) -> list[str]:
    return [seg[1] for seg in SegmentReader(text) if seg.tag == "CLM"]


def isa13(text: str) -> str:
    return next(seg[13] for seg in SegmentReader(text) if seg.tag == "ISA")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return merged_bundle(ENCOUNTERS, tmp_path_factory.mktemp("bundle") / "bundle.json")


def test_build_writes_clean_claims_by_deadline(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "claims.837"
    result = run_build(
        bundle, out=out, config_dir=CONFIG, refdata_dir=tmp_path / "none", today=date(2026, 11, 25),
        state_file=tmp_path / "isa13",
    )  # fmt: skip
    text = out.read_text()
    assert_valid_837p(text)
    deadlines = [r.deadline for r in result.plan.ready]
    assert len(deadlines) == 6 and deadlines == sorted(d for d in deadlines if d is not None)
    assert deadlines[0] < deadlines[-1]  # two filing windows at least: the order is not an accident
    assert clm01s(text) == [r.claim_input.claim_id for r in result.plan.ready]
    (held,) = result.left_out
    assert held.stage == "scrubbing" and held.encounter == "Encounter/enc-007"
    assert any(reason.startswith("missing-data.subscriber-id-format: ") for reason in held.reasons)
    assert held.claim_id not in {r.evaluation.claim_id for r in result.plan.ready}


def test_cli_build_reports_left_out_and_increments_control_numbers(bundle: Path, tmp_path: Path) -> None:
    state = tmp_path / "state" / "isa13"
    args = ["x12", "build", str(bundle), "--config", str(CONFIG), "--as-of", AS_OF, "--state", str(state)]
    first = RUNNER.invoke(app, [*args, "-o", str(tmp_path / "a.837")])
    second = RUNNER.invoke(app, [*args, "-o", str(tmp_path / "b.837")])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "wrote 6 claim(s)" in first.output and "left out 1 claim(s)" in first.output
    assert re.search(r"Encounter/enc-007 .*\(scrubbing\)\n +- missing-data\.subscriber-id-format: ", first.output)
    a, b = (tmp_path / "a.837").read_text(), (tmp_path / "b.837").read_text()
    assert (isa13(a), isa13(b)) == ("000000001", "000000002")
    assert state.read_text().strip() == "2"
    assert_valid_837p(a)
    assert_valid_837p(b)


def test_cli_build_with_nothing_clean_writes_nothing(tmp_path: Path) -> None:
    bundle = merged_bundle(["007"], tmp_path / "held.json")
    out = tmp_path / "none.837"
    result = RUNNER.invoke(
        app, ["x12", "build", str(bundle), "-o", str(out), "--config", str(CONFIG), "--as-of", AS_OF,
              "--state", str(tmp_path / "isa13")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "no claim is ready to submit" in result.output and not out.exists()
    assert not (tmp_path / "isa13").exists()  # no interchange, no control number consumed


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('{"resourceType": "Patient"}', "not a FHIR Bundle"), (None, "cannot read")],
)
def test_cli_build_unreadable_input_exits_2_with_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    bundle = tmp_path / "in.json"
    if content is not None:
        bundle.write_text(content)
    result = RUNNER.invoke(app, ["x12", "build", str(bundle), "-o", str(tmp_path / "o.837"), "--config", str(CONFIG)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("claimbridge: error: ")


def test_cli_build_bad_clearinghouse_file_names_file_and_line(bundle: Path, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for part in ("mappings", "payers", "rules", "refdata"):
        (config / part).symlink_to(CONFIG / part)
    (config / "chargemaster.yaml").symlink_to(CONFIG / "chargemaster.yaml")
    text = (CONFIG / "clearinghouse.yaml").read_text().replace('phone: "6145550100"', 'phone: "614-555"')
    (config / "clearinghouse.yaml").write_text(text)
    line = 1 + text.splitlines().index('  phone: "614-555"')
    result = RUNNER.invoke(app, ["x12", "build", str(bundle), "-o", str(tmp_path / "o.837"), "--config", str(config)])
    assert result.exit_code == 2
    assert f"clearinghouse.yaml:{line}: submitter.phone" in result.output
    assert not (tmp_path / "o.837").exists()


def evaluation(seed: int, *, deadline: date | None, claim_changes: dict[str, object] | None = None,
               errors: tuple[str, ...] = ()) -> Evaluation:  # fmt: skip
    findings = [finding(rule, Category.CODING, Severity.ERROR) for rule in errors]
    return Evaluation(
        claim=claim(seed, **(claim_changes or {})), findings=findings, em=None, payer_id="60054",
        encounter=f"Encounter/enc{seed}", patient=f"Patient/pat{seed}", mapping_version="t", config_hash="t",
        filing_deadline=deadline,
    )  # fmt: skip


def test_plan_orders_by_deadline_and_explains_each_refusal() -> None:
    report = CheckReport(
        [
            evaluation(0, deadline=None),
            evaluation(1, deadline=date(2027, 1, 5)),
            evaluation(2, deadline=date(2026, 12, 1), errors=("coding.icd10-invalid",)),
            evaluation(3, deadline=date(2026, 12, 2), claim_changes={"diagnosis": []}),
            evaluation(4, deadline=date(2026, 12, 20)),
        ]
    )
    contexts = {f"Encounter/enc{n}": context(n) for n in range(5)}
    plan = plan_submission(report, contexts, payers=PayerDirectory())
    assert [r.evaluation.claim_id for r in plan.ready] == ["claim4", "claim1", "claim0"]
    scrub, x12 = plan.left_out
    assert (scrub.claim_id, scrub.stage) == ("claim2", "scrubbing")
    assert scrub.reasons == ("coding.icd10-invalid: coding.icd10-invalid fired",)
    assert x12.claim_id == "claim3" and x12.stage == "x12" and x12.reasons == ("Claim.diagnosis is empty",)
    out = io.StringIO()
    envelope = load_clearinghouse(CONFIG).envelope(
        created=datetime(2026, 11, 25, 9, 30), control_numbers=SequentialControlNumbers(41)
    )
    summary = write_837p((r.claim_input for r in plan.ready), out, envelope=envelope, on_error="skip")
    assert refused_by_writer(plan, summary) == ()
    assert clm01s(out.getvalue()) == ["claim4", "claim1", "claim0"] and isa13(out.getvalue()) == "000000041"
    assert_valid_837p(out.getvalue())


def test_writer_refusals_become_left_out_rows() -> None:
    report = CheckReport([evaluation(0, deadline=date(2027, 1, 1)), evaluation(1, deadline=date(2027, 1, 2))])
    plan = plan_submission(report, {f"Encounter/enc{n}": context(n) for n in range(2)}, payers=PayerDirectory())
    first, second = plan.ready
    bad = replace(second.claim_input, lines=tuple(replace(ln, pointers=(9,)) for ln in second.claim_input.lines))
    plan = replace(plan, ready=(first, replace(second, claim_input=bad)))
    envelope = load_clearinghouse(CONFIG).envelope(
        created=datetime(2026, 11, 25), control_numbers=SequentialControlNumbers()
    )
    out = io.StringIO()
    summary = write_837p((r.claim_input for r in plan.ready), out, envelope=envelope, on_error="skip")
    (row,) = refused_by_writer(plan, summary)
    assert isinstance(row, LeftOut) and row.claim_id == "claim1" and row.stage == "x12"
    assert any("points past 2 diagnoses" in reason for reason in row.reasons), row.reasons
    assert clm01s(out.getvalue()) == ["claim0"]
    assert_valid_837p(out.getvalue())


@pytest.mark.parametrize(
    ("claim_doc", "expected"),
    [
        ({"id": "short-id"}, "short-id"),
        ({"id": "cb-" + "0123456789abcdef" * 2}, "0123456789abcdef0123"),
        ({"id": "cb-x", "identifier": [{"system": "urn:claimbridge:patient-control-number", "value": "P1"}]}, "P1"),
    ],
)
def test_patient_control_number(claim_doc: dict[str, object], expected: str) -> None:
    assert patient_control_number(claim_doc) == expected


def test_patient_control_number_of_a_long_foreign_id_is_a_stable_20_char_hash() -> None:
    first = patient_control_number({"id": "x" * 40})
    assert len(first) == 20 and first == patient_control_number({"id": "x" * 40})
    assert first != patient_control_number({"id": "y" * 40})


def test_file_control_numbers_survive_instances_and_refuse_garbage(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "isa13"
    assert [FileControlNumbers(path)() for _ in range(3)] == [1, 2, 3]
    path.write_text("999999999\n")
    with pytest.raises(ControlNumberError, match="exhausted"):
        FileControlNumbers(path)()
    path.write_text("twelve")
    with pytest.raises(ControlNumberError, match="not a control number"):
        FileControlNumbers(path)()
