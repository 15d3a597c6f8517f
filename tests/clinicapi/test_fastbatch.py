"""The batch pre-check's fast path (clinicapi.fastbatch, PostgreSQL) pinned to the general path:
the fast validator to clean_search_keys over generated good and bad keys (every error the general
one reports), and a whole batch over a generated population to the general path's stored results,
counts, fetched answers and access-log rows, with a log that verify_log accepts.
"""

import datetime
import json
import random
import sys

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection, transaction
from django.test import Client, override_settings
from django.utils import timezone

from clinicapi import batch, fastbatch
from clinicapi.auth import do_issue_access_token, do_register_client
from clinicapi.models import BatchInquiry, BatchResultChunk
from homeconsent.audit.models import AccessEvent
from homeconsent.audit.verification import verify_log
from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentKind, ConsentStatus
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import (
    ElderlyCertificate,
    LimitCertificate,
    LimitClassification,
    Person,
    PublicExpenseCertificate,
    Qualification,
    SpecificDiseaseCategory,
    SpecificDiseaseCertificate,
)
from homeconsent.registry.validation import SearchKeys
from tests.clinicapi.conftest import register_consent
from tests.clinicapi.test_fastcheck import LOGGED

FULL_WIDTH = str.maketrans("0123456789ABC", "０１２３４５６７８９ＡＢＣ")


def generated_entries(count: int, seed: int, today: datetime.date) -> list:
    """Entries mixing well-formed keys with every way a field can be wrong, malformed or spelled
    otherwise (full-width, spaces, other JSON types)."""
    chance = random.Random(seed)
    insurer = with_check_digit("0113001")
    wrong_digit = insurer[:-1] + str((int(insurer[-1]) + 1) % 10)
    pools = {
        "insurer_number": [insurer] * 6
        + [with_check_digit("13001"), wrong_digit, "0113001", insurer.translate(FULL_WIDTH), f" {insurer}"]
        + ["", None, 1130012, "ABCDEFGH"],
        "symbol": [
            "12",
            "",
            None,
            "本部",
            "東ア１２",
            " 12 ",
            "４２",
            "ｱｲ",
            "x" * 38,
            "x" * 39,
            "１" * 39,
            7,
            "1\x002",
            "\ud800",
        ],
        "number": [
            "123",
            "B77",
            "１２３",
            " 7 ",
            "\u30007",
            "",
            "   ",
            None,
            "9" * 38,
            "9" * 39,
            "Ａ1",
            123,
            "12\x00",
            "1\x7f",
            "\udfff9",
        ],
        "branch": ["00", "01"] * 3 + ["0", "０１", " 01", "ab", "001", "", None, 1],
        "birth_date": ["1950-01-01", "1985-12-31"] * 3
        + [
            today.isoformat(),
            (today + datetime.timedelta(days=1)).isoformat(),
            (today + datetime.timedelta(days=800)).isoformat(),
            "1900-01-01",
            "1899-12-31",
            "1950-1-1",
            "19500101",
            "1950-02-30",
            "１９５０-01-01",
            " 1950-01-01",
            "1950-01-01\n",
            "",
            None,
            19500101,
        ],
    }
    entries = []
    for _ in range(count):
        roll = chance.random()
        if roll < 0.03:
            entries.append(chance.choice(["not an object", None, 5, ["a"], []]))
            continue
        entry = {name: chance.choice(values) for name, values in pools.items()}
        if roll < 0.08:
            del entry[chance.choice(list(entry))]
        if roll > 0.97:
            entry["extra"] = "ignored"
        entries.append(entry)
    return entries


def test_the_fast_validator_answers_as_clean_search_keys(settings):
    # given generated entries, good and bad in every field
    today = rules.today()
    entries = generated_entries(6000, seed=23, today=today)

    # when both validators read them
    fast_keys, fast_errors = fastbatch.clean(entries, today)
    keys, errors = batch._clean(entries, today)

    # then the same keys and the same error entries (codes, fields and messages)
    assert fast_keys == keys
    assert fast_errors == errors
    # and the fast one took most good entries itself, and the general one reported every error it has
    taken = sum(fastbatch._plain_keys(e, today, {}, {}) is not None for e in entries if type(e) is dict)
    assert taken > 0.5 * len(keys) and len(keys) > 200
    reported = {e["error_code"] for e in errors.values()} | {
        f["code"] for e in errors.values() for f in e["errors"]
    }
    assert reported >= {
        "batch_entry_not_object",
        "batch_entry_keys_invalid",
        "field_required",
        "insurer_number_invalid",
        "branch_number_invalid",
        "text_too_long",
        "characters_invalid",
        "date_invalid",
        "date_too_old",
        "birth_date_in_future",
    }


# --- the whole batch on PostgreSQL ---------------------------------------------------------------
def _population_entries(here, today) -> list:
    """Every period's keys (also in full-width, with another birth date, or only with another birth
    date), keys shared by two persons, keys of nobody and broken entries, shuffled, with repeats."""
    chance = random.Random(7)
    periods = list(Qualification.objects.select_related("person", "insurer").order_by("pk"))
    # Two persons on the same card keys and birth date: several match (5) unless consent filters one.
    for first, second in zip(periods[:12:2], periods[1:12:2]):
        second.person.birth_date = first.person.birth_date
        second.person.save(update_fields=["birth_date"])
        Qualification.objects.create(
            **{
                f.attname: getattr(first, f.attname)
                for f in Qualification._meta.concrete_fields
                if f.attname not in ("id", "person_id", "created_at")
            },
            person=second.person,
        )
    periods = list(Qualification.objects.select_related("person", "insurer").order_by("pk"))
    entries = []
    for q in periods:
        keys = {
            "insurer_number": q.insurer.number,
            "symbol": q.symbol,
            "number": q.number,
            "branch": q.branch,
            "birth_date": q.person.birth_date.isoformat(),
        }
        if chance.random() < 0.15:  # only with another birth date: its person is still matched
            entries.append({**keys, "birth_date": "1950-01-02"})
            continue
        entries.append(keys)
        if chance.random() < 0.3:
            entries.append({**keys, "number": q.number.translate(FULL_WIDTH)})
        if chance.random() < 0.2:
            entries.append({**keys, "birth_date": "1950-01-02"})
        if chance.random() < 0.1:
            entries.append({**keys, "number": q.number + "0"})
    entries += generated_entries(400, seed=5, today=today)
    entries += [chance.choice(entries) for _ in range(300)]
    chance.shuffle(entries)
    return entries


def _batch_client(here):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwks = {"keys": [{**jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True), "kid": "k1"}]}
    client = do_register_client(here, "一括", jwks, ["qualification.read", "batch.write"])
    token, _ = do_issue_access_token(client, ["qualification.read", "batch.write"])
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _assert_the_same(general, fast) -> None:
    """_submit's answers of the two paths: counts, stored chunks, pages and log rows equal, and
    each path was the one asked for. The stored chunks and the pages also with their keys in the
    same order (JSON text is stored as written, and a fetch answers in the stored order)."""
    assert fast[0] == general[0]
    assert fast[1] == general[1]
    assert json.dumps(fast[1]) == json.dumps(general[1])
    assert fast[2] == general[2]
    assert fast[3] == general[3]
    assert json.dumps(fast[3]) == json.dumps(general[3])
    assert fast[4] == general[4]
    assert (general[5], fast[5]) == (False, True)


def _submit(http, entries, fast: bool, **extra):
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    seen = []

    def statements(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with override_settings(CLINICAPI_BATCH_FAST=fast), connection.execute_wrapper(statements):
        response = http.post(
            "/api/v1/batches", {"entries": entries, **extra}, content_type="application/json"
        )
    assert response.status_code == 201, response.content[:500]
    received = response.json()
    number = received.pop("reception_number")
    for moment in ("submitted_at", "expires_at"):
        received.pop(moment)
    inquiry = BatchInquiry.objects.get(reception_number=number)
    stored = [chunk.entries for chunk in BatchResultChunk.objects.filter(batch=inquiry).order_by("number")]
    rows = _rows(last, number)
    # the answers as fetched (a fetch is a read too: its rows are compared as well)
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    pages, offset = [], 0
    while offset is not None:
        page = http.get(f"/api/v1/batches/{number}", {"offset": offset, "limit": 700}).json()
        offset = page["next_offset"]
        pages.append(
            {k: v for k, v in page.items() if k not in ("reception_number", "submitted_at", "expires_at")}
        )
    fetched_rows = _rows(last, number)
    fast_statement = any("json_build_object(" in sql for sql in seen)  # the consented entries' statement
    return received, stored, rows, pages, fetched_rows, fast_statement


def _rows(after, number) -> list:
    rows = list(AccessEvent.objects.filter(pk__gt=after).order_by("pk").values(*LOGGED))
    for row in rows:
        assert row["detail"].pop("reception_number") == number
    return rows


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("on", [None, "past"])
def test_the_fast_batch_stores_answers_and_logs_as_the_general_path(population, on, settings):
    # given a generated population, consents in every state, and a batch of its keys and of bad ones
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    here, there = population
    today = rules.today()
    entries = _population_entries(here, today)
    extra = {} if on is None else {"on": (today - datetime.timedelta(days=400)).isoformat()}
    http = _batch_client(here)
    assert fastbatch.enabled()

    # when the same batch goes through the general path and then the fast one
    general = _submit(http, entries, False, **extra)
    fast = _submit(http, entries, True, **extra)

    # then the same counts, stored results, fetched pages and access-log rows
    _assert_the_same(general, fast)
    # and the batch covered every kind of answer, disclosed and refused
    stored = [e for chunk in general[1] for e in chunk]
    validities = {e.get("qualification_validity") for e in stored if e.get("patient_id")}
    assert {"1", "2"} <= validities
    assert sum(bool(e.get("patient_id")) for e in stored) > 30
    assert sum(r["outcome"] == "refused" for r in general[2]) > 30
    assert any("limit_application_certificate_related_info" in e for e in stored)
    assert any(e.get("public_expense_certificate_list") for e in stored)
    assert general[0]["error_count"] > 50
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == AccessEvent.objects.count()


@pytest.fixture
def mostly_consented(population):
    """The population with a consent here for most persons (half of them with 限度額), some valid
    periods closing later (after today: the closing date is left out until then) and some persons
    with a newer period, so that most of a batch's entries are disclosed."""
    here, there = population
    chance = random.Random(31)
    now, today = timezone.now(), rules.today()
    day = datetime.timedelta(days=1)
    have = set(
        Consent.objects.filter(
            institution=here, kind=ConsentKind.HOME_VISIT, status=ConsentStatus.ACTIVE
        ).values_list("person_id", flat=True)
    )
    for person in Person.objects.order_by("pk"):
        if chance.random() < 0.85 and person.pk not in have:
            items = ["qualification", "limit_certificate"] if chance.random() < 0.5 else ["qualification"]
            Consent.objects.create(
                person=person, institution=here, kind=ConsentKind.HOME_VISIT, items=items, given_at=now - day
            )
    open_periods = list(Qualification.objects.filter(lost_on__isnull=True).order_by("pk"))
    classes, diseases = LimitClassification.values, SpecificDiseaseCategory.values
    for n, q in enumerate(open_periods[1::4]):  # certificates of every kind, two in force at once
        for start, end in ((-200, 60), (-100, 100)):
            span = {"valid_from": today + start * day, "valid_until": today + end * day}
            LimitCertificate.objects.create(
                qualification=q, classification=classes[(n + end) % len(classes)], **span
            )
            ElderlyCertificate.objects.create(
                qualification=q, issued_on=today + start * day, contribution_ratio="020", **span
            )
        SpecificDiseaseCertificate.objects.create(
            qualification=q, disease_category=diseases[n % len(diseases)], valid_from=today - 50 * day
        )
        SpecificDiseaseCertificate.objects.create(
            qualification=q,
            disease_category=diseases[(n + 1) % len(diseases)],
            valid_from=today - 90 * day,
            valid_until=today + day * (n % 3 - 1),
        )
    for q in open_periods[::7]:  # a closing registered ahead, after today
        q.lost_on, q.reason_of_loss = max(today + 20 * day, q.acquired_on), "03"
        q.save(update_fields=["lost_on", "reason_of_loss"])
    for q in open_periods[3::11]:  # lost some time ago, then a newer period (3), or one not begun yet (2)
        q.lost_on, q.reason_of_loss = max(today - 40 * day, q.acquired_on), "99"
        q.save(update_fields=["lost_on", "reason_of_loss"])
        Qualification.objects.create(
            **{
                f.attname: getattr(q, f.attname)
                for f in Qualification._meta.concrete_fields
                if f.attname not in ("id", "created_at", "number", "acquired_on", "lost_on", "reason_of_loss")
            },
            number=q.number + "5",
            acquired_on=today + (-10 if q.pk % 2 else 10) * day,
        )
    return here, there


def _exact_keys() -> list:
    """The search keys of every period, as registered."""
    return [
        {
            "insurer_number": q.insurer.number,
            "symbol": q.symbol,
            "number": q.number,
            "branch": q.branch,
            "birth_date": q.person.birth_date.isoformat(),
        }
        for q in Qualification.objects.select_related("person", "insurer").order_by("pk")
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("on", [None, "past"])
def test_a_mostly_consented_batch_stores_answers_and_logs_as_the_general_path(mostly_consented, on, settings):
    # given a population where most persons consented here, and a batch of its keys and of bad ones
    settings.CLINICAPI_THROTTLE_RATES = {"client": "100000/min", "token": "100000/min"}
    here, there = mostly_consented
    today = rules.today()
    entries = _population_entries(here, today) + 2 * _exact_keys()
    random.Random(3).shuffle(entries)
    extra = {} if on is None else {"on": (today - datetime.timedelta(days=400)).isoformat()}
    http = _batch_client(here)

    # when the same batch goes through the general path and then the fast one
    general = _submit(http, entries, False, **extra)
    fast = _submit(http, entries, True, **extra)

    # then the same counts, stored results, fetched pages and access-log rows
    _assert_the_same(general, fast)
    # and most entries were disclosed, with every kind of answer and certificate
    stored = [e for chunk in general[1] for e in chunk]
    disclosed = [e for e in stored if e.get("patient_id")]
    assert len(disclosed) > (0.5 if on is None else 0.4) * len(stored)  # in the past, fewer had begun
    validities = {e["qualification_validity"] for e in stored if e["segment_of_result"] == "1"}
    assert validities >= ({"1", "2", "3", "4", "5"} if on is None else {"1", "2", "4"})
    limits = [
        e["limit_application_certificate_related_info"]
        for e in disclosed
        if "limit_application_certificate_related_info" in e
    ]
    assert None in limits and len(limits) < len(disclosed)  # 限度額 asked for by some consents only
    assert any(not e["qualification"]["name"].isascii() for e in disclosed)
    if on is None:
        assert any(limits)
        assert any(e["elderly_recipient_certificate_info"] for e in disclosed)
        assert any(e["specific_diseases_certificate_list"] for e in disclosed)
        assert any(
            c["public_expense_designated_institutions"]
            for e in disclosed
            for c in e["public_expense_certificate_list"]
        )
        assert any(e["qualification"]["disqualification_date"] for e in disclosed)
        assert any(e["reason_of_loss"] for e in disclosed)
    assert sum(r["outcome"] == "refused" for r in general[2]) > 5
    report = verify_log()
    assert report.ok, report.broken
    assert report.total == AccessEvent.objects.count()


@pytest.mark.django_db
def test_sqlite_keeps_the_general_path(settings):
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite case")
    assert not fastbatch.enabled()
    settings.CLINICAPI_BATCH_FAST = True
    assert not fastbatch.enabled()


def _inquiry(institution, today, count) -> BatchInquiry:
    now = timezone.now()
    return BatchInquiry.objects.create(
        reception_number="1" * 20,
        institution=institution,
        client_id="client",
        submitted_at=now,
        reference_date=today,
        entry_count=count,
        normal_count=count,
        error_count=0,
        expires_at=now + batch.BATCH_RESULT_TTL,
    )


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_key_whose_period_changed_after_the_match_is_stored_as_nobody(clinic, make_patient):
    # given a consented patient whose key matched, and then a registry correction committed before
    # the storing statement ran (its 番号 is no longer the one asked)
    patient = make_patient()
    consent = register_consent(patient, clinic, items=["qualification"])
    period = patient.person.qualifications.get()
    asked = SearchKeys(
        period.insurer.number, period.symbol, period.number, period.branch, patient.person.birth_date
    )
    period.number = period.number + "9"
    period.save()
    today = rules.today()
    inquiry = _inquiry(clinic, today, 2)

    # when the storing statement runs with that key as readable
    disclosed = fastbatch._store(
        inquiry,
        clinic,
        {0: asked, 1: asked},
        [0],
        [1],
        {},
        {patient.person.pk: consent},
        {patient.person.pk: False},
        today,
    )

    # then every entry is stored, the changed one as the "nobody" answer, and nothing is disclosed
    entries = BatchResultChunk.objects.get(batch=inquiry).entries
    assert disclosed == []
    assert [e["index"] for e in entries] == [0, 1]
    assert {k: v for k, v in entries[0].items() if k != "index"} == {
        k: v for k, v in batch._nobody(0, today).items() if k != "index"
    }


@pytest.mark.postgres
@pytest.mark.django_db
def test_designated_institutions_split_on_the_whitespace_str_split_knows(clinic, make_patient):
    # given a consented patient's 公費 certificate whose 指定医療機関 are separated by Unicode
    # whitespace (an ideographic space, a no-break space, NEL, a line separator) as well as ASCII
    patient = make_patient()
    register_consent(patient, clinic, items=["qualification"])
    codes = [with_check_digit(f"13100{n:04d}") for n in range(6)]
    separators = ["\u3000", "\xa0", " \u3000 ", "\x85", "\u2028", "\t"]
    PublicExpenseCertificate.objects.create(
        person=patient.person,
        programme="54",
        payer_number=with_check_digit("5413001"),
        recipient_number=with_check_digit("000123"),
        valid_from=rules.today() - datetime.timedelta(days=30),
        designated_institutions="\u3000" + "".join(s + c for s, c in zip(separators, codes)) + "\xa0",
    )
    period = patient.person.qualifications.get()
    entry = {
        "insurer_number": period.insurer.number,
        "symbol": period.symbol,
        "number": period.number,
        "branch": period.branch,
        "birth_date": patient.person.birth_date.isoformat(),
    }
    http = _batch_client(clinic)

    # when the batch goes through the general path and then the fast one
    general = _submit(http, [entry], False)
    fast = _submit(http, [entry], True)

    # then both store the codes as str.split() splits them
    _assert_the_same(general, fast)
    (stored,) = fast[1][0]
    (certificate,) = stored["public_expense_certificate_list"]
    assert certificate["public_expense_designated_institutions"] == codes


@pytest.mark.postgres
@pytest.mark.django_db
def test_card_keys_with_an_array_literals_special_characters_are_resolved_as_the_general_path(
    clinic, make_patient
):
    # given consented patients whose 記号 and 番号 hold what an array literal treats specially
    # (quotes, backslashes, commas, braces, blanks, the word NULL, an empty 記号)
    spellings = [('A"B\\C', "1,2 {3}"), ("NULL", '"'), ("", "\\"), ("{}", "a b")]
    entries = []
    for symbol, number in spellings:
        patient = make_patient()
        register_consent(patient, clinic, items=["qualification"])
        period = patient.person.qualifications.get()
        period.symbol, period.number = symbol, number
        period.save()
        entries.append(
            {
                "insurer_number": period.insurer.number,
                "symbol": symbol,
                "number": number,
                "branch": period.branch,
                "birth_date": patient.person.birth_date.isoformat(),
            }
        )
    http = _batch_client(clinic)

    # when the batch goes through the general path and then the fast one
    general = _submit(http, entries, False)
    fast = _submit(http, entries, True)

    # then both store the same answers, each key its patient's period
    _assert_the_same(general, fast)
    (stored,) = fast[1]
    assert [
        (e["qualification"]["insured_card_symbol"], e["qualification"]["insured_identification_number"])
        for e in stored
    ] == spellings


def test_the_storing_statement_knows_every_whitespace_of_str_split():
    assert set(fastbatch.WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}


@pytest.mark.postgres
@pytest.mark.django_db
def test_stored_results_are_compressed_with_lz4(clinic):
    # given a PostgreSQL built with lz4 (migration 0005 keeps pglz elsewhere)
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        if "lz4" not in cursor.fetchone()[0]:
            pytest.skip("this PostgreSQL has no lz4")
    today = rules.today()
    inquiry = _inquiry(clinic, today, 1000)

    # when a chunk of 1,000 entries is stored (large enough to be compressed)
    BatchResultChunk.objects.create(
        batch=inquiry, number=0, entries=[batch._nobody(i, today) for i in range(1000)]
    )

    # then its entries are compressed with lz4
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_compression(entries) FROM clinicapi_batchresultchunk WHERE batch_id = %s",
            [inquiry.pk],
        )
        assert cursor.fetchone() == ("lz4",)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_storing_statement_sorts_in_memory_for_the_batch_transaction_only(clinic):
    # given a session's own work_mem
    today = rules.today()
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        (before,) = cursor.fetchone()
    assert before != fastbatch.SORT_MEMORY

    # when a batch is stored in its transaction
    with transaction.atomic():
        fastbatch._store(_inquiry(clinic, today, 1), clinic, {}, [], [0], {}, {}, {}, today)
        with connection.cursor() as cursor:
            cursor.execute("SHOW work_mem")
            during = cursor.fetchone()[0]

    # then its chunks' sort had the memory for 10,000 entries' text, and the session its own after
    with connection.cursor() as cursor:
        cursor.execute("SHOW work_mem")
        assert (during, cursor.fetchone()[0]) == (fastbatch.SORT_MEMORY, before)
