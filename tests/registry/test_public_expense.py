"""公費 (public-expense) certificates: check digits of both numbers, validity by date in every
eligibility reader, the import (all or nothing) and the seeder."""

import json
from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.codes import (
    check_digit,
    is_valid_payer_number,
    is_valid_recipient_number,
    with_check_digit,
)
from homeconsent.registry.eligibility import (
    Validity,
    resolve_by_keys,
    resolve_for_person,
    resolve_many_by_keys,
)
from homeconsent.registry.imports import import_public_expense
from homeconsent.registry.models import PublicExpenseCertificate
from homeconsent.registry.validation import clean_search_keys, validate_public_expense_row

from .conftest import ON

TARO_KEYS = ("01130012", "1234", "5678", "00", "1980-04-10")
# 難病 (54), Tokyo (13), the prefecture (001): payload 5413001, check digit 8.
PAYER = "54130018"
# payload 123456, check digit 6.
RECIPIENT = "1234566"


def single_digit_changes(value: str):
    for i, ch in enumerate(value):
        for other in "0123456789":
            if other != ch:
                yield value[:i] + other + value[i + 1 :]


def test_valid_numbers_have_the_insurer_number_check_digit():
    assert check_digit("5413001") == 8 and with_check_digit("123456") == RECIPIENT
    assert is_valid_payer_number(PAYER) and is_valid_recipient_number(RECIPIENT)
    assert is_valid_payer_number("21271002") and is_valid_payer_number("12130019")


def test_every_single_changed_digit_of_a_payer_number_is_refused():
    changed = list(single_digit_changes(PAYER))
    assert len(changed) == 72
    assert not [v for v in changed if is_valid_payer_number(v)]


def test_every_single_changed_digit_of_a_recipient_number_is_refused():
    changed = list(single_digit_changes(RECIPIENT))
    assert len(changed) == 63
    assert not [v for v in changed if is_valid_recipient_number(v)]


def test_wrong_lengths_letters_and_prefectures_are_refused():
    for bad in ("5413001", "541300180", "5413001a", "５４１３００１８", "54480014"):
        assert not is_valid_payer_number(bad)
    for bad in ("123456", "12345660", "12345x6"):
        assert not is_valid_recipient_number(bad)


def test_the_model_refuses_a_bad_payer_number_with_a_coded_message(make_person):
    cert = PublicExpenseCertificate(
        person=make_person(),
        programme="54",
        payer_number="54130019",
        valid_from=ON,
        recipient_number="1234567",
    )
    with pytest.raises(ValidationError) as exc:
        cert.full_clean()
    errors = exc.value.error_dict
    assert [e.code for e in errors["payer_number"]] == ["public_payer_number_invalid"]
    assert [e.code for e in errors["recipient_number"]] == ["public_recipient_number_invalid"]
    assert "公費負担者番号「54130019」" in errors["payer_number"][0].message


def row(**overrides):
    data = dict(
        zip(("insurer_number", "symbol", "number", "branch", "birth_date"), TARO_KEYS),
        programme="54",
        payer_number=PAYER,
        recipient_number=RECIPIENT,
        valid_from="2025-04-01",
        valid_until="2026-03-31",
        monthly_self_pay_limit="10000",
        designated_institutions="",
    )
    return data | overrides


def test_a_row_refuses_each_bad_field_with_a_code_in_japanese_and_english():
    _, errors = validate_public_expense_row(
        row(payer_number="21130018", recipient_number="1234567", valid_until="2025-03-31"), 3, today=ON
    )
    assert {(e.field, e.code) for e in errors} == {
        ("payer_number", "public_programme_mismatch"),
        ("recipient_number", "public_recipient_number_invalid"),
        ("valid_until", "valid_until_before_from"),
    }
    mismatch = next(e for e in errors if e.field == "payer_number").error
    assert "法別番号" in mismatch.message("ja") and "programme number" in mismatch.message("en")


def test_welfare_aid_needs_no_recipient_number_the_others_do():
    welfare, errors = validate_public_expense_row(
        row(programme="12", payer_number="12130019", recipient_number="", monthly_self_pay_limit=""),
        2,
        today=ON,
    )
    assert not errors and welfare.recipient_number == "" and welfare.monthly_self_pay_limit is None
    _, errors = validate_public_expense_row(row(recipient_number=""), 2, today=ON)
    assert [(e.field, e.code) for e in errors] == [("recipient_number", "field_required")]


@pytest.fixture
def taro_with_certificates(kyokai, make_person, make_period):
    person = make_person()
    make_period(person, kyokai)
    nanbyo = PublicExpenseCertificate.objects.create(
        person=person,
        programme="54",
        payer_number=PAYER,
        recipient_number=RECIPIENT,
        valid_from=date(2025, 4, 1),
        valid_until=date(2026, 3, 31),
        monthly_self_pay_limit=10000,
        designated_institutions="0110113719",
    )
    seishin = PublicExpenseCertificate.objects.create(
        person=person,
        programme="21",
        payer_number=with_check_digit("2113001"),
        recipient_number=with_check_digit("765432"),
        valid_from=date(2025, 6, 2),
        valid_until=None,
        monthly_self_pay_limit=5000,
    )
    return person, nanbyo, seishin


# The day before the first starts, its first day, both in force, the last day of the first, after it.
DAYS = {
    date(2025, 3, 31): [],
    date(2025, 4, 1): ["54"],
    date(2025, 6, 2): ["54", "21"],
    date(2026, 3, 31): ["54", "21"],
    date(2026, 4, 1): ["21"],
}


def programmes(result):
    return [c["PublicExpenseLawNumber"] for c in result.as_dict()["PublicExpenseCertificateList"]]


@pytest.mark.parametrize("on", list(DAYS))
def test_each_certificate_is_listed_only_on_the_days_it_is_valid(taro_with_certificates, on):
    person, *_ = taro_with_certificates
    by_keys = resolve_by_keys(*TARO_KEYS, on=on)
    by_person = resolve_for_person(person, on=on)
    (bulk,) = resolve_many_by_keys([clean_search_keys(*TARO_KEYS, today=on)], on=on)
    assert by_keys.validity == by_person.validity == bulk.validity == Validity.VALID
    assert programmes(by_keys) == programmes(by_person) == programmes(bulk) == DAYS[on]


def test_the_certificate_carries_its_fields(taro_with_certificates):
    cert = resolve_for_person(taro_with_certificates[0], on=date(2025, 5, 1)).as_dict()[
        "PublicExpenseCertificateList"
    ]
    assert cert == [
        {
            "PublicExpenseLawNumber": "54",
            "PublicExpenseLawName": "難病 特定医療費",
            "PublicExpensePayerNumber": PAYER,
            "PublicExpenseRecipientNumber": RECIPIENT,
            "PublicExpenseValidStartDate": "20250401",
            "PublicExpenseValidEndDate": "20260331",
            "PublicExpenseMonthlySelfPayLimit": 10000,
            "PublicExpenseDesignatedInstitutions": ["0110113719"],
        }
    ]


def test_no_certificate_travels_with_a_lost_qualification(kyokai, make_person, make_period):
    person = make_person()
    make_period(person, kyokai, lost_on=date(2025, 5, 1), reason_of_loss="99")
    PublicExpenseCertificate.objects.create(
        person=person,
        programme="54",
        payer_number=PAYER,
        recipient_number=RECIPIENT,
        valid_from=date(2025, 1, 1),
    )
    assert programmes(resolve_for_person(person, on=date(2025, 4, 30))) == ["54"]
    lost = resolve_for_person(person, on=ON)
    assert lost.validity == Validity.LOST and programmes(lost) == []


@pytest.mark.parametrize("on", [date(2025, 3, 31), date(2025, 6, 2), date(2026, 4, 1)])
def test_check_eligibility_lists_the_certificates_of_the_day(taro_with_certificates, on, capsys):
    keys = dict(zip(("--insurer-number", "--symbol", "--number", "--branch", "--birth-date"), TARO_KEYS))
    call_command("check_eligibility", *[x for pair in keys.items() for x in pair], "--on", on.isoformat())
    out = json.loads(capsys.readouterr().out)
    assert [c["PublicExpenseLawNumber"] for c in out["PublicExpenseCertificateList"]] == DAYS[on]


HEADER = (
    "insurer_number,symbol,number,branch,birth_date,programme,payer_number,recipient_number,valid_from,"
    "valid_until,monthly_self_pay_limit,designated_institutions"
)
GOOD = f"01130012,1234,5678,00,1980-04-10,54,{PAYER},{RECIPIENT},2025-04-01,2026-03-31,10000,0110113719"
WELFARE = "01130012,1234,5678,00,1980-04-10,12,12130019,,2025-05-01,,,"


def write(tmp_path, *lines, name="p.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_applies_a_good_file_once_and_logs_it(kyokai, make_person, make_period, tmp_path):
    person = make_person()
    make_period(person, kyokai)
    path = write(tmp_path, HEADER, GOOD, WELFARE)

    report = import_public_expense(path, today=ON)

    assert report.applied and (report.created, report.unchanged) == (2, 0), report.errors
    assert programmes(resolve_for_person(person, on=ON)) == ["54", "12"]
    again = import_public_expense(path, today=ON)
    assert (again.created, again.unchanged) == (0, 2) and PublicExpenseCertificate.objects.count() == 2
    assert AccessEvent.objects.filter(detail__action="import_public_expense").count() == 2


def test_import_with_one_bad_row_applies_nothing(kyokai, make_person, make_period, tmp_path):
    make_period(make_person(), kyokai)
    bad_digit = GOOD.replace(PAYER, "54130017")

    report = import_public_expense(write(tmp_path, HEADER, WELFARE, bad_digit), today=ON)

    assert not report.applied and PublicExpenseCertificate.objects.count() == 0
    assert [(e.line, e.field, e.code) for e in report.errors] == [
        (3, "payer_number", "public_payer_number_invalid")
    ]
    assert not AccessEvent.objects.exists()


def test_import_of_an_unknown_person_rolls_back_the_rows_before_it(
    kyokai, make_person, make_period, tmp_path
):
    make_period(make_person(), kyokai)
    stranger = GOOD.replace("1980-04-10", "1990-01-01")

    report = import_public_expense(write(tmp_path, HEADER, GOOD, stranger, name="p.csv"), today=ON)

    assert [(e.line, e.code) for e in report.errors] == [(3, "person_not_found")]
    assert not report.applied and report.created == 0 and PublicExpenseCertificate.objects.count() == 0


def test_import_command_exits_2_and_prints_both_languages(kyokai, make_person, make_period, tmp_path, capsys):
    make_period(make_person(), kyokai)
    with pytest.raises(CommandError) as exc:
        call_command(
            "import_public_expense", str(write(tmp_path, HEADER, GOOD.replace(RECIPIENT, "1234560")))
        )
    assert exc.value.returncode == 2
    err = capsys.readouterr().err
    assert "public_recipient_number_invalid" in err and "受給者番号" in err and "Recipient number" in err
    assert PublicExpenseCertificate.objects.count() == 0


def test_the_seeder_writes_valid_certificates_some_persons_hold_several(db):
    from homeconsent.registry.seeding import seed_registry

    summary = seed_registry(persons=1500, seed=3, as_of=ON)
    certs = list(PublicExpenseCertificate.objects.all())
    assert summary.counts["PublicExpenseCertificate"] == len(certs)
    assert 3 <= len(certs) <= 30  # a few per thousand persons
    for cert in certs:
        cert.full_clean()
        assert cert.payer_number[:2] == cert.programme
    holders = [c.person_id for c in certs]
    assert len(set(holders)) < len(holders)  # some hold more than one
    assert any(resolve_for_person(c.person_id, on=ON).public_expense_certificates for c in certs)
