"""Holders of a paper eligibility certificate (資格確認書): a person and a qualification period, and
the keys printed on the certificate, for the registry, API, console, portal and usage tests."""

import datetime
import itertools

from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    CardClassification,
    Insurer,
    InsurerKind,
    Person,
    PublicExpenseCertificate,
    Qualification,
)

BORN = datetime.date(1944, 9, 3)
_numbers = itertools.count(1)


def kouki_insurer() -> Insurer:
    """東京都後期高齢者医療広域連合 (法別番号 39)."""
    return Insurer.objects.get_or_create(
        number=with_check_digit("3913101"),
        defaults={"name": "東京都後期高齢者医療広域連合", "kind": InsurerKind.KOUKI, "prefecture": "13"},
    )[0]


def qualify(person: Person, insurer: Insurer, *, card=CardClassification.QUALIFICATION_CERT) -> Qualification:
    """A period from 2020 under `insurer`, its card a 資格確認書 unless told otherwise."""
    return Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="88",
        number=f"{70000 + next(_numbers)}",
        branch="01",
        personal_family="1",
        card_classification=card,
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
    )


def paper_holder(insurer: Insurer, *, name="紙野 証子", with_public_expense=False) -> Person:
    """A person without any card, holding a 資格確認書 of `insurer` (and a 難病 公費 certificate)."""
    n = next(_numbers)
    person = Person.objects.create(
        name=f"{name}{n}", name_kana=f"カミノ ショウコ{n}", sex="2", birth_date=BORN
    )
    qualify(person, insurer)
    if with_public_expense:
        PublicExpenseCertificate.objects.create(
            person=person,
            programme="54",
            payer_number=with_check_digit("5413001"),
            recipient_number=with_check_digit("123456"),
            valid_from=datetime.date(2024, 4, 1),
            monthly_self_pay_limit=10000,
        )
    return person


def printed_keys(person: Person, insurer: Insurer | None = None) -> dict:
    """The keys as printed on the person's certificate (of `insurer`, or their only period)."""
    periods = person.qualifications.select_related("insurer")
    q = periods.get(insurer=insurer) if insurer else periods.get()
    return {
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "birth_date": person.birth_date.isoformat(),
    }
