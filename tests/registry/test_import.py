"""import_qualifications: all or nothing, idempotent, history kept."""

import json
import threading
from datetime import date

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.eligibility import Validity, resolve_by_keys
from homeconsent.registry.imports import import_qualifications
from homeconsent.registry.models import Person, Qualification

HEADER = (
    "op,insurer_number,symbol,number,branch,personal_family,name,name_kana,sex,birth_date,acquired_on,"
    "lost_on,reason_of_loss,contribution_ratio,card_classification"
)
TARO = "new,01130012,1234,5678,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01"
HANAKO = "new,01130012,1234,5678,01,2,山田 花子,ヤマダ ハナコ,2,1982-05-11,2020-04-01,,,030,01"
TARO_CHANGE = "change,01130012,1234,5678,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2024-10-01,,,020,01"
HANAKO_LOSS = "loss,01130012,1234,5678,01,,,,,1982-05-11,,2025-03-31,03,,"


def write(tmp_path, *lines, name="q.csv"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def snapshot():
    return (
        sorted(Person.objects.values_list("name", "name_kana", "birth_date")),
        sorted(
            Qualification.objects.values_list(
                "number", "branch", "acquired_on", "lost_on", "reason_of_loss", "contribution_ratio"
            )
        ),
    )


def test_a_file_with_one_bad_row_applies_nothing_and_names_the_line(kyokai, tmp_path):
    # given a registry with one person
    import_qualifications(write(tmp_path, HEADER, TARO, name="first.csv"))
    before = snapshot()
    # when a file has good rows and one bad row (line 3: branch "1", sex "3")
    bad = HANAKO.replace(",01,2,", ",1,2,").replace(",2,1982", ",3,1982")
    report = import_qualifications(write(tmp_path, HEADER, TARO_CHANGE, bad, HANAKO_LOSS))
    # then nothing changed and the report names line 3, the fields and the codes
    assert snapshot() == before
    assert not report.applied
    assert {(e.line, e.field, e.code) for e in report.errors} == {
        (3, "branch", "branch_number_invalid"),
        (3, "sex", "code_not_in_list"),
    }
    assert report.errors[0].as_dict()["message_en"]


def test_a_row_the_registry_refuses_rolls_back_the_rows_before_it(kyokai, tmp_path):
    # the loss refers to a qualification that does not exist: found only while applying
    report = import_qualifications(write(tmp_path, HEADER, TARO, HANAKO_LOSS))
    assert not report.applied
    assert [(e.line, e.code) for e in report.errors] == [(3, "no_open_qualification")]
    assert Person.objects.count() == 0 and Qualification.objects.count() == 0


def test_reimporting_the_same_file_changes_nothing(kyokai, tmp_path):
    path = write(tmp_path, HEADER, TARO, HANAKO, TARO_CHANGE, HANAKO_LOSS)
    first = import_qualifications(path)
    assert (first.applied, first.created, first.changed, first.unchanged) == (True, 2, 2, 0)
    before = snapshot()
    second = import_qualifications(path)
    assert (second.applied, second.created, second.changed, second.unchanged) == (True, 0, 0, 4)
    assert snapshot() == before


def test_change_and_loss_keep_the_history(kyokai, tmp_path):
    import_qualifications(write(tmp_path, HEADER, TARO, HANAKO, TARO_CHANGE, HANAKO_LOSS))
    taro = list(
        Qualification.objects.filter(branch="00")
        .order_by("acquired_on")
        .values_list("acquired_on", "lost_on", "reason_of_loss", "contribution_ratio")
    )
    # the change closed the first period and opened a new one; the old ratio is kept
    assert taro == [(date(2020, 4, 1), date(2024, 10, 1), "", "030"), (date(2024, 10, 1), None, "", "020")]
    hanako = Qualification.objects.get(branch="01")
    assert (hanako.acquired_on, hanako.lost_on, hanako.reason_of_loss) == (
        date(2020, 4, 1),
        date(2025, 3, 31),
        "03",
    )
    # eligibility reads the history: each period answers for its own days
    keys = ("01130012", "1234", "5678", "00", "1980-04-10")
    assert (
        resolve_by_keys(*keys, on=date(2024, 9, 30)).qualification["InsuredPartialContributionRatio"] == "030"
    )
    assert (
        resolve_by_keys(*keys, on=date(2024, 10, 1)).qualification["InsuredPartialContributionRatio"] == "020"
    )
    assert resolve_by_keys("01130012", "1234", "5678", "01", "1982-05-11", on=date(2025, 4, 1)).validity == 2


def test_change_to_new_card_keys_moves_the_person_and_old_keys_answer_3(kyokai, kumiai, tmp_path):
    moved = (
        "change,06130017,77,1,00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2025-01-01,,,030,01,"
        "01130012,1234,5678,00"
    )
    header = HEADER + ",previous_insurer_number,previous_symbol,previous_number,previous_branch"
    report = import_qualifications(write(tmp_path, header, TARO + ",,,,", moved))
    assert report.applied and Person.objects.count() == 1
    on = date(2025, 6, 1)
    assert (
        resolve_by_keys("01130012", "1234", "5678", "00", "1980-04-10", on=on).validity
        == Validity.LOST_WITH_NEWER
    )
    assert resolve_by_keys("06130017", "77", "1", "00", "1980-04-10", on=on).validity == Validity.VALID


def test_new_on_keys_with_an_open_period_is_refused(kyokai, tmp_path):
    import_qualifications(write(tmp_path, HEADER, TARO, name="a.csv"))
    other_start = TARO.replace("2020-04-01", "2022-04-01")
    report = import_qualifications(write(tmp_path, HEADER, other_start))
    assert [e.code for e in report.errors] == ["open_qualification_exists"]


def test_unknown_insurer_and_unknown_columns_are_reported(db, tmp_path):
    report = import_qualifications(write(tmp_path, HEADER, TARO))
    assert [(e.line, e.field, e.code) for e in report.errors] == [
        (2, "insurer_number", "insurer_not_registered")
    ]
    report = import_qualifications(write(tmp_path, HEADER + ",nmae", TARO + ",x"))
    assert [(e.line, e.field, e.code) for e in report.errors] == [(1, "nmae", "import_column_unknown")]


def test_json_lines_are_read_by_extension(kyokai, tmp_path):
    good = {
        "op": "new",
        "insurer_number": "01130012",
        "symbol": "1234",
        "number": "5678",
        "branch": "00",
        "personal_family": "1",
        "name": "山田 太郎",
        "name_kana": "ヤマダ タロウ",
        "sex": "1",
        "birth_date": "1980-04-10",
        "acquired_on": "2020-04-01",
        "contribution_ratio": "030",
    }
    path = write(tmp_path, json.dumps(good, ensure_ascii=False), "", "not json", name="q.jsonl")
    report = import_qualifications(path)
    assert [(e.line, e.code) for e in report.errors] == [(3, "import_json_line_invalid")]
    path = write(tmp_path, json.dumps(good, ensure_ascii=False), name="q.ndjson")
    assert import_qualifications(path).created == 1


def test_the_command_exits_non_zero_and_prints_each_error(kyokai, tmp_path, capsys):
    path = write(tmp_path, HEADER, TARO.replace("1980-04-10", "1980-04-31"))
    with pytest.raises(CommandError) as exc:
        call_command("import_qualifications", str(path), "--json")
    assert exc.value.returncode == 2
    out = json.loads(capsys.readouterr().out)
    assert out["applied"] is False
    assert out["errors"][0]["line"] == 2 and out["errors"][0]["field"] == "birth_date"
    assert Person.objects.count() == 0


def test_a_successful_import_writes_one_operator_log_entry_in_its_transaction(kyokai, tmp_path):
    import_qualifications(write(tmp_path, HEADER, TARO), actor_id="insurer-batch")
    event = AccessEvent.objects.get()
    assert (event.actor_type, event.actor_id, event.basis, event.detail["created"]) == (
        "operator",
        "insurer-batch",
        "operator",
        1,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_of_one_file_at_once_create_each_period_once(kyokai, tmp_path):
    # given a file of 40 new qualifications, imported twice at the same moment (a cron overlap)
    rows = [
        f"new,01130012,1234,{n:04d},00,1,山田 太郎,ヤマダ タロウ,1,1980-04-10,2020-04-01,,,030,01"
        for n in range(40)
    ]
    path = write(tmp_path, HEADER, *rows)
    start, reports, errors = threading.Barrier(2), [], []

    def run():
        try:
            start.wait()
            reports.append(import_qualifications(path))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then one run created the periods and the other found them all unchanged
    assert errors == []
    assert Qualification.objects.count() == Person.objects.count() == 40
    assert sorted((r.created, r.unchanged) for r in reports) == [(0, 40), (40, 0)]


def test_reimporting_an_old_file_does_not_undo_a_later_change_of_name(kyokai, tmp_path):
    # given Taro's qualification, then a later change that brings a new name (marriage)
    first = write(tmp_path, HEADER, TARO, name="first.csv")
    import_qualifications(first)
    renamed = TARO_CHANGE.replace("山田 太郎,ヤマダ タロウ", "鈴木 太郎,スズキ タロウ")
    assert import_qualifications(write(tmp_path, HEADER, renamed, name="second.csv")).changed == 1
    # when the first file is imported again
    report = import_qualifications(first)
    # then nothing changes: the person keeps the newer name
    assert (report.applied, report.created, report.changed, report.unchanged) == (True, 0, 0, 1)
    assert Person.objects.get().name_kana == "スズキ タロウ"


TARO_WRONG_RATIO = TARO.replace(",030,01", ",020,01")  # registered with the wrong ratio from day one


def test_a_correction_replaces_a_wrong_period_and_logs_the_old_values_for_the_person(kyokai, tmp_path):
    # given a period registered with 2割 from its first day, then a change that closed it
    import_qualifications(write(tmp_path, HEADER, TARO_WRONG_RATIO, TARO_CHANGE, name="first.csv"))
    # when the insurer sends a correction: same keys and acquired_on, the right values
    fix = TARO.replace("new,", "correct,", 1)
    report = import_qualifications(write(tmp_path, HEADER, fix, name="fix.csv"), actor_id="insurer-batch")
    # then the period has the right ratio, keeps its closing, and no period was added
    assert (report.applied, report.corrected, report.created, report.changed) == (True, 1, 0, 0)
    periods = list(
        Qualification.objects.order_by("acquired_on").values_list(
            "acquired_on", "lost_on", "contribution_ratio"
        )
    )
    assert periods == [(date(2020, 4, 1), date(2024, 10, 1), "030"), (date(2024, 10, 1), None, "020")]
    keys = ("01130012", "1234", "5678", "00", "1980-04-10")
    assert (
        resolve_by_keys(*keys, on=date(2022, 1, 1)).qualification["InsuredPartialContributionRatio"] == "030"
    )
    # and the person's history holds the old value, in the import's transaction
    person = Person.objects.get()
    entry = AccessEvent.objects.get(detail__action="import_correction")
    assert (entry.person_id, entry.actor_id, entry.basis, entry.items) == (
        person.pk,
        "insurer-batch",
        "operator",
        ["qualification"],
    )
    assert entry.detail["old"] == {"contribution_ratio": "020"} and entry.detail["new"] == {
        "contribution_ratio": "030"
    }
    assert entry.detail["acquired_on"] == "2020-04-01" and entry.detail["line"] == 2
    # a correction sent again changes nothing
    again = import_qualifications(write(tmp_path, HEADER, fix, name="fix.csv"))
    assert (again.corrected, again.unchanged) == (0, 1)
    assert AccessEvent.objects.filter(detail__action="import_correction").count() == 1


def test_a_correction_needs_a_registered_period_and_may_not_overlap_the_next(kyokai, tmp_path):
    import_qualifications(write(tmp_path, HEADER, TARO, TARO_CHANGE, name="first.csv"))
    before = snapshot()
    unknown = TARO.replace("new,", "correct,", 1).replace("2020-04-01", "2020-05-01")
    report = import_qualifications(write(tmp_path, HEADER, unknown))
    assert [(e.field, e.code) for e in report.errors] == [("acquired_on", "qualification_not_found")]
    overlap = TARO.replace("new,", "correct,", 1).replace("2020-04-01,,", "2020-04-01,2025-01-01,")
    report = import_qualifications(write(tmp_path, HEADER, overlap))
    assert [(e.field, e.code) for e in report.errors] == [("lost_on", "correction_overlaps")]
    assert (
        snapshot() == before and not AccessEvent.objects.filter(detail__action="import_correction").exists()
    )


def test_a_dry_run_correction_logs_nothing(kyokai, tmp_path):
    import_qualifications(write(tmp_path, HEADER, TARO_WRONG_RATIO, name="first.csv"))
    report = import_qualifications(write(tmp_path, HEADER, TARO.replace("new,", "correct,", 1)), dry_run=True)
    assert report.corrected == 1 and not report.applied
    assert Qualification.objects.get().contribution_ratio == "020"
    assert not AccessEvent.objects.filter(detail__action="import_correction").exists()
