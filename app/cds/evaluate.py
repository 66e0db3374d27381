"""Evaluate a hook: the claim pipeline's payer profiles and prior-auth rules, applied to orders. Pure.

One source of truth: an order's code needs authorization here exactly when
:meth:`~app.domain.payers.PayerProfile.prior_auth_rule` says the claim line would (same profile
lookup from ``Coverage.payor`` as :func:`app.rules.who.payer_ids_of`, same POS/units conditions), and
an authorization counts as on file exactly when :func:`app.rules.auths.normalize` reads one for the
code, the patient and the day. Per order the answer is a coverage assertion (see
:mod:`app.cds.coverage_info`) and, where someone must act, a card (:mod:`app.cds.cards`).

A dependency that failed (the EHR could not be read) or a payer claimbridge has no profile for
makes the assertion ``indeterminate`` with the reason, never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.cds import cards
from app.cds.coverage_info import CoverageAssertion, with_coverage_information
from app.cds.hooks import HookService
from app.cds.orders import CodeMap, Order, read_order
from app.cds.request import HookRequest
from app.domain.context import EncounterContext, ResourceIndex, ref_of
from app.domain.payers import PayerDirectory, PayerProfile
from app.rules.auths import Authorization, normalize
from app.rules.who import payer_ids_of

Resource = dict[str, Any]


@dataclass
class Gathered:
    """What the hook is about, from the request, its prefetch and (when allowed) the EHR."""

    orders: list[Resource]
    index: ResourceIndex
    patient: Resource | None = None
    coverages: list[Resource] = field(default_factory=list)
    authorizations: list[Resource] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # failing dependencies, PHI-free


@dataclass(frozen=True)
class Verdict:
    """The outcome for one order (what the subscription path and PAS reuse)."""

    order: Order
    coverage: Resource | None
    profile: PayerProfile | None
    needs: tuple[str, ...] = ()  # codes that need authorization
    on_file: Authorization | None = None
    problem: str | None = None

    @property
    def auth_needed(self) -> bool:
        return bool(self.needs) and self.on_file is None and self.problem is None


def primary_coverage(order: Resource | None, gathered: Gathered) -> Resource | None:
    """The coverage the order names (``insurance``), else the first active one of the patient."""
    for ref in (order or {}).get("insurance") or ():
        found = gathered.index.resolve(ref)
        if found is not None and found.get("resourceType") == "Coverage":
            return found
    active = [c for c in gathered.coverages if c.get("status", "active") == "active"]
    return active[0] if active else None


def profile_for(coverage: Resource, index: ResourceIndex, payers: PayerDirectory) -> PayerProfile:
    """The payer profile the claim pipeline would use; by payer name when no identifier matches."""
    ctx = EncounterContext(encounter={}, index=index)
    profile = payers.find(payer_ids_of(ctx, coverage, {}))
    if not profile.is_default:
        return profile
    names = set()
    for ref in coverage.get("payor") or ():
        org = index.resolve(ref) or {}
        names |= {str(n).strip().lower() for n in (org.get("name"), (ref or {}).get("display")) if n}
    for candidate in payers.profiles.values():
        if candidate.name.strip().lower() in names:
            return candidate
    return profile


def _day(order: Resource, today: date) -> date:
    for key in ("occurrenceDateTime", "authoredOn"):
        value = order.get(key)
        if isinstance(value, str) and len(value) >= 10:
            try:
                return max(date.fromisoformat(value[:10]), today)
            except ValueError:
                continue
    return today


def judge(order: Order, gathered: Gathered, payers: PayerDirectory, *, today: date,
          memo: dict[str, Any] | None = None) -> Verdict:  # fmt: skip
    """What the payer rules say about one order.

    ``memo`` (one dict per request) keeps what every order of the request shares: the payer profile of
    each coverage and the authorizations read once.
    """
    memo = {} if memo is None else memo
    coverage = primary_coverage(order.resource, gathered)
    if coverage is None:
        problem = gathered.problems[0] if gathered.problems else None
        return Verdict(order, None, None, problem=problem)
    profiles: dict[int, PayerProfile] = memo.setdefault("profiles", {})
    profile = profiles.get(id(coverage))
    if profile is None:
        profile = profiles[id(coverage)] = profile_for(coverage, gathered.index, payers)
    if profile.is_default:
        return Verdict(order, coverage, profile, problem="no payer profile for the patient's coverage")
    needs = tuple(c for c in order.codes if profile.prior_auth_rule(c, order.pos, order.units))
    if not needs:
        return Verdict(order, coverage, profile)
    patient, day = ref_of(coverage.get("beneficiary")), _day(order.resource, today)
    auths: list[Authorization] | None = memo.get("auths")
    if auths is None:
        auths = memo["auths"] = normalize(gathered.authorizations)
    for auth in auths:
        named = not auth.codes or set(needs) <= auth.codes  # as the claim mapper: naming no code covers all
        if named and auth.patient in (None, patient) and auth.covers(day):
            return Verdict(order, coverage, profile, needs, on_file=auth)
    return Verdict(order, coverage, profile, needs)


def assertion(verdict: Verdict, *, today: date, new_id: Callable[[], str]) -> CoverageAssertion:
    """The coverage-information content for one verdict."""
    cov = verdict.coverage
    ref = {"reference": f"Coverage/{cov.get('id')}"} if cov else None
    common: dict[str, Any] = {"coverage": ref["reference"] if ref else "", "date": today.isoformat(),
                              "assertion_id": new_id()}  # fmt: skip
    billing = tuple(c for c in verdict.order.codings if c.get("code") in verdict.needs)
    if cov is None and verdict.problem is None:
        why = "no active coverage found for the patient"
        return CoverageAssertion(covered="not-covered", reasons=(("coverage-not-found", why),), **common)
    if verdict.problem is not None or verdict.profile is None:
        code = "technical" if cov is None else ""  # no profile: a plain-text reason
        return CoverageAssertion(covered="indeterminate", pa_needed="indeterminate", info_needed=("OTH",),
                                 reasons=((code, verdict.problem or "no payer profile"),), **common)  # fmt: skip
    if not verdict.needs:
        return CoverageAssertion(covered="covered", pa_needed="no-auth", **common)
    if verdict.on_file is not None:
        return CoverageAssertion(covered="covered", pa_needed="satisfied", satisfied_pa_id=verdict.on_file.number,
                                 billing_codes=billing, **common)  # fmt: skip
    mixed = len(verdict.needs) < len(verdict.order.codes) and len(verdict.order.codes) > 1
    why = f"Prior authorization required by {verdict.profile.name} for {', '.join(verdict.needs)}"
    return CoverageAssertion(
        covered="covered", pa_needed="conditional" if mixed else "auth-needed", doc_needed=("clinical",),
        doc_purpose=("withpa",), info_needed=("detail-code",) if mixed else (), reasons=(("", why),),
        billing_codes=billing, **common,
    )  # fmt: skip


def _no_coverage_reference(a: CoverageAssertion) -> dict[str, Any]:
    ext = a.extension()
    if not a.coverage:
        ext["extension"][0] = {"url": "coverage", "valueReference": {"display": "no coverage found"}}
    return ext


def evaluate(
    request: HookRequest,
    service: HookService,
    gathered: Gathered,
    payers: PayerDirectory,
    *,
    today: date,
    new_id: Callable[[], str],
    code_map: CodeMap = lambda _resource: [],
) -> dict[str, Any]:
    """The CDS Hooks response: cards and (unless configured off) coverage-information system actions."""
    orders = [o for r in gathered.orders if (o := read_order(r, code_map(r))) is not None]
    memo: dict[str, Any] = {}  # the coverage's payer profile and the authorizations: once per request
    verdicts = [judge(o, gathered, payers, today=today, memo=memo) for o in orders]
    out_cards: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    want_info = request.option("coverage-info", True)
    for verdict in verdicts:
        if want_info:
            ext = _no_coverage_reference(assertion(verdict, today=today, new_id=new_id))
            actions.append({
                "type": "update",
                "description": f"Coverage information for {verdict.order.ref}",
                "resource": with_coverage_information(verdict.order.resource, [ext]),
            })  # fmt: skip
        card = cards.for_verdict(verdict, patient=request.patient_id, new_id=new_id)
        if card is not None and request.option("insurance", True):
            out_cards.append(card)
    if not verdicts:
        out_cards += cards.for_visit(gathered, payers, profile_for=profile_for, primary=primary_coverage, new_id=new_id)
    out_cards = out_cards[: max(request.option("max-cards", 10), 0)]
    response: dict[str, Any] = {"cards": out_cards}
    if actions:
        response["systemActions"] = actions
    return response
