"""Code systems, code-shape patterns and small fixed code sets the rules share (codes only, no texts)."""

from __future__ import annotations

import re

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = frozenset(  # the registered URI (http), its https twin, and the CARIN / Blue Button URI
    {
        "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    }
)
PROCEDURE_SYSTEMS = frozenset({CPT, *HCPCS})
NDC = "http://hl7.org/fhir/sid/ndc"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
MBI = "http://hl7.org/fhir/sid/us-mbi"
PAYER_ID = "urn:claimbridge:payer-id"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

# CPT Category I, II, III, PLA and HCPCS Level II (D-codes are ADA CDT: not professional claim codes).
PROCEDURE_CODE = re.compile(r"^(?:\d{5}|\d{4}[FTU]|[A-CE-V]\d{4})$")
HCPCS_LEVEL2 = re.compile(r"^[A-CE-V]\d{4}$")
MODIFIER = re.compile(r"^[0-9A-Z]{2}$")
DRUG_CODE = re.compile(r"^J\d{4}$")
NDC11 = re.compile(r"^\d{5}-?\d{4}-?\d{2}$")

# Medicare Beneficiary Identifier: 11 characters, letters exclude S, L, O, I, B, Z.
_L = "AC-HJKMNP-RT-Y"
MBI_PATTERN = re.compile(rf"^[1-9][{_L}][{_L}0-9]\d[{_L}][{_L}0-9]\d[{_L}][{_L}]\d\d$")

OFFICE_EM = frozenset({*(str(c) for c in range(99202, 99206)), *(str(c) for c in range(99211, 99216))})
HOSPITAL_EM = frozenset(str(c) for c in (*range(99221, 99224), *range(99231, 99240)))
EM_CODES = OFFICE_EM | HOSPITAL_EM | frozenset(str(c) for c in range(99281, 99286))
INPATIENT_POS = frozenset({"21", "51", "61"})

# Modifiers.
DISTINCT_X = frozenset({"XE", "XS", "XP", "XU"})
DISTINCT = DISTINCT_X | {"59"}
# NCCI-associated modifiers that may bypass a PTP edit with modifier indicator 1.
NCCI_BYPASS = frozenset(
    {
        *(f"E{n}" for n in range(1, 5)),
        "FA",
        *(f"F{n}" for n in range(1, 10)),
        "TA",
        *(f"T{n}" for n in range(1, 10)),
        *("LT", "RT", "LC", "LD", "LM", "RC", "RI"),
        *("24", "25", "57", "58", "78", "79", "27", "59", "91"),
        *DISTINCT_X,
    }
)
REPEAT = frozenset({"76", "77", "91", *DISTINCT})
CONTRADICTIONS: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    (frozenset({"LT"}), frozenset({"RT"})),
    (frozenset({"26"}), frozenset({"TC"})),
    (frozenset({"59"}), DISTINCT_X),
)
