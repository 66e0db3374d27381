"""config/clearinghouse.yaml: the shipped file loads; mistakes are errors naming file, line and field."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from billing_factories import CONFIG

from app.config.clearinghouse import load_clearinghouse
from app.errors import ConfigError
from app.x12 import SequentialControlNumbers

MINIMAL = """\
interchange:
  sender_id: CB{seed}
  receiver_id: RCV{seed}
submitter:
  name: CLINIC {seed}
  identifier: SUB{seed}
  contact_name: DESK
  phone: "6145550199"
receiver:
  name: CLEARING {seed}
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "clearinghouse.yaml").write_text(text)
    return tmp_path


def test_shipped_file_builds_an_envelope() -> None:
    config = load_clearinghouse(CONFIG)
    envelope = config.envelope(created=datetime(2026, 11, 25, 8, 0), control_numbers=SequentialControlNumbers())
    assert (envelope.sender_id, envelope.receiver_id, envelope.usage) == ("CLAIMBRIDGE", "DEMOCLEARING", "T")
    assert envelope.submitter.phone == "6145550100" and config.state_file == Path("var/x12/last-isa13")


@pytest.mark.parametrize("seed", [1, 2])
def test_minimal_file_gets_documented_defaults(tmp_path: Path, seed: int) -> None:
    config = load_clearinghouse(write(tmp_path, MINIMAL.format(seed=seed)))
    policy = config.policy_for("anyone")
    assert (policy.tolerance_amount, policy.tolerance_percent) == (Decimal("1.00"), Decimal(2))
    assert dict(policy.modifier_percent) == {"26": 40, "TC": 60, "50": 150}
    assert policy.reduces("20610") and not policy.reduces("99213") and not policy.reduces("J1030")
    assert config.spec.interchange.sender_qualifier == "ZZ" and config.spec.submitter.name == f"CLINIC {seed}"


def test_payer_override_keeps_the_other_defaults(tmp_path: Path) -> None:
    text = MINIMAL.format(seed=3) + (
        'underpayment:\n  tolerance_amount: 5\n  payers:\n    "60054":\n      modifier_percent: {"26": 35}\n'
    )
    config = load_clearinghouse(write(tmp_path, text))
    payer = config.policy_for("60054")
    assert payer.modifier_percent == {"26": Decimal(35)} and payer.tolerance_amount == Decimal(5)
    assert config.policy_for("other").modifier_percent["TC"] == Decimal(60)


@pytest.mark.parametrize(
    ("extra", "replace", "field", "line"),
    [
        ("  colour: blue\n", None, "interchange.colour", 4),
        (None, ("sender_id: CB4", "sender_id: THIS-ID-IS-TOO-LONG"), "interchange.sender_id", 2),
        (None, ('phone: "6145550199"', 'phone: "555"'), "submitter.phone", 8),
        ("underpayment:\n  modifier_percent: {\"2\": 40}\n", None, "underpayment.modifier_percent", 12),
        ("underpayment:\n  multiple_procedure:\n    codes: [[\"69990\", \"10004\"]]\n", None,
         "underpayment.multiple_procedure.codes", 13),
    ],
)  # fmt: skip
def test_mistakes_name_file_line_and_field(
    tmp_path: Path, extra: str | None, replace: tuple[str, str] | None, field: str, line: int
) -> None:
    text = MINIMAL.format(seed=4)
    if replace:
        text = text.replace(*replace)
    if extra and extra.startswith("  "):
        text = text.replace("  receiver_id: RCV4\n", "  receiver_id: RCV4\n" + extra)
    elif extra:
        text += extra
    with pytest.raises(ConfigError) as caught:
        load_clearinghouse(write(tmp_path, text))
    err = caught.value
    assert err.path.endswith("clearinghouse.yaml") and err.field == field and err.line == line, str(err)


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="clearinghouse configuration not found"):
        load_clearinghouse(tmp_path)
