"""The Da Vinci CRD coverage-information extension: build it and check its invariants. Pure.

URL and sub-extensions as CRD 2.x defines them
(``http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information``):
``coverage`` (1..1 Reference), ``covered`` (1..1), ``pa-needed``, ``doc-needed``, ``doc-purpose``,
``info-needed``, ``billingCode``, ``reason`` (CodeableConcept), ``date`` (1..1),
``coverage-assertion-id`` (1..1), ``satisfied-pa-id``. :func:`violations` checks crd-ci-q1..q9 so the
builder can never answer something CRD forbids (the tests run it on every answer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COVERAGE_INFORMATION = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
REASON_SYSTEM = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"

COVERED = frozenset({"covered", "not-covered", "conditional", "indeterminate"})
PA_NEEDED = frozenset({"no-auth", "auth-needed", "satisfied", "performpa", "conditional", "indeterminate"})
DOC_NEEDED = frozenset({"clinical", "admin", "patient", "conditional", "indeterminate"})
DOC_PURPOSE = frozenset({"withpa", "withclaim", "withorder", "retain-doc", "OTH"})
INFO_NEEDED = frozenset({"performer", "location", "timeframe", "contract-window", "detail-code", "OTH"})


@dataclass(frozen=True)
class CoverageAssertion:
    """One assertion about one order under one coverage."""

    coverage: str  # a reference, e.g. "Coverage/cov1"
    covered: str
    date: str  # YYYY-MM-DD
    assertion_id: str
    pa_needed: str | None = None
    doc_needed: tuple[str, ...] = ()
    doc_purpose: tuple[str, ...] = ()
    info_needed: tuple[str, ...] = ()
    reasons: tuple[tuple[str, str], ...] = ()  # (code in REASON_SYSTEM or "", text)
    billing_codes: tuple[dict[str, Any], ...] = ()
    satisfied_pa_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def extension(self) -> dict[str, Any]:
        """The extension as R4 JSON."""
        parts: list[dict[str, Any]] = [
            {"url": "coverage", "valueReference": {"reference": self.coverage}},
            {"url": "covered", "valueCode": self.covered},
        ]
        if self.pa_needed:
            parts.append({"url": "pa-needed", "valueCode": self.pa_needed})
        parts += [{"url": "doc-needed", "valueCode": c} for c in self.doc_needed]
        parts += [{"url": "doc-purpose", "valueCode": c} for c in self.doc_purpose]
        parts += [{"url": "info-needed", "valueCode": c} for c in self.info_needed]
        parts += [{"url": "billingCode", "valueCoding": dict(c)} for c in self.billing_codes]
        for code, text in self.reasons:
            concept: dict[str, Any] = {"text": text}
            if code:
                concept["coding"] = [{"system": REASON_SYSTEM, "code": code}]
            parts.append({"url": "reason", "valueCodeableConcept": concept})
        parts.append({"url": "date", "valueDate": self.date})
        parts.append({"url": "coverage-assertion-id", "valueString": self.assertion_id})
        if self.satisfied_pa_id:
            parts.append({"url": "satisfied-pa-id", "valueString": self.satisfied_pa_id})
        return {"url": COVERAGE_INFORMATION, "extension": parts}


def with_coverage_information(resource: dict[str, Any], extensions: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``resource`` whose coverage-information extensions are ``extensions`` (others kept)."""
    kept = [
        e for e in resource.get("extension") or () if not (isinstance(e, dict) and e.get("url") == COVERAGE_INFORMATION)
    ]
    out = dict(resource)
    out["extension"] = kept + extensions
    return out


def _values(ext: dict[str, Any], url: str) -> list[Any]:
    out = []
    for part in ext.get("extension") or ():
        if isinstance(part, dict) and part.get("url") == url:
            out.append(next((v for k, v in part.items() if k.startswith("value")), None))
    return out


def violations(ext: dict[str, Any]) -> list[str]:
    """What is wrong with a coverage-information extension (cardinalities, value sets, crd-ci-q1..q9)."""
    problems: list[str] = []
    if ext.get("url") != COVERAGE_INFORMATION:
        problems.append("url")
    for url in ("coverage", "covered", "date", "coverage-assertion-id"):
        if len(_values(ext, url)) != 1:
            problems.append(f"{url}: exactly one required")
    covered, pa = _values(ext, "covered"), _values(ext, "pa-needed")
    docs, purposes, infos = _values(ext, "doc-needed"), _values(ext, "doc-purpose"), _values(ext, "info-needed")
    reasons = _values(ext, "reason")
    for name, allowed, got in (("covered", COVERED, covered), ("pa-needed", PA_NEEDED, pa),
                               ("doc-needed", DOC_NEEDED, docs), ("doc-purpose", DOC_PURPOSE, purposes),
                               ("info-needed", INFO_NEEDED, infos)):  # fmt: skip
        problems += [f"{name}: {v!r} not allowed" for v in got if v not in allowed]
    if len(pa) > 1:
        problems.append("pa-needed: at most one")
    if _values(ext, "questionnaire") and not docs:
        problems.append("crd-ci-q1")
    if "not-covered" in covered and pa:
        problems.append("crd-ci-q2")
    if "conditional" in (*covered, *pa, *docs) and not infos:
        problems.append("crd-ci-q3")
    if set(pa) & {"satisfied", "no-auth"} and "withpa" in purposes:
        problems.append("crd-ci-q4")
    if bool(_values(ext, "satisfied-pa-id")) != ("satisfied" in pa):
        problems.append("crd-ci-q5")
    if "OTH" in infos and not reasons:
        problems.append("crd-ci-q6")
    for reason in reasons:
        codings = (reason or {}).get("coding") or []
        if any(c.get("system") != REASON_SYSTEM for c in codings) and not (reason or {}).get("text"):
            problems.append("crd-ci-q7")
    if "indeterminate" in (*covered, *pa, *docs) and not reasons:
        problems.append("crd-ci-q9")
    return problems
