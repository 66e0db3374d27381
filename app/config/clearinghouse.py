"""The clearinghouse file (``config/clearinghouse.yaml``): who we are on the wire, and underpayment policy.

Schema, checked at load time with file and line in every error (unknown keys are errors)::

    interchange:                     # ISA / GS
      sender_qualifier: ZZ           # ISA05 (01 14 20 27 28 29 30 33 ZZ), default ZZ
      sender_id: CLAIMBRIDGE         # ISA06, 1-15 characters
      receiver_qualifier: ZZ         # ISA07, default ZZ
      receiver_id: DEMOCLEARING      # ISA08, 1-15 characters
      application_sender: ""         # GS02, default sender_id
      application_receiver: ""       # GS03, default receiver_id
      usage: T                       # ISA15: T test, P production
      acknowledgment_requested: "0"  # ISA14: "1" asks for a TA1
      line_breaks: false             # newline after each segment terminator (for people reading files)
    submitter:                       # 1000A
      name: LAKEVIEW FAMILY CLINIC   # NM103
      identifier: SUB0001            # NM109, the id the receiver assigned to us
      contact_name: BILLING OFFICE   # PER02
      phone: "6145550100"            # PER04, 10 digits
    receiver:                        # 1000B
      name: DEMO CLEARINGHOUSE       # NM103
      identifier: ""                 # NM109, default interchange.receiver_id
    control_numbers:
      state_file: var/x12/last-isa13 # last ISA13 used; relative to the working directory
    underpayment:                    # defaults for every payer (app.billing.underpayment)
      tolerance_amount: 1.00         # no alert unless the shortfall exceeds this many dollars ...
      tolerance_percent: 2           # ... AND this percentage of the expected allowed amount
      modifier_percent:              # payment modifiers: % of the fee-schedule amount (multiplied together)
        "26": 40                     # professional component
        "TC": 60                     # technical component
        "50": 150                    # bilateral procedure
      multiple_procedure:            # multiple-procedure payment reduction, per claim and date of service
        primary_percent: 100         # the line with the highest expected amount
        others_percent: 50           # every other line the reduction applies to
        codes: [["10004", "69990"]]  # inclusive code ranges it applies to (default: CPT surgery)
      payers:                        # per payer id: any of the keys above except `payers`
        "60054": {tolerance_amount: 0.50}

Payer profiles (``config/payers/*.yaml``) carry the contracted ``allowed`` amounts; their schema has
no reduction keys, so the reduction percentages live here, per payer under ``underpayment.payers``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.yamlfile import load_yaml, validate_data
from app.errors import ConfigError
from app.x12 import Envelope, Submitter

FILE_NAME = "clearinghouse.yaml"
_CODE = re.compile(r"^(\d{5}|\d{4}[FTU]|[A-V]\d{4})$")
_MODIFIER = re.compile(r"^[A-Z0-9]{2}$")
Qualifier = Literal["01", "14", "20", "27", "28", "29", "30", "33", "ZZ"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InterchangeModel(_Strict):
    sender_qualifier: Qualifier = "ZZ"
    sender_id: str = Field(min_length=1, max_length=15)
    receiver_qualifier: Qualifier = "ZZ"
    receiver_id: str = Field(min_length=1, max_length=15)
    application_sender: str = Field(default="", max_length=15)
    application_receiver: str = Field(default="", max_length=15)
    usage: Literal["T", "P"] = "T"
    acknowledgment_requested: Literal["0", "1"] = "0"
    line_breaks: bool = False


class SubmitterModel(_Strict):
    name: str = Field(min_length=1, max_length=60)
    identifier: str = Field(min_length=2, max_length=80)
    contact_name: str = Field(min_length=1, max_length=60)
    phone: str = Field(pattern=r"^[0-9]{10}$")

    @model_validator(mode="after")
    def _guide(self) -> SubmitterModel:
        Submitter(self.name, self.identifier, self.contact_name, self.phone)  # the guide's own checks
        return self


class ReceiverModel(_Strict):
    name: str = Field(min_length=1, max_length=60)
    identifier: str = Field(default="", max_length=80)


class ControlNumbersModel(_Strict):
    state_file: Path = Path("var/x12/last-isa13")


class MultipleProcedureModel(_Strict):
    primary_percent: Decimal = Field(default=Decimal(100), ge=0, le=1000)
    others_percent: Decimal = Field(default=Decimal(50), ge=0, le=1000)
    codes: list[tuple[str, str]] = [("10004", "69990")]

    @field_validator("codes")
    @classmethod
    def _ranges(cls, value: list[tuple[str, str]]) -> list[tuple[str, str]]:
        for low, high in value:
            if not (_CODE.match(low) and _CODE.match(high)) or low > high or len(low) != len(high):
                raise ValueError(f"[{low!r}, {high!r}] is not an inclusive CPT/HCPCS code range")
        return value


class PolicyOverrideModel(_Strict):
    """One payer's changes to the default policy (absent keys keep the default)."""

    tolerance_amount: Decimal | None = Field(default=None, ge=0)
    tolerance_percent: Decimal | None = Field(default=None, ge=0, le=100)
    modifier_percent: dict[str, Decimal] | None = None
    multiple_procedure: MultipleProcedureModel | None = None

    @field_validator("modifier_percent")
    @classmethod
    def _modifiers(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for modifier, percent in (value or {}).items():
            if not _MODIFIER.match(modifier):
                raise ValueError(f'{modifier!r} is not a two-character modifier (quote it: "26")')
            if not 0 <= percent <= 1000:
                raise ValueError(f"{modifier}: {percent} is not a percentage from 0 to 1000")
        return value


class UnderpaymentModel(PolicyOverrideModel):
    tolerance_amount: Decimal | None = Field(default=Decimal("1.00"), ge=0)
    tolerance_percent: Decimal | None = Field(default=Decimal(2), ge=0, le=100)
    modifier_percent: dict[str, Decimal] | None = {"26": Decimal(40), "TC": Decimal(60), "50": Decimal(150)}
    multiple_procedure: MultipleProcedureModel | None = MultipleProcedureModel()
    payers: dict[str, PolicyOverrideModel] = {}


class ClearinghouseFile(_Strict):
    """The schema of ``config/clearinghouse.yaml``."""

    interchange: InterchangeModel
    submitter: SubmitterModel
    receiver: ReceiverModel
    control_numbers: ControlNumbersModel = ControlNumbersModel()
    underpayment: UnderpaymentModel = UnderpaymentModel()


@dataclass(frozen=True)
class UnderpaymentPolicy:
    """What :mod:`app.billing.underpayment` needs to price a line (percentages are 0-100 scale)."""

    tolerance_amount: Decimal = Decimal("1.00")
    tolerance_percent: Decimal = Decimal(2)
    modifier_percent: Mapping[str, Decimal] = field(
        default_factory=lambda: {"26": Decimal(40), "TC": Decimal(60), "50": Decimal(150)}
    )
    mppr_primary_percent: Decimal = Decimal(100)
    mppr_others_percent: Decimal = Decimal(50)
    mppr_codes: tuple[tuple[str, str], ...] = (("10004", "69990"),)

    def reduces(self, code: str) -> bool:
        """Whether the multiple-procedure reduction applies to ``code``."""
        return any(low <= code <= high and len(code) == len(low) for low, high in self.mppr_codes)


def _policy(base: UnderpaymentPolicy, spec: PolicyOverrideModel) -> UnderpaymentPolicy:
    mppr = spec.multiple_procedure
    return UnderpaymentPolicy(
        tolerance_amount=base.tolerance_amount if spec.tolerance_amount is None else spec.tolerance_amount,
        tolerance_percent=base.tolerance_percent if spec.tolerance_percent is None else spec.tolerance_percent,
        modifier_percent=base.modifier_percent if spec.modifier_percent is None else dict(spec.modifier_percent),
        mppr_primary_percent=base.mppr_primary_percent if mppr is None else mppr.primary_percent,
        mppr_others_percent=base.mppr_others_percent if mppr is None else mppr.others_percent,
        mppr_codes=base.mppr_codes if mppr is None else tuple(mppr.codes),
    )


@dataclass(frozen=True)
class ClearinghouseConfig:
    spec: ClearinghouseFile
    source: Path
    default_policy: UnderpaymentPolicy
    payer_policies: Mapping[str, UnderpaymentPolicy]

    @property
    def state_file(self) -> Path:
        return self.spec.control_numbers.state_file

    def policy_for(self, payer_id: str | None) -> UnderpaymentPolicy:
        return self.payer_policies.get(payer_id or "", self.default_policy)

    def envelope(self, *, created: datetime, control_numbers: Callable[[], int]) -> Envelope:
        """The 837P envelope for one interchange written at ``created``."""
        i, s, r = self.spec.interchange, self.spec.submitter, self.spec.receiver
        return Envelope(
            sender_id=i.sender_id,
            receiver_id=i.receiver_id,
            submitter=Submitter(s.name, s.identifier, s.contact_name, s.phone),
            receiver_name=r.name,
            created=created,
            control_numbers=control_numbers,
            receiver_identifier=r.identifier,
            usage=i.usage,
            sender_qualifier=i.sender_qualifier,
            receiver_qualifier=i.receiver_qualifier,
            application_sender=i.application_sender,
            application_receiver=i.application_receiver,
            acknowledgment_requested=i.acknowledgment_requested,
            line_breaks=i.line_breaks,
        )


def load_clearinghouse(directory: Path) -> ClearinghouseConfig:
    """Read and check ``directory/clearinghouse.yaml``; any problem is a :class:`ConfigError`."""
    path = directory / FILE_NAME
    if not path.is_file():
        raise ConfigError(path, None, None, "clearinghouse configuration not found")
    data, lines = load_yaml(path)
    spec = validate_data(path, data, lines, ClearinghouseFile)
    try:  # the envelope's guide checks (receiver NM1) run once here, not on first use
        ClearinghouseConfig(spec, path, UnderpaymentPolicy(), {}).envelope(
            created=datetime(2000, 1, 1), control_numbers=lambda: 1
        )
    except ValueError as exc:
        raise ConfigError(path, lines.line_for(("receiver",)), "receiver", str(exc)) from exc
    default = _policy(UnderpaymentPolicy(), spec.underpayment)
    payers = {payer: _policy(default, override) for payer, override in spec.underpayment.payers.items()}
    return ClearinghouseConfig(spec, path, default, payers)
