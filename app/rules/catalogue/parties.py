"""Missing or inaccurate data about the parties: providers, payer profile, subscriber, patient."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from stdnum.us import ein, ssn

from app.domain.findings import Category, Severity
from app.rules.codes import MBI_PATTERN, TIN
from app.rules.facts import ClaimFacts
from app.rules.registry import Hit, Params, register
from app.rules.values import codings, npi_problem
from app.rules.who import Provider

MD = Category.MISSING_DATA
ERR, WARN, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO
SSN_SYSTEM = "http://hl7.org/fhir/sid/us-ssn"
_TAX_SYSTEMS = frozenset({TIN, SSN_SYSTEM})
_PO_BOX = re.compile(r"\b(?:p\.?\s*o\.?\s*box|post\s+office\s+box|pob\s*\d|box\s+\d+$)", re.IGNORECASE)
_GENDERS = frozenset({"male", "female", "other", "unknown"})


@register(
    "missing-data.payer-profile-missing", category=MD, severity=INFO,
    summary="No payer profile matches the coverage's payer; conservative defaults are used.",
    fix="Add a config/payers/<payer>.yaml profile for this payer id.",
)  # fmt: skip
def check_payer_profile(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.profile.is_default:
        ids = ", ".join(f.payer_ids) or "none"
        yield Hit(
            f"No payer profile for payer id(s) {ids}: defaults apply "
            f"({f.profile.timely_filing_days}-day filing, no prior-auth list).",
            "Coverage.payor", f.coverage_key,
        )  # fmt: skip


def _npi_hits(providers: tuple[Provider, ...], what: str) -> Iterator[Hit]:
    for prov in providers:
        problem = npi_problem(prov.npi)
        if problem:
            yield Hit(f"{what} NPI {problem}.", prov.at("identifier"), prov.source)


@register(
    "missing-data.billing-npi-invalid", category=MD, severity=ERR, carc=("16", "206", "207"),
    summary="Billing provider NPI present, 10 digits starting 1/2, Luhn check digit over 80840+NPI.",
    fix="Correct the billing Organization's identifier (system http://hl7.org/fhir/sid/us-npi).",
)  # fmt: skip
def check_billing_npi(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    return _npi_hits((f.billing,), "Billing provider")


@register(
    "missing-data.rendering-npi-invalid", category=MD, severity=ERR, carc=("16", "206", "207"),
    summary="Every care-team (rendering) provider has a valid NPI.",
    fix="Add or correct the practitioner's NPI identifier.",
)  # fmt: skip
def check_rendering_npi(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    return _npi_hits(f.rendering, "Rendering provider")


@register(
    "missing-data.referring-npi-invalid", category=MD, severity=ERR, carc=("16", "206", "207"),
    summary="A referring provider (care-team referring role or the referral's requester) has a valid NPI.",
    fix="Add or correct the referring practitioner's NPI identifier.",
)  # fmt: skip
def check_referring_npi(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    return _npi_hits(f.referring, "Referring provider")


@lru_cache(maxsize=4096)
def _tin_ok(value: str) -> bool:
    return bool(ein.is_valid(value) or ssn.is_valid(value))


def _tin_values(f: ClaimFacts) -> list[str]:
    """Values of TIN/SSN-system identifiers and of identifiers typed TAX (one pass)."""
    out = []
    for ident in (f.billing.resource or {}).get("identifier") or ():
        value = ident.get("value") if isinstance(ident, dict) else None
        if not isinstance(value, str):
            continue
        if ident.get("system") in _TAX_SYSTEMS or (
            ident.get("type") and any(c.get("code") == "TAX" for c in codings(ident.get("type")))
        ):
            out.append(value.strip())
    return out


@register(
    "missing-data.billing-tin-missing", category=MD, severity=ERR, carc=("16",),
    summary="Billing provider has a tax id (EIN, or SSN for a sole proprietor) of valid format.",
    fix="Add the billing Organization's EIN (identifier system urn:oid:2.16.840.1.113883.4.4).",
)  # fmt: skip
def check_billing_tin(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    values = _tin_values(f)
    if not values:
        yield Hit("Billing provider has no tax id (EIN).", f.billing.at("identifier"), f.billing.source)
    elif not any(_tin_ok(v) for v in values):
        yield Hit("Billing provider tax id is not a valid EIN.", f.billing.at("identifier"), f.billing.source)


@lru_cache(maxsize=4096)
def _is_po_box(line: str) -> bool:
    """Whether an address line is a PO box (a billing address repeats on every claim of a practice)."""
    return _PO_BOX.search(line) is not None


def _billing_address(f: ClaimFacts) -> tuple[int, dict[str, Any]] | None:
    addresses = (f.billing.resource or {}).get("address") or ()
    for n, addr in enumerate(addresses):
        if isinstance(addr, dict) and addr.get("use") != "old" and addr.get("type") != "postal":
            return n, addr
    return None


@register(
    "missing-data.billing-address-incomplete", category=MD, severity=ERR, carc=("16",),
    summary="Billing provider has a physical address with street line, city, state and ZIP.",
    fix="Complete the billing Organization's address (line, city, state, postalCode).",
)  # fmt: skip
def check_billing_address(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    found = _billing_address(f)
    if found is None:
        yield Hit("Billing provider has no physical address.", f.billing.at("address"), f.billing.source)
        return
    n, addr = found
    missing = [k for k in ("line", "city", "state", "postalCode") if not addr.get(k)]
    if missing:
        yield Hit(f"Billing address lacks {', '.join(missing)}.", f.billing.at(f"address[{n}]"), f.billing.source)


@register(
    "missing-data.billing-zip-not-9-digits", category=MD, severity=ERR, carc=("16",),
    summary="Billing provider ZIP code has all 9 digits (ZIP+4), as the 837P billing loop requires.",
    fix="Enter the ZIP+4 (e.g. 43215-1234) on the billing Organization's address.",
)  # fmt: skip
def check_billing_zip(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    found = _billing_address(f)
    if found is None or not found[1].get("postalCode"):
        return  # reported by billing-address-incomplete
    n, addr = found
    digits = str(addr["postalCode"]).replace("-", "").replace(" ", "")
    if len(digits) != 9 or not digits.isdigit():
        yield Hit("Billing ZIP code is not 9 digits.", f.billing.at(f"address[{n}].postalCode"), f.billing.source)


@register(
    "missing-data.billing-address-po-box", category=MD, severity=ERR, carc=("16",),
    summary="Billing provider address is a street address, not a PO box (a PO box goes in pay-to).",
    fix="Use the practice's street address; put a PO box in the pay-to address.",
)  # fmt: skip
def check_billing_po_box(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    found = _billing_address(f)
    if found is None:
        return
    n, addr = found
    if any(isinstance(line, str) and _is_po_box(line) for line in addr.get("line") or ()):
        yield Hit("Billing address is a PO box.", f.billing.at(f"address[{n}].line"), f.billing.source)


@register(
    "missing-data.subscriber-id-missing", category=MD, severity=ERR, carc=("16", "31"),
    summary="The coverage carries the subscriber (member) id.",
    fix="Enter the member id from the insurance card on the Coverage (subscriberId).",
)  # fmt: skip
def check_subscriber_id(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.coverage is not None and not f.member_id:
        yield Hit("Coverage has no subscriber id.", "Coverage.subscriberId", f.coverage_key)


@register(
    "missing-data.subscriber-id-format", category=MD, severity=ERR, carc=("16", "31", "140"),
    summary="Subscriber id matches the payer's pattern; Medicare ids must be MBIs (11 characters).",
    fix="Re-enter the member id exactly as on the card (no dashes or spaces; an MBI, not a HICN).",
)  # fmt: skip
def check_subscriber_format(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    member = f.member_id
    if not member:
        return
    profile = f.profile
    if profile.subscriber_id_format == "mbi":
        if not MBI_PATTERN.match(member):
            yield Hit("Subscriber id is not a valid Medicare MBI.", "Coverage.subscriberId", f.coverage_key)
    elif profile.subscriber_id_regex is not None and not profile.subscriber_id_regex.match(member):
        yield Hit(
            f"Subscriber id does not match the format {profile.name} uses.",
            "Coverage.subscriberId", f.coverage_key,
        )  # fmt: skip


@register(
    "missing-data.patient-name-missing", category=MD, severity=ERR, carc=("16",),
    summary="Patient has a family name (and the patient resource is present).",
    fix="Complete the Patient's legal name.",
)  # fmt: skip
def check_patient_name(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    names = (f.patient or {}).get("name") or ()
    if not any(isinstance(n, dict) and n.get("family") and n.get("use") != "old" for n in names):
        yield Hit("Patient has no family name.", "Patient.name", f.patient_key or "Claim.patient")


@register(
    "missing-data.patient-dob-missing", category=MD, severity=ERR, carc=("16",),
    summary="Patient has a full birth date (YYYY-MM-DD).",
    fix="Enter the Patient's full date of birth.",
)  # fmt: skip
def check_patient_dob(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.birth_date is None:
        yield Hit("Patient has no full birth date.", "Patient.birthDate", f.patient_key or "Claim.patient")


@register(
    "missing-data.patient-sex-missing", category=MD, severity=ERR, carc=("16",),
    summary="Patient administrative gender is recorded.",
    fix="Record the Patient's administrative gender.",
)  # fmt: skip
def check_patient_sex(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if (f.patient or {}).get("gender") not in _GENDERS:
        yield Hit("Patient has no administrative gender.", "Patient.gender", f.patient_key or "Claim.patient")


@register(
    "missing-data.dob-after-dos", category=MD, severity=ERR, carc=("14", "16"),
    summary="Patient birth date is not after any date of service.",
    fix="Correct the Patient's birth date or the service date.",
)  # fmt: skip
def check_dob_after_dos(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.birth_date is None:
        return
    for line in f.lines:
        if line.dos and line.dos < f.birth_date:
            yield Hit("Service date is before the patient's birth date.", f"{line.path}.servicedDate", f.claim_key)
