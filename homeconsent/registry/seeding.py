"""Deterministic synthetic registry: persons, qualification history, certificates, medication,
treatment, checkups and expense notices, plus institutions and insurers of every kind.

The same (persons, seed, as_of) on an empty database gives the same data (`registry_digest`).
Everything is written in bulk, one transaction per chunk of persons (COPY on PostgreSQL,
bulkload.py), so 100,000 persons seed in minutes and a million (PostgreSQL) in tens of minutes. `seed_registry()` is what the command and the demo call; `seed_demo_persons()` adds a
few well-known persons with stable names for the demo and the documentation.
"""

import bisect
import hashlib
import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from homeconsent.dates import add_years

from . import bulkload
from . import reference_data as ref
from .codes import municipality_code, with_check_digit
from .models import (
    CardClassification,
    CheckupResult,
    ContributionRatio,
    ElderlyCertificate,
    ExpenseNotice,
    Institution,
    Insurer,
    InsurerKind,
    LimitCertificate,
    MedicationRecord,
    MedicationSource,
    Person,
    PersonalFamily,
    PublicExpenseCertificate,
    Qualification,
    ReasonOfLoss,
    SpecificDiseaseCertificate,
    TreatmentRecord,
)
from .ratios import KOUKI_START, age_on, elderly_from, kouki_from, preschool_until, ratio_segments  # noqa: F401
from .retention import MEDICATION_YEARS
from .validation import normalize_card_key

CLAIMS_SINCE = date(2021, 9, 1)  # medication from claims is available from this month
CLAIMS_LAG = timedelta(days=45)  # claims arrive weeks after dispensing
# Medication and treatment history seeded by default: all that is kept and provided (retention.py).
HISTORY_MONTHS = MEDICATION_YEARS * 12
DEFER_INDEXES_FROM = 100_000  # persons: from here a load builds the medical tables' indexes at the end

# The big per-person tables: tens of millions of rows at a million persons.
BULK_TABLES = [MedicationRecord, TreatmentRecord, CheckupResult, ExpenseNotice]
TABLES = [
    Institution,
    Insurer,
    Person,
    Qualification,
    ElderlyCertificate,
    LimitCertificate,
    SpecificDiseaseCertificate,
    PublicExpenseCertificate,
    MedicationRecord,
    TreatmentRecord,
    CheckupResult,
    ExpenseNotice,
]

# 公費 programmes as seeded: (法別番号, weight, monthly self-pay ceilings in 円 or None, designates
# institutions). Weights follow the recipients' rough numbers (精神通院 and 難病 the most).
PUBLIC_EXPENSE_PLAN = (
    ("21", 40, (2500, 5000, 10000, 20000), True),
    ("54", 30, (2500, 5000, 10000, 20000, 30000), True),
    ("52", 6, (1250, 2500, 5000, 10000, 15000), True),
    ("15", 8, (2500, 5000, 10000, 20000), False),
    ("16", 3, (2500, 5000, 10000), False),
    ("12", 10, None, True),
    ("10", 3, None, False),
)


# --- small date helpers -------------------------------------------------------------------------


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def expires_last(ends: date | None, birth: date) -> date:
    """Last day of a 高齢受給者証: the day before the 75th birthday, or before its row ends."""
    return (ends or add_years(birth, 75)) - timedelta(days=1)


def fiscal_august(day: date) -> tuple[date, date]:
    """Limit certificates run from 1 August to 31 July."""
    start = date(day.year if day.month >= 8 else day.year - 1, 8, 1)
    return start, date(start.year + 1, 7, 31)


# --- summary ------------------------------------------------------------------------------------


@dataclass
class SeedSummary:
    persons: int
    seed: int
    as_of: date
    seconds: float = 0.0
    counts: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [
            f"seeded {self.persons} persons (seed {self.seed}, as of {self.as_of}) in {self.seconds:.1f} s"
        ]
        out += [f"  {name:<28} {count:>10,}" for name, count in self.counts.items()]
        return out


# --- reference rows: institutions and insurers --------------------------------------------------

INSTITUTION_SUFFIXES = {
    "1": [
        "内科クリニック",
        "ファミリークリニック",
        "診療所",
        "医院",
        "総合病院",
        "在宅クリニック",
        "整形外科",
        "こどもクリニック",
    ],
    "3": ["歯科医院", "デンタルクリニック", "歯科"],
    "4": ["薬局", "調剤薬局", "ファーマシー"],
    "6": ["訪問看護ステーション"],
}
INSTITUTION_PREFIXES = [
    "さくら",
    "みどり",
    "ひまわり",
    "あおば",
    "中央",
    "駅前",
    "本町",
    "すずらん",
    "けやき",
    "ひかり",
    "やまびこ",
    "みなと",
    "はなみずき",
    "つばさ",
    "こもれび",
    "あさひ",
]


def institution_plan(persons: int) -> dict[str, int]:
    """How many institutions of each type per prefecture (at least one of each everywhere)."""
    return {
        "1": max(2, persons // 2000),
        "3": max(1, persons // 5000),
        "4": max(2, persons // 2500),
        "6": max(1, persons // 10000),
    }


def _institution_rows(persons: int) -> list[Institution]:
    rows = []
    for pref, _pref_name, city, _ in ref.PREFECTURES:
        for ftype, count in institution_plan(persons).items():
            for i in range(count):
                code = with_check_digit(f"{pref}{ftype}{i + 1:06d}")
                # Names derive from the code, not from the persons' random stream.
                prefix = INSTITUTION_PREFIXES[(int(pref) * 7 + i) % len(INSTITUTION_PREFIXES)]
                suffixes = INSTITUTION_SUFFIXES[ftype]
                suffix = suffixes[(i // len(INSTITUTION_PREFIXES) + i) % len(suffixes)]
                name = (
                    f"{city.rstrip('市区')}{prefix}{suffix}" if ftype != "4" else f"{prefix}{suffix} {city}店"
                )
                if i >= len(INSTITUTION_PREFIXES):
                    name += f"（第{i // len(INSTITUTION_PREFIXES) + 1}）"
                rows.append(
                    Institution(
                        code=code,
                        name=name,
                        facility_type=ftype,
                        prefecture=pref,
                        municipality=city,
                        # A few 健診機関 read the card for eligibility only.
                        qualification_only=(ftype == "1" and i == count - 1 and count >= 5),
                        hospital=(ftype == "1" and i == 0),  # one 病院 per prefecture
                    )
                )
    return rows


def _insurer_rows() -> list[Insurer]:
    rows = [
        Insurer(
            number=with_check_digit("0213001"),
            name="全国健康保険協会船員保険部",
            kind=InsurerKind.SENIN,
            prefecture="13",
        )
    ]
    for pref, pref_name, city, pop in ref.PREFECTURES:
        rows.append(
            Insurer(
                number=with_check_digit(f"01{pref}001"),
                name=f"全国健康保険協会{pref_name.rstrip('都府県')}支部",
                kind=InsurerKind.KYOKAI,
                prefecture=pref,
            )
        )
        for i in range(2 + pop // 25):
            company = ref.COMPANY_UNION_NAMES[(int(pref) + i) % len(ref.COMPANY_UNION_NAMES)]
            rows.append(
                Insurer(
                    number=with_check_digit(f"06{pref}{i + 1:03d}"),
                    name=f"{company}健康保険組合",
                    kind=InsurerKind.KUMIAI,
                    prefecture=pref,
                )
            )
        for law, label in (("32", "地方職員共済組合"), ("33", "警察共済組合"), ("34", "公立学校共済組合")):
            rows.append(
                Insurer(
                    number=with_check_digit(f"{law}{pref}001"),
                    name=f"{label}{pref_name}支部",
                    kind=InsurerKind.KYOSAI,
                    prefecture=pref,
                )
            )
        rows.append(
            Insurer(
                number=with_check_digit(f"{pref}001"),
                name=f"{city}国民健康保険",
                kind=InsurerKind.KOKUHO,
                prefecture=pref,
            )
        )
        for i, trade in enumerate(("医師", "建設")):
            rows.append(
                Insurer(
                    number=with_check_digit(f"{pref}3{i + 1:02d}"),
                    name=f"{pref_name}{trade}国民健康保険組合",
                    kind=InsurerKind.KOKUHO_KUMIAI,
                    prefecture=pref,
                )
            )
        rows.append(
            Insurer(
                number=with_check_digit(f"39{pref}101"),
                name=f"{pref_name}後期高齢者医療広域連合",
                kind=InsurerKind.KOUKI,
                prefecture=pref,
            )
        )
    rows.append(
        Insurer(
            number=with_check_digit("3113001"),
            name="財務省共済組合",
            kind=InsurerKind.KYOSAI,
            prefecture="13",
        )
    )
    return rows


def _ensure(model, rows, key):
    """Insert the reference rows that are missing; return {key: (id, row fields)} for all of them."""
    model.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    wanted = {getattr(r, key) for r in rows}
    out = {}
    for obj in model.objects.all().iterator(chunk_size=2000):
        if getattr(obj, key) in wanted:
            out[getattr(obj, key)] = obj
    return out


# --- the seeder -----------------------------------------------------------------------------------


@dataclass
class _Period:
    qualification: Qualification
    since: date | None = None  # acquisition of the insurance this row continues (same card keys)
    elderly: list = field(default_factory=list)
    limits: list = field(default_factory=list)
    diseases: list = field(default_factory=list)


@dataclass
class _PersonPlan:
    person: Person
    age: int
    pref: str
    surname: tuple
    high_income: bool = False
    periods: list = field(default_factory=list)
    leaves: list = field(default_factory=list)  # medication, treatment, checkup, expense rows
    public: list = field(default_factory=list)  # 公費 certificates (of the person)

    @property
    def current(self) -> Qualification | None:
        return self.periods[-1].qualification if self.periods else None

    @property
    def covered_since(self) -> date | None:
        """Start of the current insurance (its first row when age cut it into several)."""
        return self.periods[-1].since if self.periods else None


class Seeder:
    def __init__(self, seed: int, as_of: date, months: int, persons: int, *, key_base: int = 0):
        self.rng = random.Random(seed)
        # 公費 draws from a stream of its own: adding them leaves every other seeded row as it was.
        self.public_rng = random.Random(f"public-expense-{seed}")
        self.as_of = as_of
        self.months = months
        self.key_counter = itertools.count(key_base + 1)
        self._age_cum = list(itertools.accumulate(w for _, _, w in ref.AGE_BANDS))
        self._pref_cum = list(itertools.accumulate(p for *_, p in ref.PREFECTURES))
        self.institutions = _ensure(Institution, _institution_rows(persons), "code")
        self.insurers = _ensure(Insurer, _insurer_rows(), "number")
        self.inst_by = {}
        for inst in sorted(self.institutions.values(), key=lambda i: i.code):
            if not inst.qualification_only:
                self.inst_by.setdefault((inst.prefecture, inst.facility_type), []).append(inst)
        self.ins_by = {}
        for ins in sorted(self.insurers.values(), key=lambda i: i.number):
            self.ins_by.setdefault((ins.prefecture, ins.kind), []).append(ins)
        self.senin = self.ins_by[("13", InsurerKind.SENIN)][0]

    # -- drawing helpers
    def age(self) -> int:
        band = ref.AGE_BANDS[bisect.bisect(self._age_cum, self.rng.random() * self._age_cum[-1])]
        return self.rng.randint(band[0], band[1])

    def prefecture(self) -> str:
        return ref.PREFECTURES[bisect.bisect(self._pref_cum, self.rng.random() * self._pref_cum[-1])][0]

    def day_between(self, start: date, end: date) -> date:
        if end <= start:
            return start
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def insurer(self, pref: str, kind: str) -> Insurer:
        if kind == InsurerKind.SENIN:
            return self.senin
        options = self.ins_by.get((pref, kind)) or self.ins_by[("13", kind)]
        return self.rng.choice(options)

    def card_keys(self, insurer: Insurer) -> tuple[str, str]:
        """記号 and 番号 in the style of each kind of insurer; 番号 is unique per insurer."""
        u = next(self.key_counter)
        r = self.rng
        kind = insurer.kind
        if kind == InsurerKind.KYOKAI:
            return f"{r.randint(1, 9999):04d}{r.randint(0, 9999):04d}", str(u)
        if kind == InsurerKind.KUMIAI:
            return str(r.randint(1, 999)), str(u)
        if kind == InsurerKind.KYOSAI:
            return r.choice(["本部", "４２", "410", "12"]), f"{u:06d}"
        if kind == InsurerKind.KOKUHO:
            city = ref.PREFECTURES[int(insurer.prefecture) - 1][2]
            digits = str(r.randint(1, 99)).translate(str.maketrans("0123456789", "０１２３４５６７８９"))
            return f"{city[0]}{r.choice('アイウエオカキクケコ')}{digits}", f"{u:07d}"
        if kind == InsurerKind.KOKUHO_KUMIAI:
            return f"{r.choice(['医', '建', '歯', '薬'])}{r.randint(1, 50)}", f"{u:06d}"
        if kind == InsurerKind.KOUKI:
            return "", f"{u:08d}"
        return str(r.randint(1, 99)), str(u)

    def employee_kind(self) -> str:
        x = self.rng.random()
        if x < 0.52:
            return InsurerKind.KYOKAI
        if x < 0.86:
            return InsurerKind.KUMIAI
        if x < 0.99:
            return InsurerKind.KYOSAI
        return InsurerKind.SENIN

    def head_kind(self, age: int) -> str:
        x = self.rng.random()
        if age >= 65:
            return InsurerKind.KOKUHO if x < 0.72 else self.employee_kind()
        if x < 0.22:
            return InsurerKind.KOKUHO
        if x < 0.25:
            return InsurerKind.KOKUHO_KUMIAI
        return self.employee_kind()

    def kouki_ratio(self) -> str:
        x = self.rng.random()
        return (
            ContributionRatio.ONE
            if x < 0.8
            else ContributionRatio.TWO
            if x < 0.92
            else ContributionRatio.THREE
        )

    # -- persons
    def new_person(self, age: int, pref: str, surname=None, sex=None, birth=None) -> _PersonPlan:
        r = self.rng
        sex = sex or r.choice("12")
        birth = birth or self.as_of - timedelta(days=int(age * 365.2425) + r.randint(1, 364))
        age = age_on(birth, self.as_of)
        surname = surname or r.choice(ref.SURNAMES)
        era = 0 if birth.year < 1960 else 1 if birth.year < 1990 else 2
        given = r.choice(ref.GIVEN_NAMES[sex][era])
        _, pref_name, city, _ = ref.PREFECTURES[int(pref) - 1]
        person = Person(
            name=f"{surname[0]} {given[0]}",
            name_kana=f"{surname[1]} {given[1]}",
            sex=sex,
            birth_date=birth,
            address=f"{pref_name}{city}{r.choice(ref.STREET_PARTS)}{r.randint(1, 5)}丁目{r.randint(1, 30)}-{r.randint(1, 20)}",
            postal_code=f"{pref}{r.randint(0, 99999):05d}",
            address_municipality_code=municipality_code(ref.CITY_CODES[pref]),
        )
        # 現役並み所得 (3割 at 70-74) for about one in ten.
        return _PersonPlan(person=person, age=age, pref=pref, surname=surname, high_income=r.random() < 0.1)

    def period(
        self,
        plan,
        insurer,
        symbol,
        number,
        branch,
        family,
        insured_name,
        acquired_on,
        *,
        lost_on=None,
        reason="",
        ratio=None,
    ) -> _Period:
        """One insurance period on one set of card keys. Outside 後期高齢者医療 the ratio follows the
        age (ratios.py), so the period is written as consecutive rows with the same keys, cut where
        the ratio changed (as an insurer's `change`), each 70-74 row with its 高齢受給者証. `ratio`
        is used for 後期高齢者医療 only (drawn when not given). Returns the last row."""
        birth = plan.person.birth_date
        if insurer.kind == InsurerKind.KOUKI:
            segments = [None]
        else:
            segments = ratio_segments(
                birth, acquired_on, lost_on, known_until=self.as_of, high_income=plan.high_income
            )
        for segment in segments:
            if segment is None:
                starts, ends, card = acquired_on, lost_on, CardClassification.KOUKI
                row_ratio, preschool = ratio or self.kouki_ratio(), False
                expires = fiscal_august(self.as_of)[1]
            else:
                starts, ends, card = segment.starts, segment.ends, segment.card_classification
                row_ratio, preschool = segment.ratio, segment.preschool
                expires = None
                if segment.elderly:
                    last_day = expires_last(ends, birth)
                    expires = min(fiscal_august(min(self.as_of, last_day))[1], last_day)
            closing = ends == lost_on  # the last row carries the period's loss; the others were changes
            q = Qualification(
                # Cards are printed with full-width digits (card_keys); stored as every lookup spells them.
                insurer_id=insurer.pk,
                symbol=normalize_card_key(symbol),
                number=normalize_card_key(number),
                branch=branch,
                personal_family=family,
                insured_name=insured_name,
                card_classification=card,
                acquired_on=starts,
                lost_on=ends,
                reason_of_loss=reason if closing else "",
                contribution_ratio=row_ratio,
                preschool=preschool,
                card_valid_from=starts,
                card_expires_on=expires,
            )
            q._insurer = insurer
            p = _Period(q, since=acquired_on)
            if segment is not None and segment.elderly:
                p.elderly.append(
                    ElderlyCertificate(
                        issued_on=starts - timedelta(days=20),
                        valid_from=starts,
                        valid_until=last_day,
                        contribution_ratio=row_ratio,
                    )
                )
            plan.periods.append(p)
        return p

    def chunk(self, n: int) -> list[_PersonPlan]:
        """Plans for n persons: households (本人 and 家族), history, certificates, medical data."""
        r = self.rng
        ages = [self.age() for _ in range(n)]
        adults = [a for a in ages if 20 <= a < 75]
        children = [a for a in ages if a < 20]
        seniors = [a for a in ages if a >= 75]
        plans = []
        heads = []  # (plan, household dict)
        for age in adults:
            employee_heads = [h for h in heads[-40:] if h[1]["employee"] and abs(h[0].age - age) <= 8]
            if age >= 22 and employee_heads and r.random() < 0.3:
                head, hh = r.choice(employee_heads)
                plans.append(self.dependent(head, hh, age, spouse=True))
                continue
            plan = self.new_person(age, self.prefecture())
            hh = self.head(plan)
            heads.append((plan, hh))
            plans.append(plan)
        parents = [h for h in heads if 22 <= h[0].age < 60] or heads
        for age in children:
            if parents:
                head, hh = r.choice(parents)
                plans.append(self.dependent(head, hh, age))
            else:
                plan = self.new_person(age, self.prefecture())
                self.head(plan, kind=InsurerKind.KOKUHO)
                plans.append(plan)
        for age in seniors:
            plan = self.new_person(age, self.prefecture())
            self.senior(plan)
            plans.append(plan)
        for plan in plans:
            self.certificates(plan)
            self.public_expense(plan)
            self.medical(plan)
        return plans

    def person_born(self, birth: date, pref: str = "13") -> _PersonPlan:
        """One person born on `birth`, insured as a chunk insures someone of that age."""
        plan = self.new_person(age_on(birth, self.as_of), pref, birth=birth)
        if plan.age >= 75:
            self.senior(plan)
        else:
            self.head(plan, kind=InsurerKind.KOKUHO if plan.age < 20 else None)
        self.certificates(plan)
        return plan

    def head(self, plan: _PersonPlan, kind=None) -> dict:
        r = self.rng
        birth = plan.person.birth_date
        kind = kind or self.head_kind(plan.age)
        insurer = self.insurer(plan.pref, kind)
        symbol, number = self.card_keys(insurer)
        employee = kind not in (InsurerKind.KOKUHO, InsurerKind.KOKUHO_KUMIAI)
        earliest = max(add_years(birth, 18), date(1990, 4, 1)) if plan.age >= 18 else birth
        acquired = self.day_between(earliest, self.as_of - timedelta(days=30))
        # History: a job change (other insurance acquired) or a new card number at the same insurer.
        x = r.random()
        if employee and plan.age >= 25 and x < 0.08 and (acquired - earliest).days > 400:
            prev = self.insurer(plan.pref, self.employee_kind())
            psym, pnum = self.card_keys(prev)
            self.period(
                plan,
                prev,
                psym,
                pnum,
                "00",
                PersonalFamily.INSURED,
                plan.person.name,
                self.day_between(earliest, acquired - timedelta(days=365)),
                lost_on=acquired,
                reason=ReasonOfLoss.OTHER_INSURANCE,
            )
        elif x < 0.11 and (acquired - earliest).days > 400:
            psym, pnum = self.card_keys(insurer)
            self.period(
                plan,
                insurer,
                psym,
                pnum,
                "00",
                PersonalFamily.INSURED,
                plan.person.name,
                self.day_between(earliest, acquired - timedelta(days=365)),
                lost_on=acquired,
            )
        lost_on, reason = None, ""
        if r.random() < 0.025:
            lost_on = self.day_between(max(acquired, self.as_of - timedelta(days=700)), self.as_of)
            reason = r.choice([ReasonOfLoss.PUBLIC_ASSISTANCE, ReasonOfLoss.OTHER, ReasonOfLoss.OTHER])
        self.period(
            plan,
            insurer,
            symbol,
            number,
            "00",
            PersonalFamily.INSURED,
            plan.person.name,
            acquired,
            lost_on=lost_on,
            reason=reason,
        )
        return {
            "insurer": insurer,
            "symbol": symbol,
            "number": number,
            "branches": itertools.count(1),
            "employee": employee,
            "acquired": acquired,
            "lost_on": lost_on,
        }

    def dependent(self, head: _PersonPlan, hh: dict, age: int, spouse: bool = False) -> _PersonPlan:
        sex = ("2" if head.person.sex == "1" else "1") if spouse else None
        plan = self.new_person(age, head.pref, surname=head.surname, sex=sex)
        plan.person.address, plan.person.postal_code = head.person.address, head.person.postal_code
        plan.person.address_municipality_code = head.person.address_municipality_code
        birth = plan.person.birth_date
        acquired = max(hh["acquired"], birth if not spouse else add_years(birth, 20))
        if acquired > self.as_of:
            acquired = self.as_of - timedelta(days=1)
        acquired = max(acquired, birth)
        # 国保 has no 家族: every member is insured in their own right, on the household's card keys.
        family = PersonalFamily.FAMILY if hh["employee"] else PersonalFamily.INSURED
        lost_on = hh["lost_on"] if hh["lost_on"] and hh["lost_on"] >= acquired else None
        self.period(
            plan,
            hh["insurer"],
            hh["symbol"],
            hh["number"],
            f"{next(hh['branches']):02d}",
            family,
            head.person.name,
            acquired,
            lost_on=lost_on,
            reason=ReasonOfLoss.OTHER if lost_on else "",
        )
        return plan

    def senior(self, plan: _PersonPlan):
        """75 and over: 後期高齢者医療, with the earlier (国保 or employee) period kept as history."""
        r = self.rng
        birth = plan.person.birth_date
        starts = kouki_from(birth)
        prev = self.insurer(plan.pref, InsurerKind.KOKUHO if r.random() < 0.8 else self.employee_kind())
        psym, pnum = self.card_keys(prev)
        self.period(
            plan,
            prev,
            psym,
            pnum,
            "00",
            PersonalFamily.INSURED,
            plan.person.name,
            self.day_between(add_years(birth, 60), starts - timedelta(days=365)),
            lost_on=starts,
            reason=ReasonOfLoss.OTHER_INSURANCE,
        )
        insurer = self.insurer(plan.pref, InsurerKind.KOUKI)
        _, number = self.card_keys(insurer)
        lost_on, reason = None, ""
        if r.random() < 0.03:
            lost_on = self.day_between(max(starts, self.as_of - timedelta(days=700)), self.as_of)
            reason = ReasonOfLoss.DEATH if r.random() < 0.85 else ReasonOfLoss.PUBLIC_ASSISTANCE
        self.period(
            plan,
            insurer,
            "",
            number,
            "00",
            PersonalFamily.INSURED,
            plan.person.name,
            starts,
            lost_on=lost_on,
            reason=reason,
        )

    def certificates(self, plan: _PersonPlan):
        r = self.rng
        period = plan.periods[-1]
        q = period.qualification
        if q.lost_on is not None:
            return
        if r.random() < 0.03 + (0.04 if plan.age >= 70 else 0):
            start, until = fiscal_august(self.as_of)
            if plan.age >= 70:
                # The class goes with the share paid: 現役並み (B01-B03) pay 3割, 一般Ⅱ (B04) is the
                # 後期高齢者 2割 class, 一般Ⅰ and 低所得 (B05-B10) pay 1割, or 2割 at 70-74.
                if q.contribution_ratio == ContributionRatio.THREE:
                    cls = r.choices(["B01", "B02", "B03"], weights=[2, 3, 5])[0]
                elif (
                    q.contribution_ratio == ContributionRatio.TWO
                    and q.card_classification == CardClassification.KOUKI
                ):
                    cls = "B04"
                else:
                    cls = r.choices([f"B{i:02d}" for i in range(5, 11)], weights=[35, 12, 8, 2, 1, 2])[0]
            else:
                cls = r.choices([f"A{i:02d}" for i in range(1, 7)], weights=[3, 8, 45, 30, 12, 2])[0]
            period.limits.append(
                LimitCertificate(classification=cls, valid_from=max(start, q.acquired_on), valid_until=until)
            )
        if r.random() < (0.008 if plan.age >= 60 else 0.002):
            category = r.choices(["02", "01", "03"], weights=[85, 8, 7])[0]
            high_income = category == "02" and plan.age < 70 and r.random() < 0.2
            period.diseases.append(
                SpecificDiseaseCertificate(
                    disease_category=category,
                    valid_from=self.day_between(
                        max(q.acquired_on, self.as_of - timedelta(days=3650)), self.as_of
                    ),
                    valid_until=None,
                    self_pay_limit=20000 if high_income else 10000,
                )
            )

    def public_expense(self, plan: _PersonPlan):
        """A few persons in a thousand hold 公費 certificates; a quarter of them more than one.
        Yearly certificates (some already expired) except 医療扶助, open until it ends."""
        r = self.public_rng
        if plan.current is None or r.random() >= 0.006:
            return
        count = 1 + (r.random() < 0.25)
        plans = r.sample(PUBLIC_EXPENSE_PLAN, k=count, counts=[w for _, w, _, _ in PUBLIC_EXPENSE_PLAN])
        seen = set()
        for programme, _, ceilings, designates in plans:
            if programme in seen:
                continue
            seen.add(programme)
            # 実施機関: 001 the prefecture, 1xx-3xx a city that runs the programme itself.
            agency = "001" if r.random() < 0.6 else f"{r.randint(100, 399):03d}"
            payer = with_check_digit(f"{programme}{plan.pref}{agency}")
            recipient = "" if programme == "12" else with_check_digit(f"{r.randint(0, 999999):06d}")
            start = self.day_between(
                max(plan.person.birth_date, self.as_of - timedelta(days=540)), self.as_of
            )
            until = None if programme == "12" else add_years(start, 1) - timedelta(days=1)
            designated = []
            if designates:
                clinics = self.inst_by.get((plan.pref, "1"), []) + self.inst_by.get((plan.pref, "4"), [])
                designated = sorted({c.code for c in r.sample(clinics, k=min(len(clinics), r.randint(1, 2)))})
            plan.public.append(
                PublicExpenseCertificate(
                    programme=programme,
                    payer_number=payer,
                    recipient_number=recipient,
                    valid_from=start,
                    valid_until=until,
                    monthly_self_pay_limit=r.choice(ceilings) if ceilings else None,
                    designated_institutions=" ".join(designated),
                )
            )

    # -- medical information
    def medical(self, plan: _PersonPlan):
        r = self.rng
        q = plan.current
        if q is None or q.lost_on is not None:
            return
        age = plan.age
        chronic_p = 0.08 if age < 20 else 0.18 if age < 40 else 0.45 if age < 65 else 0.72
        window_start = max(self.as_of - timedelta(days=30 * self.months), plan.covered_since)
        ratio = Decimal(int(q.contribution_ratio)) / 100
        pref = plan.pref
        clinics = self.inst_by[(pref, "1")]
        clinic = r.choice(clinics)
        pharmacy = r.choice(self.inst_by[(pref, "4")])
        visits = []  # (day, institution, [drugs], procedures)
        if r.random() < chronic_p:
            k = 1 + (r.random() < 0.5) + (age >= 65 and r.random() < 0.5) + (age >= 75 and r.random() < 0.4)
            conditions = r.sample(
                [
                    "hypertension",
                    "hypertension",
                    "dyslipidemia",
                    "diabetes",
                    "stomach",
                    "cardio",
                    "constipation",
                    "insomnia",
                ]
                + (["dementia"] if age >= 75 else []),
                k,
            )
            drugs = sorted({r.choice(ref.REGIMENS[c]) for c in conditions})
            interval = r.choice([28, 28, 28, 14, 56])
            day = self.as_of - timedelta(days=r.randint(0, interval - 1))
            while day >= window_start:
                visits.append(
                    (
                        day,
                        clinic,
                        drugs,
                        ["revisit", "disease_management"] if r.random() < 0.6 else ["revisit"],
                        interval,
                    )
                )
                day -= timedelta(days=interval)
        if r.random() < 0.15:
            day = self.day_between(window_start, self.as_of)
            other = r.choice(clinics)
            visits.append((day, other, [r.choice(ref.ACUTE_DRUGS)], ["first_visit"], r.choice([3, 5, 7])))
        in_hospital = r.random() < 0.1
        costs = {}  # (month, institution code) -> [institution, kind, days set, total]

        def bill(day, inst, kind, yen):
            key = (first_of_month(day), inst.code)
            entry = costs.setdefault(key, [inst, kind, set(), 0])
            entry[2].add(day)
            entry[3] += yen

        for day, inst, drugs, procs, days in visits:
            disp = inst if in_hospital else pharmacy
            dispensed = day if in_hospital else day + timedelta(days=r.random() < 0.15)
            if dispensed > self.as_of:
                dispensed = day
            for proc_key in procs:
                proc = ref.PROCEDURES[proc_key]
                plan.leaves.append(
                    bulkload.instance(
                        TreatmentRecord,
                        institution_id=inst.pk,
                        institution_name=inst.name,
                        treated_on=day,
                        procedure_code=proc.code,
                        procedure_name=proc.name,
                    )
                )
                bill(day, inst, "医科入院外", proc.points * 10)
            drug_yen = 0
            for key in drugs:
                drug = ref.DRUGS_BY_KEY[key]
                if dispensed < self.as_of - CLAIMS_LAG:
                    if dispensed < CLAIMS_SINCE:
                        continue  # the national service holds claims data from September 2021 only
                    source = MedicationSource.CLAIMS
                else:
                    source = (
                        MedicationSource.E_PRESCRIPTION if r.random() < 0.3 else MedicationSource.DISPENSING
                    )
                plan.leaves.append(
                    bulkload.instance(
                        MedicationRecord,
                        source=source,
                        dispensed_on=dispensed,
                        prescribed_on=day,
                        dispensing_institution_id=disp.pk,
                        dispensing_institution_name=disp.name,
                        prescribing_institution_id=inst.pk,
                        prescribing_institution_name=inst.name,
                        in_hospital=in_hospital,
                        drug_code=drug.receipt_code,
                        yj_code=drug.yj_code,
                        drug_name=drug.name,
                        ingredient_name=drug.ingredient,
                        quantity=drug.dose_per_day,
                        unit=drug.unit,
                        usage=drug.usage,
                        days=days,
                    )
                )
                drug_yen += int(drug.price_yen * drug.dose_per_day * days)
            bill(
                dispensed,
                disp,
                "医科入院外" if in_hospital else "調剤",
                drug_yen + (0 if in_hospital else 1100),
            )
        # Home-visit patients (在宅): twice a month, with a visiting-nurse station.
        if age >= 80 and r.random() < 0.06:
            nursing = r.choice(self.inst_by[(pref, "6")])
            home_clinic = r.choice(clinics)
            day = self.as_of - timedelta(days=r.randint(0, 13))
            while day >= window_start:
                proc = ref.PROCEDURES["home_visit"]
                plan.leaves.append(
                    bulkload.instance(
                        TreatmentRecord,
                        institution_id=home_clinic.pk,
                        institution_name=home_clinic.name,
                        treated_on=day,
                        procedure_code=proc.code,
                        procedure_name=proc.name,
                    )
                )
                bill(day, home_clinic, "医科入院外", proc.points * 10)
                bill(day, nursing, "訪問看護", 8500)
                day -= timedelta(days=14)
        for (month, _), (inst, kind, days, total) in sorted(
            costs.items(), key=lambda kv: (kv[0][0], kv[0][1])
        ):
            if month > first_of_month(self.as_of - timedelta(days=31)):
                continue  # notices follow the claims: the current month is not there yet
            plan.leaves.append(
                bulkload.instance(
                    ExpenseNotice,
                    month=month,
                    institution_id=inst.pk,
                    institution_name=inst.name,
                    care_kind=kind,
                    days=len(days),
                    total_cost=total,
                    patient_paid=int(Decimal(total) * ratio / 10) * 10,
                )
            )
        self.checkups(plan, clinics)

    def checkups(self, plan: _PersonPlan, clinics):
        r = self.rng
        birth = plan.person.birth_date
        if not (40 <= plan.age <= 76) or r.random() > 0.55:
            return
        male = plan.person.sex == "1"
        base = {
            "bmi": r.gauss(23.8 if male else 22.3, 3.2),
            "sbp": r.gauss(118 + (plan.age - 40) * 0.6, 14),
            "tg": r.lognormvariate(4.75 if male else 4.45, 0.45),
            "hdl": r.gauss(55 if male else 67, 13),
            "ldl": r.gauss(125, 30),
            "ast": r.lognormvariate(3.1, 0.3),
            "alt": r.lognormvariate(3.0 if male else 2.8, 0.45),
            "ggt": r.lognormvariate(3.6 if male else 3.0, 0.55),
            "hba1c": r.gauss(5.7, 0.45),
            "height": r.gauss(1.68 if male else 1.55, 0.06),
        }
        site = r.choice(clinics)
        for years_ago in (2, 1, 0):
            day = add_years(self.as_of, -years_ago) - timedelta(days=r.randint(1, 150))
            if not (40 <= age_on(birth, day) <= 74) or day < plan.covered_since:
                continue
            j = lambda sd: r.gauss(0, sd)  # noqa: E731 - year-to-year variation
            bmi = max(15.0, base["bmi"] + j(0.6))
            hba1c = max(4.3, base["hba1c"] + j(0.15))
            sbp = max(90, base["sbp"] + j(8))
            values = {
                "bmi": f"{bmi:.1f}",
                "waist": f"{bmi * (3.6 if male else 3.75) + r.gauss(0, 3):.1f}",
                "sbp": str(round(sbp)),
                "dbp": str(round(sbp * 0.62 + r.gauss(0, 6))),
                "tg": str(round(base["tg"] * r.uniform(0.8, 1.25))),
                "hdl": str(round(max(25, base["hdl"] + j(4)))),
                "ldl": str(round(max(40, base["ldl"] + j(10)))),
                "ast": str(round(base["ast"] + j(3))),
                "alt": str(round(max(5, base["alt"] + j(4)))),
                "ggt": str(round(base["ggt"] * r.uniform(0.85, 1.2))),
                "fbg": str(round(18 * hba1c - 5 + r.gauss(0, 6))),
                "hba1c": f"{hba1c:.1f}",
                "urine_glucose": "（－）" if hba1c < 7.5 else "（＋）",
                "urine_protein": "（－）" if r.random() < 0.9 else r.choice(["（±）", "（＋）"]),
            }
            for item in ref.CHECKUP_ITEMS:
                plan.leaves.append(
                    bulkload.instance(
                        CheckupResult,
                        checked_on=day,
                        institution_name=site.name,
                        item_code=item.code,
                        item_name=item.name,
                        value=values[item.key],
                        unit=item.unit,
                    )
                )


def write_plans(plans: list[_PersonPlan], counts: dict, batch_size: int = 2000, *, copy: bool = False):
    """Write one chunk in one transaction: bulk INSERTs, or COPY on PostgreSQL (`copy`, bulkload.py).
    Both give the same rows in the same order; ids come back on the instances either way."""

    def write(model, rows, with_ids=False):
        if copy:
            bulkload.copy_rows(model, rows, with_ids=with_ids)
        else:
            model.objects.bulk_create(rows, batch_size=batch_size)

    with transaction.atomic():
        write(Person, [p.person for p in plans], with_ids=True)
        quals = []
        for plan in plans:
            for period in plan.periods:
                period.qualification.person_id = plan.person.pk
                quals.append(period.qualification)
        write(Qualification, quals, with_ids=True)
        children = {ElderlyCertificate: [], LimitCertificate: [], SpecificDiseaseCertificate: []}
        for plan in plans:
            for period in plan.periods:
                for model, rows in (
                    (ElderlyCertificate, period.elderly),
                    (LimitCertificate, period.limits),
                    (SpecificDiseaseCertificate, period.diseases),
                ):
                    for row in rows:
                        row.qualification_id = period.qualification.pk
                        children[model].append(row)
        leaves = {
            MedicationRecord: [],
            TreatmentRecord: [],
            CheckupResult: [],
            ExpenseNotice: [],
            PublicExpenseCertificate: [],
        }
        for plan in plans:
            for row in plan.leaves + plan.public:
                row.person_id = plan.person.pk
                leaves[type(row)].append(row)
        for model, rows in itertools.chain(children.items(), leaves.items()):
            write(model, rows)
        counts["Person"] = counts.get("Person", 0) + len(plans)
        counts["Qualification"] = counts.get("Qualification", 0) + len(quals)
        for model, rows in itertools.chain(children.items(), leaves.items()):
            counts[model.__name__] = counts.get(model.__name__, 0) + len(rows)


def seed_registry(
    persons: int = 1000,
    seed: int = 1,
    *,
    as_of: date | None = None,
    months: int = HISTORY_MONTHS,
    chunk_size: int = 2000,
    progress=None,
    copy: bool | None = None,
    defer_indexes: bool | None = None,
) -> SeedSummary:
    """Seed `persons` synthetic persons with their qualifications and medical information.

    Deterministic for the same (persons, seed, as_of, chunk_size) on an empty registry, whichever way
    it is written. On a registry that already holds persons the card numbers continue after the
    existing ones, so keys stay unique. Each chunk is one transaction: a failure keeps the chunks
    written before it. On PostgreSQL the rows go in by COPY (`copy`, default there), and from
    DEFER_INDEXES_FROM persons the medical tables' indexes and foreign keys are dropped during the
    load and built once at the end (`defer_indexes`).
    """
    started = time.perf_counter()
    as_of = as_of or timezone.localdate()
    postgresql = connection.vendor == "postgresql"
    copy = postgresql if copy is None else copy
    if defer_indexes is None:
        defer_indexes = postgresql and persons >= DEFER_INDEXES_FROM
    summary = SeedSummary(persons=persons, seed=seed, as_of=as_of)
    key_base = Qualification.objects.count()
    seeder = Seeder(seed, as_of, months, persons, key_base=key_base)
    counts = {"Institution": len(seeder.institutions), "Insurer": len(seeder.insurers)}
    deferred = [m._meta.db_table for m in BULK_TABLES] if defer_indexes else []
    with bulkload.deferred_indexes(deferred):
        done = 0
        while done < persons:
            n = min(chunk_size, persons - done)
            write_plans(seeder.chunk(n), counts, copy=copy)
            done += n
            if progress:
                progress(done, persons, time.perf_counter() - started)
    if postgresql:
        # Fresh planner statistics after a bulk load, so lookups use the indexes at once.
        with connection.cursor() as cursor:
            for model in TABLES:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    summary.counts = counts
    summary.seconds = time.perf_counter() - started
    return summary


def _stable(field, value, codes, ordinal):
    """A column's value as registry_digest compares it: references by code or position, not by id."""
    if value is None or not field.is_relation:
        return value
    target = field.related_model
    return codes[target][value] if target in codes else ordinal[target][value]


def registry_digest() -> str:
    """SHA-256 over every seeded row in id order, without ids and creation times, a person or
    qualification named by its position and an institution or insurer by its code: equal digests
    mean the same registry, whichever back end and writer produced it."""
    digest = hashlib.sha256()
    ordinal = {}
    codes = {
        Institution: dict(Institution.objects.values_list("pk", "code")),
        Insurer: dict(Insurer.objects.values_list("pk", "number")),
    }
    for model in TABLES[2:]:
        fields = [f for f in model._meta.concrete_fields if not f.primary_key and f.name != "created_at"]
        positions = ordinal[model] = {} if model in (Person, Qualification) else None
        rows = model.objects.order_by("pk").values_list("pk", *(f.attname for f in fields))
        for position, (pk, *values) in enumerate(rows.iterator(chunk_size=10000)):
            if positions is not None:
                positions[pk] = position
            row = [_stable(f, value, codes, ordinal) for f, value in zip(fields, values, strict=True)]
            digest.update(repr((model.__name__, row)).encode())
    return digest.hexdigest()


# --- well-known demo persons ------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoPerson:
    slug: str
    name: str
    name_kana: str
    sex: str
    age: int
    situation: str


DEMO_PERSONS = [
    DemoPerson("yamada-taro", "山田 太郎", "ヤマダ タロウ", "1", 45, "協会けんぽ本人・3割・服薬と健診あり"),
    DemoPerson("yamada-hanako", "山田 花子", "ヤマダ ハナコ", "2", 43, "山田太郎の家族（枝番01）・3割"),
    DemoPerson("sato-sachiko", "佐藤 幸子", "サトウ サチコ", "2", 72, "国保・2割・高齢受給者証あり"),
    DemoPerson(
        "suzuki-ichiro",
        "鈴木 一郎",
        "スズキ イチロウ",
        "1",
        82,
        "後期高齢者医療・1割・訪問診療中・限度額適用認定証（B05）",
    ),
    DemoPerson("takahashi-kenichi", "高橋 健一", "タカハシ ケンイチ", "1", 38, "健康保険組合本人・3割"),
    DemoPerson("takahashi-yui", "高橋 結衣", "タカハシ ユイ", "2", 4, "高橋健一の家族・未就学2割"),
    DemoPerson(
        "tanaka-setsuko",
        "田中 節子",
        "タナカ セツコ",
        "2",
        66,
        "国保・3割・特定疾病（人工透析）と限度額（A04）",
    ),
    DemoPerson(
        "ito-makoto", "伊藤 誠", "イトウ マコト", "1", 51, "転職: 旧保険は喪失（他保険取得）、新しい資格あり"
    ),
    DemoPerson(
        "watanabe-minoru", "渡辺 実", "ワタナベ ミノル", "1", 63, "資格喪失（生活保護）・新しい資格なし"
    ),
]
DEMO_SYMBOL = "9999"  # seeded 記号 never take this form, so demo keys never collide


def seed_demo_persons(as_of: date | None = None) -> list[dict]:
    """Create (once) the well-known demo persons and return their search keys and situation.

    Idempotent: persons already present (matched by name and demo card keys) are returned as they are.
    """
    as_of = as_of or timezone.localdate()
    existing = {
        q.person.name: q
        for q in Qualification.objects.filter(symbol=DEMO_SYMBOL).select_related("person", "insurer")
    }
    seeder = Seeder(20240401, as_of, HISTORY_MONTHS, 1)
    ins = lambda pref, kind: seeder.ins_by[(pref, kind)][0]  # noqa: E731
    kyokai, kumiai = ins("13", InsurerKind.KYOKAI), ins("13", InsurerKind.KUMIAI)
    kokuho, kouki = ins("13", InsurerKind.KOKUHO), ins("13", InsurerKind.KOUKI)
    plans = {}
    if not all(d.name in existing for d in DEMO_PERSONS):
        for i, d in enumerate(DEMO_PERSONS):
            if d.name in existing:
                continue
            plan = seeder.new_person(
                d.age, "13", surname=tuple(d.name.split(" ")[:1] + d.name_kana.split(" ")[:1]), sex=d.sex
            )
            plan.person.name, plan.person.name_kana = d.name, d.name_kana
            plan.person.birth_date = date(as_of.year - d.age - 1, 4 + i % 8, 10 + i)
            plan.age = age_on(plan.person.birth_date, as_of)
            plan.high_income = False  # the situations below name each demo person's ratio
            plans[d.slug] = plan
        p = plans.get
        since = add_years(as_of, -8)
        if p("yamada-taro"):
            seeder.period(
                p("yamada-taro"), kyokai, DEMO_SYMBOL, "101", "00", PersonalFamily.INSURED, "山田 太郎", since
            )
        if p("yamada-hanako"):
            seeder.period(
                p("yamada-hanako"),
                kyokai,
                DEMO_SYMBOL,
                "101",
                "01",
                PersonalFamily.FAMILY,
                "山田 太郎",
                since,
            )
        if p("sato-sachiko"):
            seeder.period(
                p("sato-sachiko"),
                kokuho,
                DEMO_SYMBOL,
                "0000102",
                "00",
                PersonalFamily.INSURED,
                "佐藤 幸子",
                add_years(as_of, -12),
            )
        if p("suzuki-ichiro"):
            plan = p("suzuki-ichiro")
            kouki_from = add_years(plan.person.birth_date, 75)
            seeder.period(
                plan,
                kokuho,
                DEMO_SYMBOL,
                "0000103",
                "00",
                PersonalFamily.INSURED,
                "鈴木 一郎",
                add_years(as_of, -20),
                lost_on=kouki_from,
                reason=ReasonOfLoss.OTHER_INSURANCE,
            )
            per = seeder.period(
                plan,
                kouki,
                DEMO_SYMBOL,
                "00000103",
                "00",
                PersonalFamily.INSURED,
                "鈴木 一郎",
                kouki_from,
                ratio=ContributionRatio.ONE,
            )
            start, until = fiscal_august(as_of)
            per.limits.append(LimitCertificate(classification="B05", valid_from=start, valid_until=until))
        if p("takahashi-kenichi"):
            seeder.period(
                p("takahashi-kenichi"),
                kumiai,
                DEMO_SYMBOL,
                "105",
                "00",
                PersonalFamily.INSURED,
                "高橋 健一",
                add_years(as_of, -10),
            )
        if p("takahashi-yui"):
            plan = p("takahashi-yui")
            seeder.period(
                plan,
                kumiai,
                DEMO_SYMBOL,
                "105",
                "01",
                PersonalFamily.FAMILY,
                "高橋 健一",
                plan.person.birth_date,
            )
        if p("tanaka-setsuko"):
            per = seeder.period(
                p("tanaka-setsuko"),
                kokuho,
                DEMO_SYMBOL,
                "0000107",
                "00",
                PersonalFamily.INSURED,
                "田中 節子",
                add_years(as_of, -5),
            )
            start, until = fiscal_august(as_of)
            per.limits.append(LimitCertificate(classification="A04", valid_from=start, valid_until=until))
            per.diseases.append(
                SpecificDiseaseCertificate(disease_category="02", valid_from=add_years(as_of, -3))
            )
        if p("ito-makoto"):
            changed = as_of - timedelta(days=200)
            seeder.period(
                p("ito-makoto"),
                kyokai,
                DEMO_SYMBOL,
                "108",
                "00",
                PersonalFamily.INSURED,
                "伊藤 誠",
                add_years(as_of, -15),
                lost_on=changed,
                reason=ReasonOfLoss.OTHER_INSURANCE,
            )
            seeder.period(
                p("ito-makoto"), kumiai, DEMO_SYMBOL, "108", "00", PersonalFamily.INSURED, "伊藤 誠", changed
            )
        if p("watanabe-minoru"):
            seeder.period(
                p("watanabe-minoru"),
                kokuho,
                DEMO_SYMBOL,
                "0000109",
                "00",
                PersonalFamily.INSURED,
                "渡辺 実",
                add_years(as_of, -30),
                lost_on=as_of - timedelta(days=90),
                reason=ReasonOfLoss.PUBLIC_ASSISTANCE,
            )
        for slug, plan in plans.items():
            seeder.certificates(plan)
            if slug != "watanabe-minoru":
                seeder.medical(plan)
        # The demo's home-visit patient always has the home-visit record and his regular drugs.
        if p("suzuki-ichiro") and not any(
            isinstance(x, TreatmentRecord) and x.procedure_code == "114001110"
            for x in p("suzuki-ichiro").leaves
        ):
            home = seeder.inst_by[("13", "1")][0]
            proc = ref.PROCEDURES["home_visit"]
            for k in range(6):
                p("suzuki-ichiro").leaves.append(
                    TreatmentRecord(
                        institution_id=home.pk,
                        institution_name=home.name,
                        treated_on=as_of - timedelta(days=14 * k + 3),
                        procedure_code=proc.code,
                        procedure_name=proc.name,
                    )
                )
        write_plans(list(plans.values()), {})
    out = []
    for d in DEMO_PERSONS:
        # The most recent period is the one a visiting nurse would find on the card.
        q = max(
            (
                q
                for q in Qualification.objects.filter(symbol=DEMO_SYMBOL, person__name=d.name).select_related(
                    "person", "insurer"
                )
            ),
            key=lambda q: q.acquired_on,
        )
        out.append(
            {
                "slug": d.slug,
                "person_id": q.person_id,
                "name": d.name,
                "name_kana": d.name_kana,
                "situation": d.situation,
                "insurer_number": q.insurer.number,
                "symbol": q.symbol,
                "number": q.number,
                "branch": q.branch,
                "birth_date": q.person.birth_date.isoformat(),
            }
        )
    return out
