"""The reference client (python -m clinicapi.client) end to end against a live server:
keygen → register_api_client → token → whoami and the data reads, each as a separate process."""

import io
import json
import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from clinicapi.client.table import cell_width, render
from clinicapi.patients import patient_id_for
from homeconsent.consent.models import Consent
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, MedicationRecord, Person, PublicExpenseCertificate
from homeconsent.registry.seeding import seed_demo_persons, seed_registry

ROOT = Path(__file__).resolve().parents[2]
CODE = "0110113719"


def run_client(*args, env=None, check=True):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOMECONSENT_")}
    environment.update(env or {})
    environment["PYTHONPATH"] = str(ROOT)
    environment.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [sys.executable, "-m", "clinicapi.client", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"client {args} exited {done.returncode}: {done.stderr}")
    return done


@pytest.fixture
def registered(live_server, tmp_path, transactional_db):
    """A fresh key made by the client, registered by the operator command; the client's environment."""
    cache.clear()
    seed_registry(20, seed=4)
    seed_demo_persons()
    institution = Institution.objects.create(code=CODE, name="札幌在宅クリニック")
    keygen = run_client("keygen", "--alg", "ES384", "--out", str(tmp_path / "key"))
    out = io.StringIO()
    call_command(
        "register_api_client",
        "--institution",
        CODE,
        "--name",
        "EHR test",
        "--jwks",
        str(tmp_path / "key" / "jwks.json"),
        "--scope",
        "qualification.read consent.read medication.read checkup.read batch.write paper_certificate.read",
        stdout=out,
        stderr=io.StringIO(),
    )
    env = {
        "HOMECONSENT_API_BASE": live_server.url + "/api/v1",
        "HOMECONSENT_CLIENT_ID": out.getvalue().strip(),
        "HOMECONSENT_KEY_FILE": str(tmp_path / "key" / "private_key.pem"),
    }
    yield {"env": env, "keygen": keygen, "institution": institution, "dir": tmp_path / "key"}
    cache.clear()


def consent_for(person, institution, **fields):
    return Consent.objects.create(
        person=person,
        institution=institution,
        kind=fields.pop("kind", "home_visit"),
        items=fields.pop("items", ["checkup", "medication", "qualification"]),
        given_at=fields.pop("given_at", timezone.now() - timedelta(hours=1)),
        **fields,
    )


def test_keygen_writes_an_owner_only_key_and_prints_a_public_jwks(registered):
    key_dir = registered["dir"]
    printed = json.loads(registered["keygen"].stdout)

    assert stat.S_IMODE((key_dir / "private_key.pem").stat().st_mode) == 0o600
    assert printed == json.loads((key_dir / "jwks.json").read_text())
    [jwk] = printed["keys"]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-384" and jwk["alg"] == "ES384" and jwk["kid"]
    assert "d" not in jwk
    again = run_client("keygen", "--out", str(key_dir), check=False)
    assert again.returncode == 2 and "exists" in again.stderr


def test_token_then_whoami_over_http(registered):
    env = registered["env"]

    issued = json.loads(run_client("token", "--scope", "consent.read qualification.read", env=env).stdout)
    raw = run_client("token", "--raw", env=env).stdout.strip()
    who = json.loads(run_client("whoami", "--json", env={**env, "HOMECONSENT_ACCESS_TOKEN": raw}).stdout)

    assert issued["token_type"] == "Bearer" and issued["expires_in"] <= 300
    assert issued["scope"] == "consent.read qualification.read"
    assert who["institution_code"] == CODE and who["client_id"] == env["HOMECONSENT_CLIENT_ID"]


def test_a_refusal_exits_1_with_the_code(registered):
    env = registered["env"]

    done = run_client("token", "--scope", "treatment.read", env=env, check=False)

    assert done.returncode == 1
    assert "scope_not_allowed" in done.stderr and "treatment.read" in done.stderr


def test_missing_configuration_is_a_usage_error(registered):
    done = run_client("patients", env={"HOMECONSENT_API_BASE": "http://127.0.0.1:9/api/v1"}, check=False)

    assert done.returncode == 2 and "HOMECONSENT_CLIENT_ID" in done.stderr


def test_consented_patients_and_eligibility_as_tables_and_json(registered):
    env, institution = registered["env"], registered["institution"]
    suzuki = Person.objects.get(name="鈴木 一郎")
    consent_for(suzuki, institution)
    pid = patient_id_for(CODE, suzuki.pk)

    table = run_client("patients", env=env).stdout
    listed = json.loads(run_client("patients", "--json", env=env).stdout)
    eligibility = run_client("eligibility", pid, env=env).stdout
    as_fhir = json.loads(run_client("eligibility", pid, "--fhir", env=env).stdout)

    assert [p["patient_id"] for p in listed["patients"]] == [pid]
    row = next(line for line in table.splitlines() if pid in line)
    assert "鈴木 一郎" in row and "home_visit" in row
    given = Consent.objects.get(person=suzuki).given_at.astimezone(timezone.get_fixed_timezone(540))
    assert f"{given:%Y-%m-%d %H:%M} JST" in row  # Japan time with its zone, not a bare UTC time
    assert "後期高齢者" in eligibility or "1" in eligibility
    assert "1 有効" in eligibility  # the validity code with its meaning
    raw = json.loads(run_client("eligibility", pid, "--json", env=env).stdout)
    assert raw["qualification_validity"] == "1"  # JSON stays as the API gives it
    assert "鈴木 一郎" in eligibility
    assert as_fhir["resourceType"] == "Bundle"
    assert as_fhir["entry"][0]["resource"]["resourceType"] == "Coverage"


def test_eligibility_table_prints_each_code_with_its_meaning_and_json_keeps_the_codes(capsys):
    # given an eligibility answer as the API gives it (codes only)
    from clinicapi.client.__main__ import show_eligibility

    data = {
        "qualification_validity": "1",
        "reference_date": "2026-11-26",
        "reason_of_loss": "",
        "qualification": {
            "name": "鈴木 一郎",
            "personal_family_classification": "1",
            "insured_partial_contribution_ratio": "010",
            "birthdate": "1943-07-13",
        },
        "elderly_recipient_certificate_info": {"elderly_recipient_contribution_ratio": "020"},
    }

    # when the table is printed
    show_eligibility(data)
    lines = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())

    # then each code comes with its meaning, and the answer itself is untouched (--json prints it)
    assert lines["資格有効性"].strip() == "1 有効"
    assert lines["本人・家族"].strip() == "1 本人"
    assert lines["一部負担金割合"].strip() == "010 1割"
    assert lines["高齢受給者証"].strip() == "負担割合  020 2割"
    assert data["qualification"]["insured_partial_contribution_ratio"] == "010"


def test_eligibility_table_lists_each_public_expense_certificate(capsys):
    # given an eligibility answer with two 公費 certificates, one with every field and one with the fewest
    from clinicapi.client.__main__ import show_eligibility

    data = {
        "qualification_validity": "1",
        "qualification": {"name": "鈴木 一郎"},
        "public_expense_certificate_list": [
            {
                "public_expense_law_number": "12",
                "public_expense_law_name": "生活保護 医療扶助",
                "public_expense_payer_number": "12130019",
                "public_expense_recipient_number": "",
                "public_expense_valid_start_date": "2026-01-01",
                "public_expense_valid_end_date": "",
                "public_expense_monthly_self_pay_limit": None,
                "public_expense_designated_institutions": [],
            },
            {
                "public_expense_law_number": "54",
                "public_expense_law_name": "難病 特定医療費",
                "public_expense_payer_number": "54130018",
                "public_expense_recipient_number": "1234566",
                "public_expense_valid_start_date": "2026-04-01",
                "public_expense_valid_end_date": "2027-03-31",
                "public_expense_monthly_self_pay_limit": 10000,
                "public_expense_designated_institutions": ["0110113719", "0140110008"],
            },
        ],
    }

    # when the table is printed
    show_eligibility(data)
    out = capsys.readouterr().out.splitlines()

    # then a 公費 table follows the qualification, a row per certificate with its numbers and ceiling
    start = out.index("公費 2 件")
    header, welfare, nanbyou = out[start + 1], out[start + 3], out[start + 4]
    assert header.split() == [
        "法別番号・制度",
        "公費負担者番号",
        "受給者番号",
        "有効期間",
        "自己負担上限月額",
        "指定医療機関",
    ]
    assert welfare.split() == ["12", "生活保護", "医療扶助", "12130019", "2026-01-01〜", "指定なし"]
    assert nanbyou.split() == [
        "54",
        "難病",
        "特定医療費",
        "54130018",
        "1234566",
        "2026-04-01〜2027-03-31",
        "10,000円",
        "0110113719",
        "0140110008",
    ]


def test_an_answer_without_public_expense_prints_no_public_expense_table(capsys):
    from clinicapi.client.__main__ import show_eligibility

    show_eligibility({"qualification_validity": "1", "public_expense_certificate_list": []})

    assert "公費" not in capsys.readouterr().out


def test_eligibility_over_http_shows_the_public_expense_of_the_answer(registered):
    # given a consented patient holding a 公費 certificate in force
    env, institution = registered["env"], registered["institution"]
    suzuki = Person.objects.get(name="鈴木 一郎")
    consent_for(suzuki, institution)
    today = timezone.localdate()
    PublicExpenseCertificate.objects.create(
        person=suzuki,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("123456"),
        valid_from=today - timedelta(days=10),
        valid_until=today + timedelta(days=100),
        monthly_self_pay_limit=5000,
    )
    pid = patient_id_for(CODE, suzuki.pk)

    # when its operator asks for the eligibility as a table and as FHIR
    table = run_client("eligibility", pid, env=env).stdout
    bundle = json.loads(run_client("eligibility", pid, "--fhir", env=env).stdout)

    # then the table lists the certificate, and the Bundle has its Coverage beside the insurance one
    row = next(line for line in table.splitlines() if line.startswith("54 "))
    assert "難病 特定医療費" in row and "54130018" in row and with_check_digit("123456") in row
    assert f"{today - timedelta(days=10)}〜{today + timedelta(days=100)}" in row and "5,000円" in row
    coverages = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage"]
    assert [c["type"]["coding"][0]["code"] for c in coverages][1:] == ["8"]
    assert coverages[1]["subscriberId"] == with_check_digit("123456")


def test_medication_and_checkups_tables(registered):
    env, institution = registered["env"], registered["institution"]
    latest = (
        MedicationRecord.objects.filter(dispensed_on__lte=timezone.localdate())
        .order_by("-dispensed_on")
        .first()
    )
    person = latest.person
    consent_for(person, institution)
    pid = patient_id_for(CODE, person.pk)

    medication = run_client(
        "medication", pid, "--from", latest.dispensed_on.strftime("%Y-%m"), env=env
    ).stdout
    checkups = json.loads(run_client("checkups", pid, "--json", env=env).stdout)

    assert latest.drug_name in medication
    assert "医薬品名" in medication.splitlines()[0]  # a table: the header line first
    assert checkups["patient_id"] == pid and checkups["count"] == sum(
        len(c["items"]) for c in checkups["checkups"]
    )


def test_a_fhir_bundle_with_its_patient_included_two_ways(registered):
    env, institution = registered["env"], registered["institution"]
    latest = (
        MedicationRecord.objects.filter(dispensed_on__lte=timezone.localdate())
        .order_by("-dispensed_on")
        .first()
    )
    consent_for(latest.person, institution)
    pid = patient_id_for(CODE, latest.person_id)
    month = latest.dispensed_on.strftime("%Y-%m")

    # the docs' walk-through: a FHIR search path, and the medication command with --include-patient
    searched = json.loads(
        run_client(
            "fhir",
            f"MedicationDispense?patient={pid}&month_from={month}&_include=MedicationDispense:patient",
            env=env,
        ).stdout
    )
    flagged = json.loads(
        run_client("medication", pid, "--from", month, "--fhir", "--include-patient", env=env).stdout
    )
    patient = json.loads(run_client("fhir", f"Patient/{pid}", env=env).stdout)
    metadata = json.loads(run_client("fhir", "metadata", env=env).stdout)

    for bundle in (searched, flagged):
        assert bundle["resourceType"] == "Bundle"
        assert [e["resource"]["resourceType"] for e in bundle["entry"]][-1] == "Patient"
        assert bundle["entry"][-1]["resource"] == patient
        assert all(e["fullUrl"].startswith(env["HOMECONSENT_API_BASE"] + "/fhir/") for e in bundle["entry"])
    assert metadata["resourceType"] == "CapabilityStatement"


def test_batch_submit_from_csv_then_get(registered, tmp_path):
    env, institution = registered["env"], registered["institution"]
    hanako = Person.objects.get(name="山田 花子")
    consent_for(hanako, institution)
    q = hanako.qualifications.select_related("insurer").get()
    keys = tmp_path / "keys.csv"
    keys.write_text(
        "insurer_number,symbol,number,branch,birth_date\n"
        f"{q.insurer.number},{q.symbol},{q.number},{q.branch},{hanako.birth_date.isoformat()}\n"
        "12345678,x,1,00,1990-01-01\n",
        encoding="utf-8",
    )

    received = json.loads(run_client("batch", "submit", str(keys), "--json", env=env).stdout)
    table = run_client("batch", "get", received["reception_number"], env=env).stdout

    assert received["entry_count"] == 2 and received["error_count"] == 1
    assert received["reception_number"] in table
    assert patient_id_for(CODE, hanako.pk) in table


def test_the_client_package_imports_without_django():
    code = (
        "import sys, clinicapi.client, clinicapi.client.__main__;"
        "sys.exit(1 if any(m == 'django' or m.startswith('django.') for m in sys.modules) else 0)"
    )
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**environment, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0


def test_tables_align_full_width_text():
    text = render([{"name": "山田 太郎", "n": 12}, {"name": "Ab", "n": 3}], [("name", "氏名"), ("n", "数")])
    lines = text.splitlines()

    assert cell_width("山田 太郎") == 9 and cell_width("ｱ") == 1
    assert {cell_width(line) for line in lines} == {13}  # every column ends at the same cell
    assert lines[3].endswith(" 3")


def test_consent_times_are_printed_in_japan_time_with_the_zone():
    from clinicapi.client.__main__ import japan_time

    assert japan_time("2026-11-25T16:39:12Z") == "2026-11-26 01:39 JST"
    assert japan_time("2026-11-25T16:39:12+00:00") == "2026-11-26 01:39 JST"
    assert japan_time(None) == ""


def test_before_any_consent_the_client_says_so_instead_of_a_bare_not_found(registered):
    # Given a clinic system with no consented patient yet
    env = registered["env"]
    suzuki = Person.objects.get(name="鈴木 一郎")
    pid = patient_id_for(CODE, suzuki.pk)

    # When its operator lists patients and asks for one patient's eligibility
    listed = run_client("patients", env=env)
    eligibility = run_client("eligibility", pid, env=env, check=False)

    # Then the list says no consent exists yet, and the 404 (the same as for an unknown patient) comes
    # with what it usually means and what to do
    assert (
        "0 件" in listed.stdout
        and "同意はまだありません" in listed.stdout
        and "No consent yet" in listed.stdout
    )
    assert eligibility.returncode == 1 and "not_found" in eligibility.stderr
    assert "No consent of this patient is in force" in eligibility.stderr


def test_paper_certificate_by_the_printed_keys_names_the_path(registered):
    # given a demo person with no card in the registry: they show a 資格確認書
    env = registered["env"]
    suzuki = Person.objects.get(name="鈴木 一郎")
    q = suzuki.qualifications.select_related("insurer").order_by("-acquired_on").first()
    keys = [
        *("--insurer-number", q.insurer.number, "--symbol", q.symbol, "--number", q.number),
        *("--branch", q.branch, "--birth-date", suzuki.birth_date.isoformat()),
    ]
    # when the client checks them, as a table and as JSON
    table = run_client("paper-certificate", *keys, env=env).stdout
    answer = json.loads(run_client("paper-certificate", "--json", *keys, env=env).stdout)
    # then both say which path answered
    assert "資格確認書の記載事項" in table and "鈴木 一郎" in table
    assert answer["path"] == "paper_certificate" and "patient_id" not in answer
