"""Factories for 837P inputs and FHIR resources used by the X12 tests (irrelevant fields vary by seed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from app.x12 import (
    Address,
    BillingProvider,
    ClaimInput,
    DrugInput,
    Envelope,
    Patient,
    Payer,
    PersonName,
    RenderingProvider,
    SequentialControlNumbers,
    ServiceLineInput,
    Submitter,
    Subscriber,
)

LAST = ["RIVERA", "NGUYEN", "OKAFOR", "LINDQVIST", "PATEL", "MORENO"]
FIRST = ["ANA", "MINH", "CHIDI", "ELSA", "RAVI", "LUZ"]
STREETS = ["12 OAK ST", "400 HIGH ST", "9 LAKE RD", "77 ELM AVE"]
VALID_NPIS = ["1234567893", "1912301953", "1003000126", "1598765430"]


def pick(options: list[str], seed: int) -> str:
    return options[seed % len(options)]


def address(seed: int = 0, *, zip9: bool = False) -> Address:
    return Address(pick(STREETS, seed), "COLUMBUS", "OH", "432151234" if zip9 else "43215")


def billing_provider(seed: int = 0, **changes: Any) -> BillingProvider:
    base = BillingProvider(
        npi="1234567893",
        tin="311234567",
        address=address(seed, zip9=True),
        organization_name=f"LAKEVIEW FAMILY CLINIC {seed}",
        taxonomy="207Q00000X",
    )
    return replace(base, **changes)


def subscriber(seed: int = 0, **changes: Any) -> Subscriber:
    base = Subscriber(
        PersonName(pick(LAST, seed), pick(FIRST, seed)),
        f"MBR{seed:06d}",
        date(1950 + seed % 40, 1 + seed % 12, 3),
        pick(["F", "M"], seed),
        address(seed),
    )
    return replace(base, **changes)


def dependent(seed: int = 0, **changes: Any) -> Patient:
    base = Patient(
        PersonName(pick(LAST, seed), pick(FIRST, seed + 1)), date(2012, 5, 1 + seed % 27), "M", address(seed), "19"
    )
    return replace(base, **changes)


def line(seed: int = 0, **changes: Any) -> ServiceLineInput:
    base = ServiceLineInput(
        code="99213",
        charge=Decimal("125.00"),
        units=Decimal("1"),
        service_date=date(2026, 11, 2 + seed % 20),
        pointers=(1,),
    )
    return replace(base, **changes)


def drug_line(seed: int = 0) -> ServiceLineInput:
    return line(seed, code="J0696", charge=Decimal("42.50"), pointers=(2,), drug=DrugInput("00409733201", Decimal("1")))


def claim_input(seed: int = 0, **changes: Any) -> ClaimInput:
    lines = changes.pop("lines", (line(seed, modifiers=("25",), pointers=(1, 2)), drug_line(seed)))
    total = changes.pop("total_charge", sum((ln.charge for ln in lines), Decimal(0)))
    base = ClaimInput(
        claim_id=f"CLM{seed:05d}",
        total_charge=total,
        place_of_service="11",
        diagnoses=("J069", "E119"),
        lines=lines,
        billing_provider=billing_provider(),
        subscriber=subscriber(seed),
        payer=Payer("BUCKEYE MUTUAL HEALTH PLAN", "60054"),
        filing_indicator="CI",
        group_number=f"GRP{seed % 7}",
        rendering_provider=RenderingProvider(pick(VALID_NPIS, seed), PersonName("HOUSE", "GREG"), "207Q00000X"),
    )
    return replace(base, **changes)


def envelope(numbers: SequentialControlNumbers | None = None, **changes: Any) -> Envelope:
    base = Envelope(
        sender_id="CLAIMBRIDGE",
        receiver_id="CLEARINGHOUSE",
        receiver_name="ACME CLEARINGHOUSE",
        submitter=Submitter("LAKEVIEW FAMILY CLINIC", "SUB0001", "BILLING OFFICE", "6145550100"),
        created=datetime(2026, 11, 20, 9, 45),
        control_numbers=numbers or SequentialControlNumbers(),
        usage="T",
        line_breaks=True,
    )
    return replace(base, **changes)
