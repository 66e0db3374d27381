"""The plan of the sample data: which patients, coverages and visits exist, and what is wrong with them.

Plain specs drawn from one seeded ``random.Random``; :mod:`sample_resources` turns them into FHIR. Dates are
fixed relative to the anchor date (2026-11-20), never the wall clock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import sample_world as w

ANCHOR = date(2026, 11, 20)
WINDOW_START = date(2026, 10, 1)
MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"


@dataclass
class CoverageSpec:
    payer: str
    subscriber_id: str
    relationship: str = "self"  # self | spouse | child
    start: str = "2026-01-01"
    end: str | None = None
    order: int | None = None
    group: str | None = None


@dataclass
class PatientSpec:
    given: str
    family: str
    gender: str
    birth: str
    street: str
    city: tuple[str, str]
    coverages: list[CoverageSpec] = field(default_factory=list)
    related: tuple[str, str, str, str] | None = None  # (given, family, gender, birth) of the subscriber
    history: list[tuple[datetime, str, str, str]] = field(default_factory=list)  # (start, clinic, prac, em)
    num: int = 0

    @property
    def id(self) -> str:
        return f"pat-{self.num:03d}"


@dataclass
class Visit:
    patient: PatientSpec
    clinic: str
    practitioner: str
    em: str
    minutes: int | None
    start: datetime
    dx: list[str]
    orders: list[str] = field(default_factory=list)
    drugs: list[tuple[str, float | None]] = field(default_factory=list)
    rx: list[str] = field(default_factory=list)
    vclass: str = "AMB"
    status: str = "finished"
    referral: tuple[str, str] | None = None  # (referring practitioner, referral number)
    auth: str | None = None  # prior-auth number on file for an imaging order
    eligibility: str = "fresh"  # fresh | stale | missing | inactive
    elig_days: int = 0
    note: str | None = "final"  # final | preliminary | None
    tags: list[str] = field(default_factory=list)
    label: str = ""
    duplicate_of: Visit | None = None
    num: int = 0

    @property
    def id(self) -> str:
        return f"enc-{self.num:03d}"


def tz_at(day: date) -> timezone:
    """Ohio's UTC offset on ``day``: -04:00 from the 2nd Sunday of March to the 1st Sunday of November."""
    march, november = date(day.year, 3, 8), date(day.year, 11, 1)
    dst_start = march + timedelta((6 - march.weekday()) % 7)
    dst_end = november + timedelta((6 - november.weekday()) % 7)
    return timezone(timedelta(hours=-4 if dst_start <= day < dst_end else -5))


def at(day: date, minutes_after_8: int) -> datetime:
    return datetime(day.year, day.month, day.day, 8, tzinfo=tz_at(day)) + timedelta(minutes=minutes_after_8)


def weekdays() -> list[date]:
    days = [WINDOW_START + timedelta(d) for d in range((ANCHOR - WINDOW_START).days + 1)]
    return [d for d in days if d.weekday() < 5]


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def make_mbi(rng: random.Random) -> str:
    """An MBI in the CMS format (position rules only; synthetic, not a real beneficiary)."""
    alnum = MBI_LETTERS + "0123456789"
    pick = rng.choice
    return (pick("123456789") + pick(MBI_LETTERS) + pick(alnum) + digits(rng, 1) + pick(MBI_LETTERS)
            + pick(alnum) + digits(rng, 1) + pick(MBI_LETTERS) + pick(MBI_LETTERS) + digits(rng, 2))


def member_id(rng: random.Random, payer: str) -> str:
    if payer == "medicare":
        return make_mbi(rng)
    prefix = {"medicaid": "", "buckeye": "BMH", "lakeshore": "LHA", "summit": "SCH"}[payer]
    return prefix + digits(rng, 12 - len(prefix))


def make_patient(rng: random.Random, payers: list[str], *, age: tuple[int, int] | None = None,
                 relationship: str = "self") -> PatientSpec:
    gender = rng.choice(["female", "male"])
    low, high = age or ((66, 88) if "medicare" in payers else (19, 63))
    birth = date(ANCHOR.year - rng.randint(low, high), rng.randint(1, 12), rng.randint(1, 28))
    spec = PatientSpec(rng.choice(w.GIVEN[gender]), rng.choice(w.FAMILY), gender, birth.isoformat(),
                       f"{rng.randint(100, 9899)} {rng.choice(w.STREETS)}", rng.choice(w.CITIES))
    for order, payer in enumerate(payers, start=1):
        rel = relationship if order == 1 else ("spouse" if payer in ("buckeye", "lakeshore") else "self")
        start = (f"{birth.year + 65}-{birth.month:02d}-01" if payer == "medicare"
                 else rng.choice(["2025-07-01", "2026-01-01"]))
        group = None if payer in ("medicare", "medicaid") else f"GRP-{digits(rng, 5)}"
        spec.coverages.append(CoverageSpec(payer, member_id(rng, payer), rel, start,
                                           order=order if len(payers) > 1 else None, group=group))
    if any(c.relationship != "self" for c in spec.coverages):
        rel_gender = rng.choice(["female", "male"])
        rel_birth = date(ANCHOR.year - rng.randint(30, 60), rng.randint(1, 12), rng.randint(1, 28))
        spec.related = (rng.choice(w.GIVEN[rel_gender]), spec.family, rel_gender, rel_birth.isoformat())
    return spec


def make_visit(rng: random.Random, days: list[date], *, payers: list[str], clinic: str, em: str,
               new: bool = False, vclass: str = "AMB", picture: int | None = None,
               age: tuple[int, int] | None = None, relationship: str = "self") -> Visit:
    """One clean visit: a clinical picture that fits the billed E/M level, time within its range."""
    patient = make_patient(rng, payers, age=age, relationship=relationship)
    prac = "prac-004" if em == "99211" else rng.choice(w.CLINICIANS[clinic])  # nurse visit: the NP
    day = rng.choice(days)
    start = at(day, 20 * rng.randint(0, 24))
    pictures = [(["I10"], [], [])] if em == "99211" else w.PICTURES[clinic][w.LEVEL_OF[em]]
    dx, orders, rx = pictures[picture if picture is not None else rng.randrange(len(pictures))]
    low, high = w.EM_TIME[em]
    visit = Visit(patient, clinic, prac, em, rng.randint(low, high), start, list(dx), list(orders),
                  rx=list(rx), vclass=vclass, elig_days=rng.randint(0, 3))
    if vclass == "VR":  # nothing is drawn or performed over video
        visit.orders = []
    if rng.random() < 0.25:  # some clinicians order straight in CPT
        visit.orders = ["CPT-36415" if o == "VENIPUNCTURE" else "CPT-93000" if o == "EKG-12" else o
                        for o in visit.orders]
    if not new:
        add_history(rng, visit, days_back=(45, 900))
    elif rng.random() < 0.3:  # seen long ago: more than three years, still a new patient
        add_history(rng, visit, days_back=(1200, 1600))
    return visit


def add_history(rng: random.Random, visit: Visit, *, days_back: tuple[int, int]) -> None:
    day = visit.start.date() - timedelta(days=rng.randint(*days_back))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    prac = rng.choice(w.CLINICIANS[visit.clinic])
    visit.patient.history.append((at(day, 20 * rng.randint(0, 24)), visit.clinic, prac,
                                  rng.choice(["99213", "99214"])))
