"""The registry's management commands."""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.models import Person


def test_check_eligibility_prints_validity_and_writes_an_operator_access_log_row(
    kyokai, make_person, make_period, capsys
):
    person = make_person()
    make_period(person, kyokai)
    call_command(
        "check_eligibility",
        "--insurer-number",
        "01130012",
        "--symbol",
        "1234",
        "--number",
        "5678",
        "--branch",
        "00",
        "--birth-date",
        "1980-04-10",
        "--on",
        "2025-06-01",
        "--operator",
        "ops-1",
    )
    out = json.loads(capsys.readouterr().out)
    assert out["validity"] == 1 and out["Qualification"]["Name"] == "山田 太郎"
    event = AccessEvent.objects.get()
    assert (event.actor_type, event.actor_id, event.person_id, event.items, event.basis, event.outcome) == (
        "operator",
        "ops-1",
        person.pk,
        ["qualification"],
        "operator",
        "ok",
    )
    assert event.detail["validity"] == 1


def test_check_eligibility_logs_a_miss_as_not_found(kyokai, capsys):
    call_command(
        "check_eligibility",
        "--insurer-number",
        "01130012",
        "--number",
        "1",
        "--branch",
        "00",
        "--birth-date",
        "1980-04-10",
    )
    assert json.loads(capsys.readouterr().out)["validity"] == 4
    event = AccessEvent.objects.get()
    assert (event.person_id, event.outcome) == (None, "not_found")
    assert event.actor_id  # the OS user when --operator is not given


def test_check_eligibility_refuses_bad_keys_without_logging(db, capsys):
    with pytest.raises(CommandError) as exc:
        call_command(
            "check_eligibility",
            "--insurer-number",
            "01130013",
            "--number",
            "1",
            "--branch",
            "0",
            "--birth-date",
            "1980-04-10",
        )
    assert exc.value.returncode == 2
    codes = {e["code"] for e in json.loads(capsys.readouterr().out)["errors"]}
    assert codes == {"insurer_number_invalid", "branch_number_invalid"}
    assert not AccessEvent.objects.exists()


def test_seed_registry_prints_a_summary(db, capsys):
    call_command("seed_registry", "--persons", "40", "--seed", "5", "--as-of", "2025-06-01", "--demo-persons")
    out = capsys.readouterr().out
    assert "seeded 40 persons (seed 5, as of 2025-06-01)" in out
    assert "MedicationRecord" in out and "demo yamada-taro" in out
    assert Person.objects.count() == 40 + 9
