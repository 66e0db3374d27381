"""Scenarios: the clean visit mix and the problem visits (each tagged) of the sample data set.

:func:`build_plan` returns every visit, numbered in date order, patients numbered on first appearance.
Problem tags are the manifest's ``expected`` values (see README.md for their meaning).
"""

from __future__ import annotations

import copy
import random
from datetime import date
from functools import partial

from sample_plan import ANCHOR, Visit, add_history, at, digits, make_visit, weekdays

NON_HMO = ["medicare", "medicaid", "buckeye", "lakeshore"]


def describe(visit: Visit) -> str:
    kind = "telehealth (video)" if visit.vclass == "VR" else "office"
    new = "new" if visit.em.startswith("9920") else "established"
    parts = [f"{kind} visit, {new} patient, {visit.em}"]
    if visit.orders:
        parts.append("orders " + ", ".join(visit.orders))
    if visit.drugs:
        parts.append("in-office " + ", ".join(d for d, _ in visit.drugs))
    if visit.rx:
        parts.append("prescription")
    if len(visit.patient.coverages) > 1:
        parts.append("primary + secondary coverage")
    if visit.referral:
        parts.append("HMO referral on file")
    if visit.auth:
        parts.append("prior authorization on file")
    return "; ".join(parts)


def clean_visits(rng: random.Random, days: list[date]) -> list[Visit]:
    mk = partial(make_visit, rng, days)
    out = [mk(payers=[NON_HMO[i % 4]], clinic="cvortho" if i % 4 == 3 else "lakeview",
              em=rng.choice(["99212", "99213", "99213", "99214", "99214", "99215"])) for i in range(22)]
    out.append(mk(payers=["medicare"], clinic="lakeview", em="99211"))
    for i, em in enumerate(["99202", "99203", "99203", "99204", "99204", "99205", "99202", "99203", "99204"]):
        out.append(mk(payers=[NON_HMO[(i + 1) % 4]], clinic="cvortho" if i % 3 == 2 else "lakeview",
                      em=em, new=True))
    out += [mk(payers=[NON_HMO[i % 4]], clinic="lakeview", em=rng.choice(["99213", "99214"]), vclass="VR")
            for i in range(7)]
    out += imaging_visits(rng, days) + injection_visits(rng, days)
    for _ in range(2):  # palpitations work-up with an office EKG
        out.append(content(mk(payers=[rng.choice(NON_HMO)], clinic="lakeview", em="99214"),
                           ["R00.2"], ["EKG-12", "CBC", "TSH", "VENIPUNCTURE"], rx=[]))
    for _ in range(6):  # HMO members seen by the orthopedic group on a PCP referral
        visit = mk(payers=["summit"], clinic="cvortho", em=rng.choice(["99203", "99204"]), new=True)
        visit.referral = (rng.choice(["prac-001", "prac-003"]), "SCR" + digits(rng, 8))
        out.append(visit)
    for payers in (["medicare", "medicaid"],) * 3 + (["lakeshore", "buckeye"],) * 2:
        out.append(mk(payers=list(payers), clinic="lakeview", em=rng.choice(["99213", "99214", "99215"])))
    return out


def content(visit: Visit, dx: list[str], orders: list[str], *, rx: list[str],
            drugs: list[tuple[str, float | None]] | None = None) -> Visit:
    visit.dx, visit.orders, visit.rx, visit.drugs = dx, orders, rx, drugs or []
    return visit


def imaging_visits(rng: random.Random, days: list[date]) -> list[Visit]:
    mk = partial(make_visit, rng, days)
    return [
        content(mk(payers=["medicaid"], clinic="lakeview", em="99213"), ["R05.9"], ["XR-CHEST-2V"], rx=[]),
        content(mk(payers=["lakeshore"], clinic="lakeview", em="99214"), ["J18.9"], ["XR-CHEST-2V", "CBC",
                "VENIPUNCTURE"], rx=["amoxicillin"]),
        content(mk(payers=["medicare"], clinic="lakeview", em="99214"), ["S09.90XA", "W19.XXXA"],
                ["CT-HEAD-WO"], rx=[]),
        authorized(rng, content(mk(payers=["buckeye"], clinic="lakeview", em="99214"), ["G43.909"],
                                ["MRI-BRAIN-WWO"], rx=[])),
        content(mk(payers=["medicare"], clinic="lakeview", em="99215"), ["R51.9", "I10"], ["MRI-BRAIN-WWO"],
                rx=["amlodipine"]),
        authorized(rng, content(mk(payers=["buckeye"], clinic="cvortho", em="99214"), ["M54.16", "M51.16"],
                                ["MRI-LSPINE-WO"], rx=["naproxen"])),
        authorized(rng, content(mk(payers=["lakeshore"], clinic="cvortho", em="99214"), ["M48.062", "M54.16"],
                                ["MRI-LSPINE-WO"], rx=["naproxen"])),
    ]


def authorized(rng: random.Random, visit: Visit) -> Visit:
    """Attach the payer's prior authorization for the visit's imaging (ClaimResponse on file)."""
    visit.auth = {"buckeye": "BMH", "lakeshore": "LHA"}[visit.patient.coverages[0].payer] + "-PA-" + digits(rng, 7)
    return visit


def injection_visits(rng: random.Random, days: list[date]) -> list[Visit]:
    mk = partial(make_visit, rng, days)
    out = []
    for knee, drug, dose in (("M17.11", "triamcinolone", 40), ("M17.12", "methylpred", 80),
                             ("M17.11", "methylpred", 40)):
        out.append(content(mk(payers=[rng.choice(NON_HMO)], clinic="cvortho", em="99213"), [knee],
                           ["JOINT-INJ-MAJOR"], rx=[], drugs=[(drug, dose)]))
    out.append(content(mk(payers=["medicaid"], clinic="lakeview", em="99213"), ["G43.909"], ["INJ-IM"],
                       rx=[], drugs=[("ketorolac", 30)]))
    out.append(content(mk(payers=["lakeshore"], clinic="lakeview", em="99214"), ["J18.9"],
                       ["INJ-IM", "XR-CHEST-2V"], rx=["amoxicillin"], drugs=[("ceftriaxone", 1000)]))
    for i in range(3):  # flu shot given during a chronic-care visit
        visit = mk(payers=[NON_HMO[i]], clinic="lakeview", em="99213", picture=0)
        out.append(content(visit, [*visit.dx, "Z23"], [*visit.orders, "FLU-VAX-ADMIN"], rx=visit.rx,
                           drugs=[("flu-vaccine", 0.5)]))
    return out


def problem_visits(rng: random.Random, days: list[date], clean: list[Visit]) -> list[Visit]:
    mk = partial(make_visit, rng, days)
    out: list[Visit] = []

    def add(visit: Visit, tag: str, text: str) -> Visit:
        visit.tags.append(tag)
        visit.label = f"{text} ({describe(visit)})"
        out.append(visit)
        return visit

    v = mk(payers=["lakeshore"], clinic="lakeview", em="99213")
    v.practitioner = "prac-007"
    add(v, "npi-invalid", "rendering locum's NPI fails the Luhn check")
    v = content(mk(payers=["medicaid"], clinic="cvortho", em="99213"), ["M54.5"], [], rx=["naproxen"])
    add(v, "icd10-not-billable", "low back pain coded M54.5, not billable since FY2022 (M54.50 is)")
    v = mk(payers=["buckeye"], clinic="cvortho", em="99203", new=True, age=(7, 12), relationship="child")
    add(content(v, ["S52.521", "W19.XXXA"], [], rx=[]), "icd10-not-billable",
        "wrist fracture coded S52.521 without its 7th character")
    v = content(mk(payers=["lakeshore"], clinic="cvortho", em="99203", new=True), ["W01.0XXA", "S93.401A"],
                [], rx=["naproxen"])
    add(v, "external-cause-principal", "external-cause code W01.0XXA listed as the principal diagnosis")
    v = mk(payers=["medicare"], clinic="lakeview", em="99214", picture=1)
    v.em, v.minutes = "99212", 35
    add(v, "em-undercoded", "billed 99212 with 35 minutes documented, two chronic problems and a new Rx")
    v = mk(payers=["buckeye"], clinic="lakeview", em="99212", picture=0)
    v.em, v.minutes = "99215", 12
    add(v, "em-overcoded", "billed 99215 for a 12-minute visit for an upper respiratory infection")
    v = mk(payers=["medicaid"], clinic="lakeview", em="99203", new=True)
    v.patient.history.clear()
    add_history(rng, v, days_back=(200, 300))
    add(v, "em-new-patient-established", "new-patient code 99203 though seen by the same group this year")
    v = mk(payers=["medicaid"], clinic="lakeview", em="99214", picture=0)
    v.orders.append("NUTRITION-CONSULT")
    add(v, "order-unmappable", "completed local NUTRITION-CONSULT order has no billable code")
    v = content(mk(payers=["buckeye"], clinic="cvortho", em="99214"), ["M51.16"], ["MRI-LSPINE-WO"], rx=[])
    add(v, "prior-auth-missing", "MRI lumbar spine (72148) for Buckeye Mutual without an authorization")
    add(mk(payers=["summit"], clinic="cvortho", em="99204", new=True), "referral-missing",
        "HMO specialist visit without a referral")
    v = mk(payers=["lakeshore"], clinic="lakeview", em="99213")
    v.status, v.minutes, v.note, v.start = "in-progress", None, None, at(ANCHOR, 460)
    add(v, "encounter-not-finished", "encounter still in progress")
    v = mk(payers=["medicare"], clinic="lakeview", em="99214")
    v.note = "preliminary"
    add(v, "note-not-final", "visit note still preliminary (not signed)")
    v = make_visit(rng, [d for d in days if d > date(2026, 11, 1)], payers=["buckeye"], clinic="lakeview",
                   em="99213")
    v.patient.coverages[0].end, v.eligibility = "2026-10-31", "inactive"
    add(v, "coverage-inactive", "coverage period ended 2026-10-31, before the date of service")
    v = mk(payers=["medicare"], clinic="lakeview", em="99213")
    v.patient.coverages[0].subscriber_id = digits(rng, 9) + "A"
    add(v, "subscriber-id-not-mbi", "Medicare subscriber id is a legacy HICN, not an MBI")
    v = mk(payers=["lakeshore"], clinic="lakeview", em="99203", new=True)
    v.patient.birth = f"2026-12-{rng.randint(1, 28):02d}"
    v.patient.history.clear()
    add(v, "dob-after-dos", "birth date typed as 2026 instead of 1962: after the date of service")
    original = next(c for c in clean if c.patient.coverages[0].payer == "buckeye" and c.orders)
    v = copy.copy(original)
    v.duplicate_of, v.tags = original, []
    add(v, "duplicate-encounter", "same services billed again under another encounter id")
    v = mk(payers=[], clinic="lakeview", em="99213")
    v.eligibility = "missing"
    add(v, "coverage-missing", "patient has no coverage on file")
    v = mk(payers=["medicaid"], clinic="lakeview", em="99214")
    v.eligibility, v.elig_days = "stale", rng.randint(95, 140)
    add(v, "eligibility-stale", "last eligibility check is months old")
    v = mk(payers=["lakeshore"], clinic="lakeview", em="99213")
    v.eligibility = "missing"
    add(v, "eligibility-missing", "eligibility never checked for this coverage")
    v = content(mk(payers=["medicare"], clinic="cvortho", em="99213"), ["M17.12"], ["JOINT-INJ-MAJOR"], rx=[],
                drugs=[("triamcinolone", None)])
    add(v, "drug-dose-missing", "triamcinolone injected without a documented dose")
    return out


def build_plan(rng: random.Random) -> list[Visit]:
    """Every visit of the sample set, numbered by start time; patients numbered on first appearance."""
    days = weekdays()
    clean = clean_visits(rng, days)
    for visit in clean:
        visit.label = describe(visit)
    visits = sorted(clean + problem_visits(rng, days, clean), key=lambda v: v.start)
    next_patient = 1
    for num, visit in enumerate(visits, start=1):
        visit.num = num
        if not visit.patient.num:
            visit.patient.num, next_patient = next_patient, next_patient + 1
    return visits
