"""The contribution ratio over a life: the seeded registry holds it as history, and eligibility answers
what held on the day asked (issue 13, item 1). The expected rules are written out here on their own,
from the law's wording, not from homeconsent.registry.ratios."""

import io
import json
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeconsent.dates import add_years
from homeconsent.registry.eligibility import Validity, resolve_by_keys, resolve_for_person
from homeconsent.registry.imports import import_qualifications
from homeconsent.registry.models import InsurerKind, Qualification
from homeconsent.registry.seeding import Seeder, write_plans

AS_OF = date(2026, 12, 1)
KOUKI_START = date(2008, 4, 1)


def expected(birth: date, day: date) -> dict:
    """What must hold on `day` for someone born on `birth` (ratio as a set where income decides)."""
    reaches_six = add_years(birth, 6) - timedelta(days=1)  # age counts from the day before the birthday
    preschool_end = date(reaches_six.year + (reaches_six.month > 3), 3, 31)
    reaches_seventy = add_years(birth, 70) - timedelta(days=1)
    month_after = date(reaches_seventy.year + reaches_seventy.month // 12, reaches_seventy.month % 12 + 1, 1)
    seventy_five = add_years(birth, 75)
    if day >= seventy_five and day >= KOUKI_START:
        return {"kouki": True, "ratios": {"010", "020", "030"}, "elderly": False, "card": "03"}
    if day >= seventy_five:
        return {"kouki": False, "ratios": {"010"}, "elderly": False, "card": "01"}  # 老人保健
    if day >= month_after:
        usual = "010" if birth <= date(1944, 4, 1) else "020"
        return {"kouki": False, "ratios": {usual, "030"}, "elderly": True, "card": "02"}
    if day <= preschool_end:
        return {"kouki": False, "ratios": {"020"}, "elderly": False, "card": "01", "preschool": True}
    return {"kouki": False, "ratios": {"030"}, "elderly": False, "card": "01"}


def check(result, birth, day):
    want = expected(birth, day)
    q = result.qualification
    assert q["InsuredPartialContributionRatio"] in want["ratios"], (birth, day, q)
    assert q["InsuredCardClassification"] == want["card"], (birth, day, q)
    assert (result.qualification_row.insurer.kind == InsurerKind.KOUKI) == want["kouki"], (birth, day)
    assert q["PreschoolClassification"] == ("1" if want.get("preschool") else ""), (birth, day, q)
    cert = result.elderly_certificate
    if want["elderly"]:
        assert cert is not None, (birth, day)
        assert cert["ElderlyRecipientContributionRatio"] == q["InsuredPartialContributionRatio"]
        assert (
            cert["ElderlyRecipientValidStartDate"]
            <= day.strftime("%Y%m%d")
            <= cert["ElderlyRecipientValidEndDate"]
        )
    else:
        assert cert is None, (birth, day, cert)


@pytest.fixture
def seeder(db):
    return Seeder(13, AS_OF, 6, 1)


def seeded(seeder, birth):
    seeder.rng.seed(
        birth.toordinal()
    )  # the same birth date gives the same history when Hypothesis replays it
    plan = seeder.person_born(birth)
    write_plans([plan], {})
    return plan


def keys_of(plan, day):
    q = next(p.qualification for p in plan.periods if p.qualification.is_valid_on(day))
    return (q._insurer.number, q.symbol, q.number, q.branch, plan.person.birth_date)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    birth=st.dates(min_value=date(1930, 1, 1), max_value=AS_OF - timedelta(days=1)),
    where=st.floats(min_value=0, max_value=1),
)
def test_eligibility_on_any_day_answers_the_ratio_that_held_that_day(seeder, birth, where):
    # given a person seeded as the seeder seeds someone of that age
    plan = seeded(seeder, birth)
    first = min(p.qualification.acquired_on for p in plan.periods)
    day = first + timedelta(days=int(where * (AS_OF - first).days))
    # when eligibility is asked for that day, by person (the API) and by card keys (check_eligibility)
    by_person = resolve_for_person(plan.person, on=day)
    # then a period that covers the day gives the ratio, card and 高齢受給者証 of the person's age then
    if by_person.validity != Validity.VALID:
        assert not any(p.qualification.is_valid_on(day) for p in plan.periods)
        return
    check(by_person, birth, day)
    check(resolve_by_keys(*keys_of(plan, day), on=day), birth, day)


def test_the_issues_examples_answer_what_held_then(seeder):
    # given the two persons of the issue, insured with 国保 since 2000 and seeded late in 2026
    kokuho, kouki = seeder.ins_by[("13", InsurerKind.KOKUHO)][0], seeder.ins_by[("13", InsurerKind.KOUKI)][0]
    older = seeder.new_person(81, "13", birth=date(1945, 4, 6))
    seeder.period(
        older, kokuho, "世ア1", "0000901", "00", "1", "", date(2000, 4, 1), lost_on=date(2020, 4, 6)
    )
    seeder.period(older, kouki, "", "00000901", "00", "1", "", date(2020, 4, 6))
    younger = seeder.new_person(73, "13", birth=date(1953, 6, 12))
    seeder.period(younger, kokuho, "世ア1", "0000902", "00", "1", "", date(2000, 4, 1))
    write_plans([older, younger], {})
    # when asked about 2016-01-01 and 2020-01-01
    at_seventy = resolve_for_person(older.person, on=date(2016, 1, 1))
    at_sixty_six = resolve_for_person(younger.person, on=date(2020, 1, 1))
    # then the first had a 高齢受給者証 from 1 May 2015 and the second paid 3割
    assert at_seventy.elderly_certificate["ElderlyRecipientValidStartDate"] == "20150501"
    assert at_seventy.qualification["InsuredPartialContributionRatio"] in {"020", "030"}
    assert at_sixty_six.qualification["InsuredPartialContributionRatio"] == "030"
    assert at_sixty_six.elderly_certificate is None


def test_imported_change_at_seventy_is_answered_by_date_by_check_eligibility(db, kokuho_tokyo):
    # given an insurer's file: a 3割 period, then the change at 70 to 2割 with the 高齢受給者証
    header = (
        "op,insurer_number,symbol,number,branch,personal_family,name,name_kana,sex,birth_date,acquired_on,"
        "contribution_ratio,card_classification\n"
    )
    person = "1,佐藤 和子,サトウ カズコ,2,1953-06-12"
    text = (
        header + f"new,{kokuho_tokyo},世ア1,0000777,00,{person},2010-04-01,030,01\n"
        f"change,{kokuho_tokyo},世ア1,0000777,00,{person},2023-07-01,020,02\n"
    )
    report = import_qualifications("ratios.csv", text=text, today=AS_OF)
    assert report.applied, report.as_dict()

    def ask(on):
        out = io.StringIO()
        call_command(
            "check_eligibility",
            insurer_number=kokuho_tokyo,
            symbol="世ア1",
            number="0000777",
            branch="00",
            birth_date="1953-06-12",
            on=on,
            operator="test",
            stdout=out,
        )
        return json.loads(out.getvalue())

    # when the operator checks before and after the change
    before, after = ask("2020-01-01"), ask("2024-01-01")
    # then each day answers its own ratio, and the 高齢受給者証 runs to the day before the 75th birthday
    assert before["Qualification"]["InsuredPartialContributionRatio"] == "030"
    assert before["ElderlyRecipientCertificateInfo"] is None
    assert after["Qualification"]["InsuredPartialContributionRatio"] == "020"
    assert after["ElderlyRecipientCertificateInfo"]["ElderlyRecipientValidStartDate"] == "20230701"
    assert after["ElderlyRecipientCertificateInfo"]["ElderlyRecipientValidEndDate"] == "20280611"
    assert after["ElderlyRecipientCertificateInfo"]["ElderlyRecipientContributionRatio"] == "020"
    assert Qualification.objects.filter(number="0000777").count() == 2


@pytest.fixture
def kokuho_tokyo(db):
    from homeconsent.registry.codes import with_check_digit
    from homeconsent.registry.models import Insurer

    number = with_check_digit("13001")
    Insurer.objects.create(number=number, name="東京都国民健康保険", kind=InsurerKind.KOKUHO, prefecture="13")
    return number
