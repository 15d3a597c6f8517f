from datetime import date

import pytest

from homeconsent.registry.models import Insurer, InsurerKind, Person, Qualification

ON = date(2025, 6, 1)


@pytest.fixture
def kyokai(db):
    return Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )


@pytest.fixture
def kumiai(db):
    return Insurer.objects.create(
        number="06130017", name="東洋商事健康保険組合", kind=InsurerKind.KUMIAI, prefecture="13"
    )


@pytest.fixture
def make_person(db):
    def make(name="山田 太郎", kana="ヤマダ タロウ", sex="1", birth_date=date(1980, 4, 10)):
        return Person.objects.create(name=name, name_kana=kana, sex=sex, birth_date=birth_date)

    return make


@pytest.fixture
def make_period(db):
    def make(
        person,
        insurer,
        *,
        symbol="1234",
        number="5678",
        branch="00",
        acquired_on=date(2020, 4, 1),
        lost_on=None,
        reason_of_loss="",
        contribution_ratio="030",
        personal_family="1",
        **extra,
    ):
        return Qualification.objects.create(
            person=person,
            insurer=insurer,
            symbol=symbol,
            number=number,
            branch=branch,
            acquired_on=acquired_on,
            lost_on=lost_on,
            reason_of_loss=reason_of_loss,
            contribution_ratio=contribution_ratio,
            personal_family=personal_family,
            **extra,
        )

    return make
