"""The static world of the sample data: code systems, payers, clinics, clinicians and code catalogues.

Everything here is synthetic: organisations, clinicians and identifiers are invented (NPIs carry a valid
check digit but belong to nobody). Code systems and payer ids follow the shared vocabulary; CPT codes
appear without descriptions.
"""

from __future__ import annotations

from stdnum import luhn

BASE = "http://ehr.example.org/fhir"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL_ORDERS = "http://example.org/fhir/CodeSystem/local-orders"
SNOMED = "http://snomed.info/sct"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
MBI = "http://hl7.org/fhir/sid/us-mbi"
PAYER_ID = "urn:claimbridge:payer-id"
REFERRAL_NUMBER = "urn:claimbridge:referral-number"
MRN = f"{BASE}/sid/mrn"
MEMBER_ID = f"{BASE}/sid/member-id"
VISIT_NUMBER = f"{BASE}/sid/visit-number"
ELIG_REQUEST = f"{BASE}/sid/eligibility-request"
UCUM = "http://unitsofmeasure.org"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
TAXONOMY = "http://nucc.org/provider-taxonomy"
SOPT = "https://nahdo.org/sopt"
SAMPLE_TAG = "urn:claimbridge:encounter-role"  # = app.domain.context.HISTORY_TAG
SHARED_UPDATED = "2026-09-15T08:00:00-04:00"


def npi_from(base9: str, *, valid: bool = True) -> str:
    """A 10-digit NPI whose check digit is right (Luhn over 80840 + NPI) unless ``valid`` is False."""
    check = int(luhn.calc_check_digit("80840" + base9))
    return base9 + str(check if valid else (check + 1) % 10)


# payer key -> (payer id, name, Source of Payment Typology code, plan type text)
PAYERS: dict[str, tuple[str, str, str, str]] = {
    "medicare": ("01112", "Medicare", "121", "Medicare Part B"),
    "medicaid": ("MCDOH", "Ohio Medicaid", "2", "Medicaid"),
    "buckeye": ("60054", "Buckeye Mutual Health Plan", "512", "Commercial PPO"),
    "lakeshore": ("LKSH1", "Lakeshore Health Alliance", "512", "Commercial PPO"),
    "summit": ("SCHMO", "Summit Care HMO", "511", "Commercial HMO"),
}
PAYER_ADDRESS = {
    "medicare": ("PO Box 6728", "Indianapolis", "IN", "46206-6728"),
    "medicaid": ("PO Box 182709", "Columbus", "OH", "43218-2709"),
    "buckeye": ("PO Box 94410", "Columbus", "OH", "43209-4410"),
    "lakeshore": ("PO Box 5120", "Toledo", "OH", "43611-0120"),
    "summit": ("PO Box 3300", "Akron", "OH", "44309-3300"),
}

# billing organisation key -> (id, name, NPI base, TIN, street, city, zip+4, phone)
CLINICS: dict[str, tuple[str, str, str, str, str, str, str, str]] = {
    "lakeview": ("org-lakeview", "Lakeview Medical Group", "154382907", "341875209",
                 "1200 Lakeside Ave E", "Cleveland", "44114-1102", "216-555-0140"),
    "cvortho": ("org-cvortho", "Cuyahoga Valley Orthopedics", "172609354", "346620871",
                "4100 W Market St", "Akron", "44333-2206", "330-555-0177"),
}

# practitioner id -> (given, family, prefix, NPI base, clinic, taxonomy code, taxonomy display, npi valid)
PRACTITIONERS: dict[str, tuple[str, str, str, str, str, str, str, bool]] = {
    "prac-001": ("Maya", "Okafor", "Dr.", "132870461", "lakeview", "207Q00000X", "Family Medicine", True),
    "prac-002": ("Daniel", "Brennan", "Dr.", "148205397", "lakeview", "207R00000X", "Internal Medicine", True),
    "prac-003": ("Priya", "Raman", "Dr.", "160439812", "lakeview", "207Q00000X", "Family Medicine", True),
    "prac-004": ("Lena", "Kowalczyk", "", "175930264", "lakeview", "363LF0000X",
                 "Nurse Practitioner, Family", True),
    "prac-005": ("Marcus", "Hale", "Dr.", "119374605", "cvortho", "207X00000X", "Orthopaedic Surgery", True),
    "prac-006": ("Sofia", "Delgado", "Dr.", "126048973", "cvortho", "207X00000X", "Orthopaedic Surgery", True),
    # A locum whose NPI was mistyped at credentialing: the check digit fails.
    "prac-007": ("Theodore", "Vance", "Dr.", "183526690", "lakeview", "207Q00000X", "Family Medicine", False),
}
CLINICIANS = {"lakeview": ["prac-001", "prac-002", "prac-003"], "cvortho": ["prac-005", "prac-006"]}

# order key -> (system, code, display or None, category key)
ORDERS: dict[str, tuple[str, str, str | None, str]] = {
    "CMP": (LOINC, "24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma", "lab"),
    "CBC": (LOINC, "58410-2", "CBC panel - Blood by Automated count", "lab"),
    "A1C": (LOINC, "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "lab"),
    "LIPID": (LOINC, "57698-3", "Lipid panel with direct LDL - Serum or Plasma", "lab"),
    "TSH": (LOINC, "3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "lab"),
    "UA": (LOINC, "24356-8", "Urinalysis complete panel - Urine", "lab"),
    "VENIPUNCTURE": (LOCAL_ORDERS, "VENIPUNCTURE", "Venipuncture, routine", "lab"),
    "XR-CHEST-2V": (LOCAL_ORDERS, "XR-CHEST-2V", "X-ray chest, 2 views", "imaging"),
    "MRI-LSPINE-WO": (LOCAL_ORDERS, "MRI-LSPINE-WO", "MRI lumbar spine without contrast", "imaging"),
    "MRI-BRAIN-WWO": (LOCAL_ORDERS, "MRI-BRAIN-WWO", "MRI brain without and with contrast", "imaging"),
    "CT-HEAD-WO": (LOCAL_ORDERS, "CT-HEAD-WO", "CT head without contrast", "imaging"),
    "EKG-12": (LOCAL_ORDERS, "EKG-12", "Electrocardiogram, 12 lead", "procedure"),
    "INJ-IM": (LOCAL_ORDERS, "INJ-IM", "Therapeutic injection, intramuscular", "therapy"),
    "JOINT-INJ-MAJOR": (LOCAL_ORDERS, "JOINT-INJ-MAJOR", "Injection, major joint", "therapy"),
    "FLU-VAX-ADMIN": (LOCAL_ORDERS, "FLU-VAX-ADMIN", "Immunization administration", "therapy"),
    "NUTRITION-CONSULT": (LOCAL_ORDERS, "NUTRITION-CONSULT", "Nutrition counseling referral", "therapy"),
    # Orders some clinicians enter straight in CPT (no display: CPT texts are licensed).
    "CPT-36415": (CPT, "36415", None, "lab"),
    "CPT-93000": (CPT, "93000", None, "procedure"),
}
# knee osteoarthritis code -> SNOMED body site of the joint injection (laterality modifier RT/LT)
KNEE_SITE = {"M17.11": ("6757004", "Right knee region structure"),
             "M17.12": ("82169009", "Left knee region structure")}
SR_CATEGORY = {
    "lab": ("108252007", "Laboratory procedure"),
    "imaging": ("363679005", "Imaging"),
    "procedure": ("103693007", "Diagnostic procedure"),
    "therapy": ("277132007", "Therapeutic procedure"),
}

# in-office drug key -> (RxNorm, display, route SNOMED code, route display, dose unit)
DRUGS: dict[str, tuple[str, str, str, str, str]] = {
    "ceftriaxone": ("1665021", "ceftriaxone 250 MG Injection", "78421000", "Intramuscular route", "mg"),
    "methylpred": ("1659165", "methylprednisolone acetate 40 MG/ML Injectable Suspension", "12130007",
                   "Intra-articular route", "mg"),
    "triamcinolone": ("1649574", "triamcinolone acetonide 10 MG/ML Injectable Suspension", "12130007",
                      "Intra-articular route", "mg"),
    "ketorolac": ("1665060", "ketorolac tromethamine 15 MG/ML Injectable Solution", "78421000",
                  "Intramuscular route", "mg"),
    "flu-vaccine": ("2479840", "influenza vaccine, inactivated, 0.5 ML Prefilled Syringe", "78421000",
                    "Intramuscular route", "mL"),
}
# community prescription key -> (RxNorm, display, sig). Illustrative RxNorm codes.
PRESCRIPTIONS: dict[str, tuple[str, str, str]] = {
    "lisinopril": ("314076", "lisinopril 10 MG Oral Tablet", "1 tablet by mouth once daily"),
    "amlodipine": ("197361", "amlodipine 5 MG Oral Tablet", "1 tablet by mouth once daily"),
    "metformin": ("861007", "metformin hydrochloride 500 MG Oral Tablet", "1 tablet by mouth twice daily"),
    "atorvastatin": ("617312", "atorvastatin 10 MG Oral Tablet", "1 tablet by mouth at bedtime"),
    "levothyroxine": ("966222", "levothyroxine sodium 0.05 MG Oral Tablet", "1 tablet by mouth every morning"),
    "amoxicillin": ("308191", "amoxicillin 500 MG Oral Capsule", "1 capsule by mouth three times daily"),
    "cephalexin": ("309114", "cephalexin 500 MG Oral Capsule", "1 capsule by mouth four times daily"),
    "naproxen": ("198013", "naproxen 500 MG Oral Tablet", "1 tablet by mouth twice daily with food"),
}
# ICD-10-CM codes treated as chronic (recorded as problem-list items)
CHRONIC = {"I10", "E11.9", "E11.65", "E78.5", "E03.9", "J45.909", "K21.9", "F41.1", "M17.11", "M17.12",
           "M48.062", "M51.16", "G43.909"}
# E/M code -> (minimum minutes, maximum minutes): CPT 2024+ time thresholds, upper bound of our samples
EM_TIME = {"99202": (15, 29), "99203": (30, 44), "99204": (45, 59), "99205": (60, 74), "99211": (5, 9),
           "99212": (10, 19), "99213": (20, 29), "99214": (30, 39), "99215": (40, 54)}
# clinical pictures by clinic and MDM level: (diagnoses, orders, community prescriptions)
PICTURES: dict[str, dict[str, list[tuple[list[str], list[str], list[str]]]]] = {
    "lakeview": {
        "minimal": [(["J06.9"], [], []), (["J02.9"], [], []), (["R05.9"], [], [])],
        "low": [(["I10"], [], ["lisinopril"]), (["E03.9"], ["TSH", "VENIPUNCTURE"], ["levothyroxine"]),
                (["J02.0"], [], ["amoxicillin"]), (["K21.9"], [], [])],
        "moderate": [(["E11.65", "I10"], ["A1C", "CMP", "VENIPUNCTURE"], ["metformin"]),
                     (["I10", "E78.5"], ["LIPID", "CMP", "VENIPUNCTURE"], ["atorvastatin"]),
                     (["N39.0", "R53.83"], ["UA", "CBC", "VENIPUNCTURE"], ["cephalexin"])],
        "high": [(["E11.65", "I10", "E78.5"], ["A1C", "CMP", "LIPID", "VENIPUNCTURE"], ["metformin"]),
                 (["R07.9", "I10"], ["EKG-12", "CMP", "CBC", "VENIPUNCTURE"], ["amlodipine"])],
    },
    "cvortho": {
        "minimal": [(["M25.561"], [], []), (["S93.401A", "W01.0XXA"], [], [])],
        "low": [(["M17.11"], [], ["naproxen"]), (["M17.12"], [], ["naproxen"]), (["M54.50"], [], [])],
        "moderate": [(["M54.16", "M51.16"], [], ["naproxen"]), (["M75.41"], [], ["naproxen"])],
        "high": [(["M48.062", "M54.16"], [], ["naproxen"])],
    },
}
LEVEL_OF = {"99202": "minimal", "99212": "minimal", "99203": "low", "99213": "low", "99204": "moderate",
            "99214": "moderate", "99205": "high", "99215": "high", "99211": "low"}

GIVEN = {"female": ["Ava", "Grace", "Nora", "Elena", "Hannah", "Zoe", "Maria", "Aisha", "Chloe", "Ruth",
                    "Imani", "Leah", "Mei", "Sara", "Joan", "Ines"],
         "male": ["Liam", "Noah", "Elijah", "Mateo", "Owen", "Samuel", "Caleb", "Jamal", "Victor", "Arjun",
                  "Henry", "Wesley", "Tomas", "Isaac", "Felix", "Omar"]}
FAMILY = ["Anders", "Baptiste", "Castellano", "Dorsey", "Eklund", "Fairbanks", "Galloway", "Huang",
          "Ibarra", "Jablonski", "Kettering", "Lindqvist", "Mahoney", "Nakamura", "Osei", "Pruitt",
          "Quintero", "Rasmussen", "Sokolov", "Thibodeaux", "Underwood", "Valentin", "Whitfield", "Yoder",
          "Zielinski", "Abernathy", "Bellamy", "Crowder", "Desai", "Esposito"]
STREETS = ["Maple Ave", "Euclid Ave", "Detroit Rd", "Mayfield Rd", "Superior Ave", "Pearl Rd", "Kinsman Rd",
           "Lorain Ave", "Fulton Rd", "Cedar Rd", "Chagrin Blvd", "Broadview Rd"]
CITIES = [("Cleveland", "44106"), ("Lakewood", "44107"), ("Parma", "44134"), ("Akron", "44303"),
          ("Euclid", "44123"), ("Strongsville", "44136"), ("Cuyahoga Falls", "44221"), ("Elyria", "44035")]
