"""Code-system and identifier-system URIs the X12 layer reads (FHIR → 837P) and writes (X12 → FHIR)."""

from __future__ import annotations

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS_SYSTEM = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"  # the registered URI: what we emit
HCPCS = frozenset(  # what we accept: the registered URI, its https twin, the CARIN / Blue Button one
    {
        HCPCS_SYSTEM,
        "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
        "https://bluebutton.cms.gov/resources/codesystem/hcpcs",
    }
)
PROCEDURE_SYSTEMS = frozenset({CPT}) | HCPCS
NDC = "http://hl7.org/fhir/sid/ndc"
NPI = "http://hl7.org/fhir/sid/us-npi"
TIN = "urn:oid:2.16.840.1.113883.4.4"
MBI = "http://hl7.org/fhir/sid/us-mbi"
PAYER_ID = "urn:claimbridge:payer-id"
POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
NUCC_TAXONOMY = "http://nucc.org/provider-taxonomy"
CARE_TEAM_ROLE = "http://terminology.hl7.org/CodeSystem/claimcareteamrole"
C4BB_CARE_TEAM_ROLE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBClaimCareTeamRole"
SOPT = "https://nahdo.org/sopt"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"  # Coverage.type (HMO, PPO, POS, ...)
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
RELATED_CLAIM_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/ex-relatedclaimrelationship"
CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CARIN_ADJUDICATION = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"  # memberliability
CARIN_DISCRIMINATOR = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator"  # adjustmentreason
PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/payment-type"
EX_PAYMENT_TYPE = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"

# Our own systems (claimbridge-defined).
PATIENT_CONTROL_NUMBER = "urn:claimbridge:patient-control-number"  # Claim.identifier → CLM01
CLAIM_FILING_INDICATOR = "urn:claimbridge:x12:claim-filing-indicator"  # Coverage.type, SBR09 code as-is
PAYER_CLAIM_CONTROL_NUMBER = "urn:claimbridge:payer-claim-control-number"  # 277CA REF*1K / 835 CLP07
CHECK_OR_EFT_NUMBER = "urn:claimbridge:x12:trn02"  # 835 TRN02
X12_ACK_ERROR = "urn:claimbridge:x12:999-error"  # IK3/IK4/IK5 codes as "IK304-8"

# X12 external code lists, as published URIs (codes only; no descriptions are shipped).
CARC = "https://x12.org/codes/claim-adjustment-reason-codes"
RARC = "https://x12.org/codes/remittance-advice-remark-codes"
CLAIM_ADJUSTMENT_GROUP = "https://x12.org/codes/claim-adjustment-group-codes"
CLAIM_STATUS_CATEGORY = "https://x12.org/codes/claim-status-category-codes"
CLAIM_STATUS = "https://x12.org/codes/claim-status-codes"
ENTITY_IDENTIFIER = "https://x12.org/codes/entity-identifier-codes"
LINE_PRIOR_AUTH = "urn:claimbridge:line-prior-auth"  # Claim.item.extension: the line's own REF*G1
