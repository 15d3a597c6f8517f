"""Eligibility resolution: the national validity codes 1-5, certificates, bounded queries."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from homeconsent.registry.eligibility import (
    Validity,
    resolve_by_keys,
    resolve_for_card,
    resolve_for_person,
    resolve_many_by_keys,
)
from homeconsent.registry.models import (
    CardCertificate,
    ElderlyCertificate,
    LimitCertificate,
    SpecificDiseaseCertificate,
)
from homeconsent.registry.validation import RegistryValidationError, clean_search_keys

from .conftest import ON

TARO_KEYS = ("01130012", "1234", "5678", "00", "1980-04-10")


def test_valid_qualification_answers_1_with_the_national_fields(kyokai, make_person, make_period):
    make_period(make_person(), kyokai, card_valid_from=date(2020, 4, 1))
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    assert result.validity == Validity.VALID
    out = result.as_dict()
    assert out["validity"] == 1 and out["QualificationValidity"] == "1"
    q = out["Qualification"]
    assert q["InsurerNumber"] == "01130012" and q["InsuredCardSymbol"] == "1234"
    assert q["InsuredIdentificationNumber"] == "5678" and q["InsuredBranchNumber"] == "00"
    assert q["Birthdate"] == "19800410" and q["QualificationDate"] == "20200401"
    assert q["InsuredPartialContributionRatio"] == "030" and q["NameKana"] == "ヤマダ タロウ"


def test_lost_qualification_answers_2_with_the_reason(kyokai, make_person, make_period):
    make_period(make_person(), kyokai, lost_on=date(2025, 1, 1), reason_of_loss="02")
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    assert result.validity == Validity.LOST
    assert result.as_dict()["ReasonOfLoss"] == "02"
    assert result.qualification["DisqualificationDate"] == "20250101"
    # before the loss the same keys were valid
    assert resolve_by_keys(*TARO_KEYS, on=date(2024, 12, 31)).validity == Validity.VALID


def test_lost_with_a_newer_qualification_answers_3(kyokai, kumiai, make_person, make_period):
    person = make_person()
    make_period(person, kyokai, lost_on=date(2025, 1, 1), reason_of_loss="03")
    make_period(person, kumiai, symbol="77", number="1", acquired_on=date(2025, 1, 1))
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    assert result.validity == Validity.LOST_WITH_NEWER and result.reason_of_loss == "03"
    assert resolve_by_keys("06130017", "77", "1", "00", "1980-04-10", on=ON).validity == Validity.VALID


def test_no_match_answers_4(kyokai, make_person, make_period):
    make_period(make_person(), kyokai)
    assert resolve_by_keys("01130012", "1234", "5679", "00", "1980-04-10", on=ON).validity == Validity.NONE
    # wrong birth date: no match either
    assert resolve_by_keys("01130012", "1234", "5678", "00", "1980-04-11", on=ON).validity == Validity.NONE
    # a qualification that had not begun on that day
    assert resolve_by_keys(*TARO_KEYS, on=date(2019, 1, 1)).validity == Validity.NONE


def test_several_matches_answer_5(kyokai, make_person, make_period):
    make_period(make_person(), kyokai)
    make_period(make_person(name="山田 次郎", kana="ヤマダ ジロウ"), kyokai)  # same keys, same birth date
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    assert result.validity == Validity.SEVERAL and result.qualification is None and result.matches == 2


def test_limit_certificate_only_when_the_caller_passes_include_limit(kyokai, make_person, make_period):
    q = make_period(make_person(), kyokai)
    LimitCertificate.objects.create(
        qualification=q, classification="A03", valid_from=date(2024, 8, 1), valid_until=date(2025, 7, 31)
    )
    without = resolve_by_keys(*TARO_KEYS, on=ON)
    assert without.limit_certificate is None
    assert "LimitApplicationCertificateRelatedInfo" not in without.as_dict()
    with_consent = resolve_by_keys(*TARO_KEYS, on=ON, include_limit=True).as_dict()
    info = with_consent["LimitApplicationCertificateRelatedInfo"]
    assert info["LimitApplicationCertificateClassificationFlag"] == "A03"
    assert info["LimitApplicationCertificateValidEndDate"] == "20250731"
    # outside its validity the certificate is not returned even with consent
    later = resolve_by_keys(*TARO_KEYS, on=date(2025, 8, 1), include_limit=True)
    assert later.limit_certificate is None


def test_elderly_certificate_valid_on_the_day_is_returned(kyokai, make_person, make_period):
    person = make_person(name="佐藤 幸子", kana="サトウ サチコ", sex="2", birth_date=date(1953, 6, 12))
    q = make_period(person, kyokai, contribution_ratio="020", card_classification="02")
    ElderlyCertificate.objects.create(
        qualification=q,
        issued_on=date(2023, 6, 10),
        valid_from=date(2023, 7, 1),
        valid_until=date(2028, 6, 11),
        contribution_ratio="020",
    )
    keys = ("01130012", "1234", "5678", "00", "1953-06-12")
    cert = resolve_by_keys(*keys, on=ON).as_dict()["ElderlyRecipientCertificateInfo"]
    assert cert == {
        "ElderlyRecipientCertificateDate": "20230610",
        "ElderlyRecipientValidStartDate": "20230701",
        "ElderlyRecipientValidEndDate": "20280611",
        "ElderlyRecipientContributionRatio": "020",
    }
    assert resolve_by_keys(*keys, on=date(2023, 6, 30)).elderly_certificate is None


def test_specific_disease_certificates_are_listed(kyokai, make_person, make_period):
    q = make_period(make_person(), kyokai)
    SpecificDiseaseCertificate.objects.create(
        qualification=q, disease_category="02", valid_from=date(2022, 1, 1)
    )
    SpecificDiseaseCertificate.objects.create(
        qualification=q, disease_category="01", valid_from=date(2022, 1, 1), valid_until=date(2023, 1, 1)
    )
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    assert [c["SpecificDiseasesDiseaseCategory"] for c in result.specific_disease_certificates] == ["02"]
    assert result.specific_disease_certificates[0]["SpecificDiseasesSelfPay"] == 10000


def test_person_and_card_lookups_use_the_whole_history(kyokai, kumiai, make_person, make_period):
    person = make_person()
    make_period(person, kyokai, lost_on=date(2025, 1, 1), reason_of_loss="03")
    make_period(person, kumiai, symbol="77", number="1", acquired_on=date(2025, 1, 1))
    card = CardCertificate.objects.create(
        person=person,
        issuer="CN=test",
        serial="01",
        fingerprint_sha256="0" * 64,
        not_before="2024-01-01T00:00Z",
        not_after="2029-01-01T00:00Z",
        registered_for_insurance_use=True,
        certificate_der=b"x",
    )
    assert resolve_for_card(card, on=ON).qualification["InsurerNumber"] == "06130017"
    assert resolve_for_person(person, on=date(2024, 6, 1)).qualification["InsurerNumber"] == "01130012"
    # a person whose only period is lost, with nothing newer
    other = make_person(name="渡辺 実", kana="ワタナベ ミノル", birth_date=date(1962, 4, 18))
    make_period(other, kyokai, number="9", lost_on=date(2025, 1, 1), reason_of_loss="02")
    assert resolve_for_person(other.pk, on=ON).validity == Validity.LOST


def test_a_lookup_costs_a_bounded_number_of_queries(
    kyokai, kumiai, make_person, make_period, django_assert_num_queries
):
    person = make_person()
    make_period(person, kyokai, lost_on=date(2025, 1, 1), reason_of_loss="03")
    make_period(person, kumiai, symbol="77", number="1", acquired_on=date(2025, 1, 1))
    with django_assert_num_queries(2):  # period + elderly, specific disease and limit in one
        resolve_by_keys("06130017", "77", "1", "00", "1980-04-10", on=ON, include_limit=True)
    with django_assert_num_queries(2):
        resolve_by_keys("06130017", "77", "1", "00", "1980-04-10", on=ON)
    with django_assert_num_queries(2):  # period + "is there a newer one"
        resolve_by_keys(*TARO_KEYS, on=ON)
    with django_assert_num_queries(1):
        resolve_by_keys("06130017", "77", "2", "00", "1980-04-10", on=ON)


def test_bad_keys_raise_coded_errors(db):
    with pytest.raises(RegistryValidationError) as exc:
        resolve_by_keys("01130013", "1234", "5678", "0", "1980-04-10")
    assert {e.code for e in exc.value.errors} == {"insurer_number_invalid", "branch_number_invalid"}


def test_the_reference_day_defaults_to_today(kyokai, make_person, make_period):
    from django.utils import timezone

    make_period(make_person(), kyokai, acquired_on=timezone.localdate() - timedelta(days=1))
    assert resolve_by_keys(*TARO_KEYS).validity == Validity.VALID


def test_a_newer_period_that_starts_after_the_lookup_date_does_not_make_the_old_one_3(
    kyokai, kumiai, make_person, make_period
):
    # given keys lost on 2025-04-01 and the next qualification only from 2025-07-01
    person = make_person()
    make_period(person, kyokai, lost_on=date(2025, 4, 1), reason_of_loss="99")
    make_period(person, kumiai, symbol="77", number="1", acquired_on=date(2025, 7, 1))
    # on 2025-06-01 the newer one did not exist yet: 2, on every path
    assert resolve_by_keys(*TARO_KEYS, on=ON).validity == Validity.LOST
    assert resolve_many_by_keys([clean_search_keys(*TARO_KEYS)], ON)[0].validity == Validity.LOST
    assert resolve_for_person(person, on=ON).validity == Validity.LOST
    # from its first day on: 3
    assert resolve_by_keys(*TARO_KEYS, on=date(2025, 7, 1)).validity == Validity.LOST_WITH_NEWER
    assert resolve_many_by_keys([clean_search_keys(*TARO_KEYS)], date(2025, 7, 1))[0].validity == 3


def test_a_past_loss_later_than_the_lookup_date_is_shown_as_the_real_date(kyokai, make_person, make_period):
    # given a period lost on 2025-09-30 (in the past now), looked up for a visit on 2025-06-01
    make_period(make_person(), kyokai, lost_on=date(2025, 9, 30), reason_of_loss="03")
    result = resolve_by_keys(*TARO_KEYS, on=ON)
    # then it was valid that day, and the institution learns the real loss date
    assert result.validity == Validity.VALID
    assert result.qualification["DisqualificationDate"] == "20250930"


def test_a_closing_date_after_today_and_the_lookup_date_is_left_out(kyokai, make_person, make_period):
    # given a change registered ahead: the period closes next month
    today = timezone.localdate()
    closes = today + timedelta(days=30)
    make_period(make_person(), kyokai, lost_on=closes)
    # looked up today: valid, and no closing date is announced as a loss
    result = resolve_by_keys(*TARO_KEYS, on=today)
    assert result.validity == Validity.VALID and result.qualification["DisqualificationDate"] == ""
    # looked up for a date after it: lost, with the date
    after = resolve_by_keys(*TARO_KEYS, on=closes + timedelta(days=1))
    assert after.validity == Validity.LOST and after.qualification["DisqualificationDate"] == closes.strftime(
        "%Y%m%d"
    )
