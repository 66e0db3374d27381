"""Prior authorization and referrals: payer PA lists, authorizations on file, referral requirement."""

from __future__ import annotations

from collections.abc import Iterator

from app.domain.findings import Category, Severity
from app.rules.auths import Authorization, authorizations_for, normalize, units_billed
from app.rules.facts import ClaimFacts, Line
from app.rules.registry import Hit, Params, register

PA = Category.PRIOR_AUTH
ERR = Severity.ERROR


@register(
    "prior-auth.prior-auth-missing", category=PA, severity=ERR, carc=("15", "197"),
    summary="A service on the payer's prior-auth list carries an authorization (insurance.preAuthRef).",
    fix="Obtain the authorization (PAS / 278 / payer portal) and add its number to insurance.preAuthRef.",
)  # fmt: skip
def check_prior_auth(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if not f.profile.prior_auth:  # no list: prior_auth_rule finds nothing
        return
    known: list[Authorization] | None = None
    for line in f.lines:
        if not f.profile.prior_auth_rule(line.code, line.pos, line.units):
            continue
        numbers = line_authorizations(f, line) or f.pre_auth_refs
        if numbers:  # one authorization no longer clears every line: it must cover this one
            if known is None:
                known = normalize([*f.history.authorizations, *f.ctx.of_type("ClaimResponse")])
            cited = [a for a in known if a.number in numbers]
            if not cited or any(not a.codes or line.code in a.codes for a in cited):
                continue
            yield Hit(f"{line.code} needs prior authorization from {f.profile.name}: the authorization(s) "
                      f"{', '.join(numbers)} on the claim cover other services.", f"{line.path}.productOrService",
                      f.claim_key, fix=f"Obtain an authorization for {line.code} and cite it on the line "
                      "(or on Claim.insurance.preAuthRef).")  # fmt: skip
            continue
        on_file = _on_file(f, line.code)
        if on_file is None:
            yield Hit(
                f"{line.code} needs prior authorization from {f.profile.name}; none on the claim.",
                f"{f.insurance_path}.preAuthRef",
                f.claim_key,
            )
        else:
            yield Hit(f"{line.code} needs prior authorization from {f.profile.name}: authorization "
                      f"{on_file.number} is on file but not on the claim.", f"{f.insurance_path}.preAuthRef",
                      on_file.source, fix=f"Add {on_file.number} to Claim.insurance.preAuthRef.")  # fmt: skip


LINE_PRIOR_AUTH = "urn:claimbridge:line-prior-auth"


def line_authorizations(f: ClaimFacts, line: Line) -> tuple[str, ...]:
    """The line's own authorization number (extension ``urn:claimbridge:line-prior-auth``), if any."""
    items = f.claim.get("item") or ()
    item = items[line.index] if line.index < len(items) and isinstance(items[line.index], dict) else {}
    return tuple(
        str(e["valueString"]) for e in item.get("extension") or () if e.get("url") == LINE_PRIOR_AUTH
        and isinstance(e.get("valueString"), str)
    )  # fmt: skip


def _on_file(f: ClaimFacts, code: str) -> Authorization | None:
    """An authorization for ``code`` on file (History or the encounter's ClaimResponses) for this patient."""
    records = [*f.history.authorizations, *f.ctx.of_type("ClaimResponse")]
    for auth in normalize(records):
        if code in auth.codes and auth.patient in (None, f.patient_key) and (not f.dos or auth.covers(f.dos)):
            return auth
    return None


def _covered_lines(f: ClaimFacts, auth: Authorization) -> list[Line]:
    if auth.codes:
        return [line for line in f.lines if line.code in auth.codes]
    return [line for line in f.lines if f.profile.prior_auth_rule(line.code, line.pos, line.units)]


@register(
    "prior-auth.authorization-expired", category=PA, severity=ERR, carc=("15", "197"),
    summary="The authorization on the claim covers the date of service (its period on file).",
    fix="Request an extension or a new authorization for the date of service.",
)  # fmt: skip
def check_auth_period(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for auth in authorizations_for(f):
        for line in _covered_lines(f, auth):
            if line.dos and not auth.covers(line.dos):
                yield Hit(f"Authorization {auth.number} does not cover {line.code} on {line.dos}.",
                          f"{line.path}.servicedDate", auth.source)  # fmt: skip


@register(
    "prior-auth.authorization-units-exceeded", category=PA, severity=ERR, carc=("62", "198"),
    summary="Units billed under an authorization (this claim and earlier ones) stay within the units granted.",
    fix="Request additional units from the payer before billing the excess.",
)  # fmt: skip
def check_auth_units(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    for auth in authorizations_for(f):
        for code, granted in sorted(auth.units.items()):
            used = units_billed(f, auth.number, code)
            if used > granted:
                line = next((ln for ln in f.lines if ln.code == code), None)
                where = f"{line.path}.quantity" if line else f"{f.insurance_path}.preAuthRef"
                yield Hit(f"{used:g} units of {code} billed against authorization {auth.number}; "
                          f"{granted:g} granted.", where, auth.source)  # fmt: skip


@register(
    "prior-auth.referral-missing", category=PA, severity=ERR, carc=("197", "243"),
    summary="Plans that require referrals (HMO) get a claim that names the referral (Claim.referral).",
    fix="Obtain the PCP referral and link it (ServiceRequest) as Claim.referral.",
)  # fmt: skip
def check_referral(f: ClaimFacts, p: Params) -> Iterator[Hit]:
    if f.profile.referral_required and not f.claim.get("referral"):
        yield Hit(f"{f.profile.name} requires a referral; the claim has none.", "Claim.referral", f.claim_key)
