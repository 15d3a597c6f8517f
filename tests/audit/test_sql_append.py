"""The access log's bulk append in SQL (audit.sqlappend, PostgreSQL) pinned to the Python path.

Over a generated population of rows (unicode and control characters in every string, rows without
a person, many chains, heads that exist and heads that do not yet, nested details, several calls in
one transaction) both paths run from the same state at the same moment, each in a transaction
rolled back afterwards: the rows, their order, sequence numbers, links and hashes must be the same,
and verify_log must accept them.
"""

import datetime
import logging
import random

import pytest
from django.db import connection, router, transaction

from homeconsent.audit import services
from homeconsent.audit.canonical import canonical_text
from homeconsent.audit.models import AccessEvent, ActorType, Basis, ChainHead, Outcome
from homeconsent.audit.sqlappend import APPEND
from homeconsent.audit.verification import verify_log
from tests.clinicapi.test_fastcheck import LOGGED

pytestmark = pytest.mark.django_db

MOMENT = datetime.datetime(2026, 12, 7, 21, 3, 4, 5, tzinfo=datetime.UTC)
STORED = [f.attname for f in AccessEvent._meta.concrete_fields if not f.primary_key]
# What strings may hold (not NUL: PostgreSQL text refuses it on either path).
ALPHABET = (
    "az09 _-/"
    + "".join(chr(c) for c in range(1, 32))  # control characters: JSON escapes
    + '"\\\x7f'
    + "äé日本語コンソール\u2028\u2029\u200b\ufeff😀𠮷"
)


def text(rng, longest):
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, longest)))


def detail(rng, depth=0):
    makers = [
        lambda: text(rng, 20),
        lambda: rng.randint(-(2**62), 2**62),
        lambda: rng.choice([True, False, None]),
        lambda: [text(rng, 5), rng.randint(-9, 9), None],
    ]
    if depth < 2:
        makers += [lambda: detail(rng, depth + 1), lambda: [detail(rng, depth + 1), [text(rng, 3)]]]
    return {text(rng, 8): rng.choice(makers)() for _ in range(rng.randint(0, 4))}


def entries(rng, persons, count):
    return [
        {
            "actor_type": rng.choice(ActorType.values),
            "actor_id": text(rng, 40),
            "institution_code": text(rng, 10) if rng.random() < 0.8 else "",
            "person": rng.choice(persons) if rng.random() < 0.85 else None,
            "items": [text(rng, 12) for _ in range(rng.randint(0, 3))],
            "basis": rng.choice(Basis.values),
            "outcome": rng.choice(Outcome.values),
            "consent_id": rng.choice([None, rng.randint(1, 10**9), text(rng, 30)]),
            "detail": detail(rng),
        }
        for _ in range(count)
    ]


def written(append):
    """The rows and heads `append` writes, verify_log's report, all rolled back afterwards."""
    last = AccessEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with transaction.atomic():
        append()
        rows = list(AccessEvent.objects.filter(pk__gt=last).order_by("pk").values_list(*STORED))
        heads = list(ChainHead.objects.order_by("chain").values_list("chain", "seq", "head_hash"))
        report = verify_log()
        transaction.set_rollback(True)
    return rows, heads, report


def in_python(calls):
    def append():
        for call in calls:
            events = [services._prepared_event(entry) for entry in call]
            services._append_in_python(events, router.db_for_write(AccessEvent), MOMENT)

    return append


def in_sql(calls):
    def append():
        for call in calls:
            events = [services._checked_event(entry) for entry in call]
            assert services._append_in_sql(services._columns_of(events), "default", MOMENT)

    return append


@pytest.fixture
def population(make_person, settings):
    """Persons over 7 chains; some chains (0 among them) already have rows, the others none yet."""
    settings.AUDIT_CHAINS = 7
    persons = [make_person().pk for _ in range(40)]
    for person in (persons[0], persons[1], None):
        services.record_access(actor_type="system", actor_id="seed", person=person, basis="operator")
    return persons


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sql_append_writes_the_python_paths_rows_and_hashes(population, seed):
    # given generated rows in three calls of one transaction, and the function installed by migrate
    assert APPEND.enabled(connection)
    rng = random.Random(seed)
    calls = [entries(rng, population, count) for count in (1, 150, 60)]

    # when the Python path and the SQL path append them, each from the same state
    python_rows, python_heads, python_report = written(in_python(calls))
    sql_rows, sql_heads, sql_report = written(in_sql(calls))

    # then the rows (in insertion order), their chains, links and hashes, and the heads are the same
    assert len(sql_rows) == 211
    assert len({row[STORED.index("chain")] for row in sql_rows}) == 7
    assert sql_rows == python_rows
    assert sql_heads == python_heads
    # and the log verifies either way
    assert python_report.ok, python_report.broken
    assert sql_report.ok, sql_report.broken


def _written_both_ways(constant: dict, columns: tuple) -> tuple:
    """(what the Python path writes, what the SQL function writes) of append_accesses' columns:
    rows, heads and the log's verification, each path from the same start."""
    as_entries = [
        constant | {"person": p, "items": i, "consent_id": c, "outcome": o, "detail": d}
        for p, i, c, o, d in zip(*columns)
    ]

    def append_in_sql():
        checked = services._append_columns(*constant.values(), *columns)
        assert services._append_in_sql(checked, "default", MOMENT)

    return written(in_python([as_entries])), written(append_in_sql)


@pytest.mark.postgres
def test_append_accesses_writes_record_accesses_rows(population):
    # given the homogeneous rows of one client (a batch pre-check's), some refused, some without a person
    rng = random.Random(7)
    persons = [rng.choice(population) if i % 9 else None for i in range(300)]
    items = [["qualification", "limit_certificate"] if i % 3 else ["qualification"] for i in range(300)]
    consents = [None if i % 5 == 0 else rng.randint(1, 99999) for i in range(300)]
    outcomes = [Outcome.REFUSED if consent is None else Outcome.OK for consent in consents]
    details = [
        {"read": "batch", "reception_number": "0" * 20, "index": i, "note": text(rng, 9)} for i in range(300)
    ]
    constant = {
        "actor_type": ActorType.INSTITUTION_CLIENT,
        "actor_id": "client-é\x01",
        "institution_code": "1312345670",
        "basis": Basis.CONSENT,
    }
    columns = (persons, items, consents, outcomes, details)

    # when append_accesses' columns go through the function and the same rows through the Python path
    python, sql = _written_both_ways(constant, columns)

    # then both write the same rows, heads and hashes, and the log verifies
    assert sql[:2] == python[:2]
    assert sql[2].ok, sql[2].broken
    # and the public function writes them too
    assert (
        services.append_accesses(
            **constant, persons=persons, items=items, consent_ids=consents, outcomes=outcomes, details=details
        )
        == 300
    )
    assert AccessEvent.objects.filter(actor_id="client-é\x01").count() == 300
    assert verify_log().ok


@pytest.mark.postgres
@pytest.mark.parametrize("count", [1, 2, 250])
def test_rows_alike_but_person_consent_and_detail_are_written_as_record_accesses_writes(population, count):
    # given a batch's disclosed rows: one client, institution, basis, outcome and items for all
    # (each run of alike columns in the content built once), each row its person, consent and index
    rng = random.Random(count)
    constant = {
        "actor_type": ActorType.INSTITUTION_CLIENT,
        "actor_id": 'client-é\x01"\\',
        "institution_code": "1312345670",
        "basis": Basis.CONSENT,
    }
    persons = [rng.choice(population) for _ in range(count)]
    items = [["limit_certificate", "qualification"]] * count
    consents = [rng.randint(1, 99999) for _ in range(count)]
    outcomes = [Outcome.OK] * count
    details = [{"read": "batch", "index": i} for i in range(count)]
    columns = (persons, items, consents, outcomes, details)

    # when they go through the function as append_accesses' columns, and through the Python path
    python, sql = _written_both_ways(constant, columns)

    # then both write the same rows, heads and hashes, and the log verifies
    assert len(sql[0]) == count
    assert sql[:2] == python[:2]
    assert sql[2].ok, sql[2].broken


@pytest.mark.parametrize("seed", range(6))
def test_numbered_details_are_each_rows_canonical_text(seed):
    # given generated common details (keys sorting before and after the numbered one, unicode,
    # control characters, nested values) and numbers of every size, None and a bool among them
    rng = random.Random(seed)
    keys = ["index", "a", "in", "indexa", "index0", "j", "Index", "", "日本", "\x01"]
    for _ in range(60):
        common = detail(rng)
        for name in rng.sample(keys[1:], rng.randint(0, 4)):
            common[name] = rng.choice([text(rng, 9), rng.randint(-5, 5), None, [1, {"x": "日"}]])
        key = rng.choice(keys)
        common.pop(key, None)
        numbers = [
            rng.choice([None, 0, -1, 7, 10**30, -(2**63), rng.randint(0, 10**6), True]) for _ in range(20)
        ]
        numbered = services.NumberedDetails(common, key, numbers)

        # when their texts are made from the template
        texts = numbered.texts()

        # then each is the canonical text of that row's detail, and the rows are those details
        rows = [common if n is None else {**common, key: n} for n in numbers]
        assert texts == [canonical_text(row) for row in rows]
        assert list(numbered) == rows and len(numbered) == len(rows)


def test_numbered_details_are_checked_as_details_are():
    for common, key, numbers in (
        ({"index": 1}, "index", [2]),  # the numbered key in common
        ({"big": "x" * 4080}, "index", [None, 1, 12345]),  # the longer rows are over 4,096 bytes
        ({"big": "日" * 1360}, "index", [10**9]),
        ({"ratio": 0.5}, "index", [1]),
        ({}, 3, [1]),
        ({}, "index", [1.5]),
    ):
        with pytest.raises(ValueError):
            services.NumberedDetails(common, key, numbers).texts()
    assert len(services.NumberedDetails({"big": "x" * 4074}, "index", [None, 1, 123]).texts()[2]) == 4096


@pytest.mark.parametrize("in_sql", [False, True])
def test_append_accesses_with_numbered_details_writes_the_rows_of_their_dicts(population, in_sql):
    # given a batch's rows: each detail the read and reception number, with the entry's index or none
    rng = random.Random(5)
    count = 200
    indexes = [None if i % 7 == 0 else rng.randint(0, 9999) for i in range(count)]
    common = {"read": "batch", "reception_number": "0123456789" * 2}
    rows = {
        "persons": [rng.choice(population) for _ in range(count)],
        "items": [["qualification"]] * count,
        "consent_ids": [None if n is None else n + 1 for n in indexes],
        "outcomes": ["refused" if n is None else "ok" for n in indexes],
    }
    constant = {"actor_type": "institution_client", "actor_id": "c", "institution_code": "1312345670"}
    constant["basis"] = "consent"
    dicts = [common if n is None else {**common, "index": n} for n in indexes]

    def through(details):
        def append():
            if in_sql:  # the SQL function (PostgreSQL)
                checked = services._append_columns(*constant.values(), *rows.values(), details)
                assert services._append_in_sql(checked, "default", MOMENT)
            else:  # append_accesses on any back end (the Python path on SQLite)
                assert services.append_accesses(**constant, **rows, details=details) == count

        return append

    if in_sql and connection.vendor != "postgresql":
        pytest.skip("the SQL function is PostgreSQL's")
    # when the rows are appended with NumberedDetails and with the same details as dicts
    with_numbers = written(through(services.NumberedDetails(common, "index", indexes)))
    with_dicts = written(through(dicts))

    # then the same rows (hashes too when both take the one moment) and heads, and the log verifies
    def logged(result):
        skip = ("occurred_at", "prev_hash", "hash") if not in_sql else ()
        return [tuple(v for name, v in zip(STORED, row) if name not in skip) for row in result[0]]

    assert logged(with_numbers) == logged(with_dicts)
    details = sorted(canonical_text(row[STORED.index("detail")]) for row in with_numbers[0])
    assert details == sorted(map(canonical_text, dicts))
    assert with_numbers[2].ok, with_numbers[2].broken


def test_append_accesses_checks_what_record_access_checks(population):
    rows = {"persons": [None], "items": [["qualification"]], "consent_ids": [None], "details": [{}]}
    for wrong in (
        {"actor_type": "stranger"},
        {"basis": "curiosity"},
        {"actor_id": ""},
        {"institution_code": "12345678901"},
        {"outcomes": ["maybe"]},
        {"details": [{"ratio": 0.5}]},
        {"details": [{"big": "x" * 5000}]},
        {"details": [{"big": "日" * 1400}]},  # 4,200 bytes in 1,411 characters
        {"persons": [None, None]},
    ):
        arguments = (
            {"actor_type": "system", "actor_id": "a", "basis": "operator", "outcomes": ["ok"]} | rows | wrong
        )
        with pytest.raises(ValueError):
            services.append_accesses(**arguments)
    assert not AccessEvent.objects.filter(actor_id="a").exists()


def test_append_accesses_on_any_back_end_writes_the_rows_record_accesses_writes(population):
    # given rows of one actor (on SQLite the Python path writes them)
    logged = ("seq", *LOGGED)
    rows = {
        "persons": [population[3], None, population[3], population[9], population[9]],
        # (an item named alone is one item, as record_access takes it)
        "items": [["qualification"], ["consent"], [], ["qualification", "limit_certificate"], "medication"],
        "consent_ids": [1, None, "x\n", 4, None],
        "outcomes": ["ok", "refused", "ok", "not_found", "ok"],
        "details": [{"index": 0}, {}, {"nested": {"a": [1, "\x1f"]}}, {"index": 3}, {}],
    }
    constant = {
        "actor_type": "institution_client",
        "actor_id": "c",
        "institution_code": "1312345670",
        "basis": "consent",
    }

    def through_append():
        services.append_accesses(**constant, **rows)

    def through_record():
        services.record_accesses(
            constant | {"person": p, "items": i, "consent_id": c, "outcome": o, "detail": d}
            for p, i, c, o, d in zip(*rows.values())
        )

    # when each writes them from the same state
    appended, recorded = written(through_append), written(through_record)

    # then the logged values are the same (the moments differ, and so the hashes) and the log verifies
    def values(rows_written):
        return [tuple(row[STORED.index(name)] for name in logged) for row in rows_written[0]]

    assert values(appended) == values(recorded)
    assert appended[2].ok, appended[2].broken


@pytest.mark.postgres
def test_a_missing_function_falls_back_to_the_python_path_with_a_warning(population, caplog):
    # given the function looked up once, then dropped under the running process (a restore)
    entry = {
        "actor_type": "system",
        "actor_id": "after-restore",
        "basis": "operator",
        "person": population[5],
    }
    name = APPEND.name(connection)
    assert name
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION {name}")
    try:
        # when accesses are recorded, twice in one transaction (the first call finds it gone)
        with caplog.at_level(logging.WARNING, logger="homeconsent.sqlfunctions"), transaction.atomic():
            assert services.record_accesses([entry, entry | {"person": None}]) == 2
            assert services.record_accesses([entry]) == 2 - 1

        # then the Python path wrote them in the same transaction, the log verifies, and it was said once
        assert AccessEvent.objects.filter(actor_id="after-restore").count() == 3
        assert verify_log().ok
        assert [r.getMessage() for r in caplog.records if "not installed" in r.getMessage()] == [
            f"{name} is not installed (run manage.py migrate); bulk access-log appends take the general path"
        ]
        assert not APPEND.enabled(connection)
    finally:
        APPEND.install(connection)
    # and once installed again the function appends
    assert APPEND.enabled(connection)
    assert services.record_accesses([entry]) == 1
    assert verify_log().ok
