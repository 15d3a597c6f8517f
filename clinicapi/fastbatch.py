"""The batch pre-check's fast path on PostgreSQL (一括照会 of up to 10,000 entries).

The general path (clinicapi.batch) validates every entry with clean_search_keys, resolves every key
into model instances and a result through presenters, and writes the stored results and the log
through the ORM's field adaptation; for 10,000 entries that is about 1.5 s of Python. Most entries
of a batch name nobody this institution may read, and every such entry answers the same "nobody"
(validity 4). So here:

- clean: a well-formed entry (the five keys as strings: insurer number and 枝番 as plain ASCII
  digits with a valid check digit, 記号 and 番号 normalized as validation.normalize_card_key does,
  a birth date YYYY-MM-DD in range) becomes its SearchKeys directly; every other entry goes through
  the general clean_search_keys, which decides and words its errors.
- resolve: one statement matches the distinct card keys (insurer, 記号, 番号, 枝番) to their periods'
  persons; the consent check is the general one (consents_for_read's query and rule, as
  grants_for_read's (id, items) pairs; asked now, never cached) over every matched person, exactly
  the persons the general path asks about. Every key that matches no period of a consented person
  with the same birth date answers the one "nobody" entry.
- store: one more statement (_store_sql) resolves the other keys as registry.eligibility
  .resolve_many_by_keys would (period chosen per _choose, validity 1–5, certificates in force,
  限度額 when the consent includes it) and builds each stored entry as batch._result_entry would
  (the presenter's field names, in its order, and ISO dates, choice labels written into its text),
  then inserts the chunks with the "nobody" entries (one text after the index) and the error
  entries. It returns (index, person) of every disclosed entry; the patient ids go in, from one
  cipher call. The chunks are stored as the JSON text built here (a text column, migration 0006:
  nothing parses it into jsonb), and a fetch answers with the keys in their stored order, so each
  entry's keys come in the general path's order. Its costs, for 10,000 disclosed entries
  (bench/README.md): building 11 MB of JSON text and compressing it (lz4, migration 0005). The
  certificates of the valid periods are gathered once per kind into a jsonb object of their JSON
  texts, looked up by key (no plan that hangs on the planner's guess of their number), each
  entry's JSON is concat() of literal keys and to_json() values, dates are rendered by JSON
  itself, and the chunks' sort gets the memory for all that text (work_mem for the batch's
  transaction).

The access-log rows are the general path's (batch.BatchLog), written by
audit.services.append_accesses in the batch's transaction. tests/clinicapi/test_fastbatch.py pins
validation, stored results, counts, fetched answers and log rows to the general path over
generated populations, one of them mostly consented.
"""

import datetime
import json
import re
from typing import NamedTuple
from unicodedata import normalize

from django.conf import settings
from django.db import connections, router
from django.utils import timezone

from homeconsent.consent.models import ConsentItem
from homeconsent.consent.services import grants_for_read
from homeconsent.registry.codes import is_valid_insurer_number
from homeconsent.registry.models import (
    ElderlyCertificate,
    Insurer,
    LimitCertificate,
    LimitClassification,
    Person,
    PublicExpenseCertificate,
    PublicExpenseProgramme,
    Qualification,
    SpecificDiseaseCategory,
    SpecificDiseaseCertificate,
)
from homeconsent.registry.validation import EARLIEST_DATE, UNSTORABLE, SearchKeys
from homeconsent.sqlfunctions import literal as _lit
from homeconsent.sqlrows import array_literal, bound_cursor, per_connection, table

from . import batch as general
from . import presenters
from .models import BatchResultChunk
from .patients import patient_ids_for

_BRANCHES = frozenset(f"{n:02d}" for n in range(100))  # two ASCII digits
_INSURER = re.compile(r"(?:[0-9]{6}|[0-9]{8})\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
SORT_MEMORY = "64MB"  # work_mem of the storing statement (_store)
# str.split()'s whitespace (every character str.isspace() accepts), as a class of the
# storing statement's regular expression, whatever the database's locale.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def enabled() -> bool:
    using = router.db_for_write(BatchResultChunk)
    return settings.CLINICAPI_BATCH_FAST and connections[using].vendor == "postgresql"


def clean(raw_entries, today: datetime.date):
    """batch._clean's (keys by index, error entries by index), the plain entries checked here."""
    keys, invalid = {}, {}
    # A batch names few insurers and repeats birth days: each checked once per batch.
    insurers: dict[str, bool] = {}
    days: dict[str, datetime.date | None] = {}
    for index, raw in enumerate(raw_entries):
        found = _plain_keys(raw, today, insurers, days) if type(raw) is dict else None
        if found is not None:
            keys[index] = found
        else:
            general._clean_one(index, raw, today, keys, invalid)
    return keys, invalid


def _plain_keys(raw: dict, today, insurers, days) -> SearchKeys | None:
    insurer, symbol, number = raw.get("insurer_number"), raw.get("symbol"), raw.get("number")
    branch, born = raw.get("branch"), raw.get("birth_date")
    if symbol is None:
        symbol = ""
    if not (
        type(insurer) is str
        and type(symbol) is str
        and type(number) is str
        and type(branch) is str
        and type(born) is str
        and branch in _BRANCHES
    ):
        return None
    # 記号 and 番号 exactly as validation.normalize_card_key spells them (NFKC, stripped); NFKC
    # leaves ASCII as it is, and most keys are ASCII.
    symbol = symbol.strip() if symbol.isascii() else normalize("NFKC", symbol.strip()).strip()
    number = number.strip() if number.isascii() else normalize("NFKC", number.strip()).strip()
    if (
        len(symbol) > 38
        or not 0 < len(number) <= 38
        or UNSTORABLE.search(symbol)
        or UNSTORABLE.search(number)
    ):
        return None  # the general path words the error
    valid = insurers.get(insurer)
    if valid is None:
        valid = insurers[insurer] = bool(_INSURER.match(insurer)) and is_valid_insurer_number(insurer)
    if not valid:
        return None
    if born in days:
        day = days[born]
    else:
        day = days[born] = _birth_date(born, today)
    if day is None:
        return None
    return SearchKeys(insurer, symbol, number, branch, day)


def _birth_date(born: str, today) -> datetime.date | None:
    """The date of a YYYY-MM-DD text in range, else None (the general path words the error)."""
    if not _DATE.match(born):
        return None
    try:
        day = datetime.date.fromisoformat(born)
    except ValueError:
        return None
    return None if day < EARLIEST_DATE or day > today else day


@per_connection
def _match_sql(connection) -> str:
    q = connection.ops.quote_name
    return (
        f"SELECT k.ord, q.{q('person_id')}, p.{q('birth_date')} "
        f"FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS k(i, s, n, b, ord) "
        f"JOIN {table(Insurer, connection)} i ON i.{q('number')} = k.i "
        f"JOIN {table(Qualification, connection)} q ON q.{q('insurer_id')} = i.{q('id')} "
        f"AND q.{q('symbol')} = k.s AND q.{q('number')} = k.n AND q.{q('branch')} = k.b "
        f"JOIN {table(Person, connection)} p ON p.{q('id')} = q.{q('person_id')}"
    )


def _matches(card_keys: list[tuple]) -> list[tuple]:
    """(position in card_keys starting at 1, person id, birth date) of every period the card keys
    name, whatever its person's birth date (the general path's persons_filter sees them all)."""
    connection = connections[router.db_for_read(Qualification)]
    with bound_cursor(connection) as cursor:
        cursor.execute(
            _match_sql(connection), [array_literal(column, quoted=True) for column in zip(*card_keys)]
        )
        return cursor.fetchall()


def resolve_and_store(
    access, institution, inquiry, keys: dict, entries: dict, on: datetime.date, log
) -> None:
    """batch._resolve's entries, stored as batch stores them (its chunks), and its log rows into
    `log` (batch.BatchLog; see the module docstring for how). `entries` holds the error entries of
    validation."""
    asked = [((k.insurer_number, k.symbol, k.number, k.branch), k.birth_date) for k in keys.values()]
    card_list = list(dict.fromkeys(card for card, _ in asked))
    periods = _matches(card_list) if card_list else ()
    matched = {person_id for _, person_id, _ in periods}
    # consents_for_read's answer, as (id, items) pairs: the same check, asked now, never cached
    consents = grants_for_read(access.institution_code, matched, ConsentItem.QUALIFICATION) if matched else {}
    refused = matched - consents.keys()
    # A key is readable when its card keys name a period of a consented person with its birth date.
    consented = {
        (card_list[position - 1], birth_date)
        for position, person_id, birth_date in periods
        if person_id in consents
    }
    readable, nobody = [], []
    for index, card_and_birth in zip(keys, asked):
        (readable if card_and_birth in consented else nobody).append(index)
    limits = {p: ConsentItem.LIMIT_CERTIFICATE in c.items for p, c in consents.items()}
    for index, person_id in _store(
        inquiry, institution, keys, readable, nobody, entries, consents, limits, on
    ):
        log.disclosed(person_id, consents[person_id].pk, limits[person_id], index)
    log.refused(refused)


def _store(inquiry, institution, keys, readable, nobody, errors, consents, limits, on) -> list:
    """Store the batch's chunks in one statement (_store_sql): the readable keys' entries built
    there, the "nobody" ones from one text, the error entries as sent. Returns (index, person id)
    of each disclosed entry, by index. The patient ids travel in, from one cipher call."""
    connection = connections[router.db_for_write(BatchResultChunk)]
    sql = _store_sql(connection)
    persons = list(consents)
    patient_ids = patient_ids_for(institution.code, persons)
    chosen = [keys[i] for i in readable]
    # Every "nobody" entry is this text after its index.
    tail = json.dumps({k: v for k, v in general._nobody(0, on).items() if k != "index"})[1:]
    # The lists travel as text built in C or by str.join (psycopg dumps arrays value by value in
    # Python). The keys and consents as array literals, one a column: unnest() tells the planner
    # their true number (json_to_recordset's guess is 100) and reads them at a third of its cost.
    parameters = {
        "ix": array_literal(map(str, readable)),
        "ins": array_literal([k.insurer_number for k in chosen], quoted=True),
        "sym": array_literal([k.symbol for k in chosen], quoted=True),
        "num": array_literal([k.number for k in chosen], quoted=True),
        "br": array_literal([k.branch for k in chosen], quoted=True),
        "born": array_literal([k.birth_date.isoformat() for k in chosen]),
        "person": array_literal(map(str, persons)),
        "lim": array_literal(["t" if limits[p] else "f" for p in persons]),
        "consent": array_literal([str(consents[p].pk) for p in persons]),
        "pid": array_literal([patient_ids[p] for p in persons], quoted=True),
        "on": on,
        # registry.eligibility.qualification_fields' "today" (a closing date after on and today is left out)
        "today": timezone.localdate(),
        "nobody": json.dumps(nobody),
        "tail": tail,
        "errors": json.dumps([[i, json.dumps(e, ensure_ascii=False)] for i, e in errors.items()]),
        "batch": inquiry.pk,
        "whitespace": f"[{WHITESPACE}]+",
    }
    with bound_cursor(connection) as cursor:
        # The chunks' sort carries every entry's text (11 MB for 10,000 disclosed entries): in
        # memory rather than spilled to disk at the default 4 MB. For the batch's transaction only.
        cursor.execute(f"SET LOCAL work_mem = '{SORT_MEMORY}'")
        cursor.execute(sql, parameters)
        return sorted(cursor.fetchall())


def _iso(expression: str) -> str:
    """presenters' ISO date of a date column ("" for none, as eligibility._ymd then national).
    JSON renders a date as YYYY-MM-DD whatever DateStyle says, at about a third of to_char's cost."""
    return f"""COALESCE(to_json({expression}), '""'::json)"""


def _label(expression: str, choices) -> str:
    """get_FOO_display() of a choice field: its label, or the value itself when it has none."""
    whens = " ".join(f"WHEN {_lit(str(value))} THEN {_lit(str(label))}" for value, label in choices)
    return f"(CASE {expression} {whens} ELSE {expression} END)"


class _JsonText(str):
    """SQL of a value that is JSON text already (an object _text_object wrote), or NULL."""


def _fields(pairs) -> list[tuple[str, str, bool]]:
    """(API name, SQL, whether a date) of (national element name, SQL, whether it is a date column)
    under the presenter's field names (the presenter converts exactly the national names it knows
    as dates, checked here)."""
    out = []
    for name, expression, is_date in pairs:
        key, dated = presenters.national_field(name)
        if dated != is_date:
            raise RuntimeError(f"{name}: the presenter and the batch's SQL disagree on a date")
        out.append((key, expression, is_date))
    return out


def _object(pairs) -> str:
    """json_build_object of _fields(pairs); a date column becomes its ISO text."""
    out = [f"{_lit(key)}, {_iso(sql) if is_date else sql}" for key, sql, is_date in _fields(pairs)]
    return f"json_build_object({', '.join(out)})"


class _Constant(NamedTuple):
    """A value written into _text_object's text as JSON."""

    value: object


def _text_object(pairs, head=(), tail=()) -> _JsonText:
    """_object's JSON as text, for the objects every entry has: concat() of literal keys and to_json()
    values (json_build_object escapes each key again on every row: ~25 ms for 10,000 entries).
    `head` and `tail`: (API name, SQL or _Constant) pairs before and after them."""

    def plain(pairs):
        return [
            (key, value if isinstance(value, _Constant) else f"COALESCE(to_json({value})::text, 'null')")
            for key, value in pairs
        ]

    values = plain(head)
    for key, sql, is_date in _fields(pairs):
        if is_date:
            values.append((key, f"""COALESCE(to_json({sql})::text, '""')"""))
        elif isinstance(sql, _JsonText):
            values.append((key, f"COALESCE({sql}, 'null')"))
        else:
            values.append((key, f"COALESCE(to_json({sql})::text, 'null')"))
    values += plain(tail)
    pieces, literal = [], "{"
    for n, (key, value) in enumerate(values):
        literal += (", " if n else "") + json.dumps(key) + ": "
        if isinstance(value, _Constant):
            literal += json.dumps(value.value)
        else:
            pieces += [_lit(literal), value]
            literal = ""
    pieces.append(_lit(literal + "}"))
    return _JsonText(f"concat({', '.join(pieces)})")


@per_connection
def _store_sql(connection) -> str:
    """The statement behind _store: registry.eligibility.resolve_many_by_keys (with the
    persons filtered to the consented ones and 限度額 per consent) and the stored entry that
    batch._result_entry makes of its result, in SQL. Per key: the candidate periods (same card keys
    and birth date, a consented person), the period chosen as eligibility._choose chooses it, the
    validity (3 when the person has a newer period begun by `on`), the certificates in force on
    `on` of a valid period (elderly and 限度額: the newest start; diseases and 公費 by start and id)."""
    q = connection.ops.quote_name
    t = lambda model: table(model, connection)  # noqa: E731
    on, today = "%(on)s::date", "%(today)s::date"
    qualification = _text_object(
        [
            ("InsurerNumber", f"i.{q('number')}", False),
            ("InsurerName", f"i.{q('name')}", False),
            ("InsuredCardSymbol", f"q.{q('symbol')}", False),
            ("InsuredIdentificationNumber", f"q.{q('number')}", False),
            ("InsuredBranchNumber", f"q.{q('branch')}", False),
            ("InsuredCardClassification", f"q.{q('card_classification')}", False),
            ("PersonalFamilyClassification", f"q.{q('personal_family')}", False),
            ("InsuredName", f"q.{q('insured_name')}", False),
            ("Name", f"p.{q('name')}", False),
            ("NameKana", f"p.{q('name_kana')}", False),
            ("Sex1", f"p.{q('sex')}", False),
            ("Birthdate", f"p.{q('birth_date')}", True),
            ("Address", f"p.{q('address')}", False),
            ("PostNumber", f"p.{q('postal_code')}", False),
            ("QualificationDate", f"q.{q('acquired_on')}", True),
            # qualification_fields: a closing date after both `on` and today is left out
            (
                "DisqualificationDate",
                f"(CASE WHEN q.{q('lost_on')} > GREATEST({on}, {today}) THEN NULL ELSE q.{q('lost_on')} END)",
                True,
            ),
            ("InsuredCardValidDate", f"q.{q('card_valid_from')}", True),
            ("InsuredCardExpirationDate", f"q.{q('card_expires_on')}", True),
            ("InsuredPartialContributionRatio", f"q.{q('contribution_ratio')}", False),
            ("PreschoolClassification", f"(CASE WHEN q.{q('preschool')} THEN '1' ELSE '' END)", False),
        ]
    )
    in_force = f"c.{q('valid_from')} <= {on} AND c.{q('valid_until')} >= {on}"
    open_in_force = (
        f"c.{q('valid_from')} <= {on} AND (c.{q('valid_until')} IS NULL OR c.{q('valid_until')} >= {on})"
    )
    elderly = _object(
        [
            ("ElderlyRecipientCertificateDate", f"c.{q('issued_on')}", True),
            ("ElderlyRecipientValidStartDate", f"c.{q('valid_from')}", True),
            ("ElderlyRecipientValidEndDate", f"c.{q('valid_until')}", True),
            ("ElderlyRecipientContributionRatio", f"c.{q('contribution_ratio')}", False),
        ]
    )
    limit = _object(
        [
            ("LimitApplicationCertificateClassificationFlag", f"c.{q('classification')}", False),
            (
                "LimitApplicationCertificateClassification",
                _label(f"c.{q('classification')}", LimitClassification.choices),
                False,
            ),
            ("LimitApplicationCertificateValidStartDate", f"c.{q('valid_from')}", True),
            ("LimitApplicationCertificateValidEndDate", f"c.{q('valid_until')}", True),
        ]
    )
    disease = _object(
        [
            ("SpecificDiseasesDiseaseCategory", f"c.{q('disease_category')}", False),
            (
                "SpecificDiseasesDiseaseCategoryName",
                _label(f"c.{q('disease_category')}", SpecificDiseaseCategory.choices),
                False,
            ),
            ("SpecificDiseasesValidStartDate", f"c.{q('valid_from')}", True),
            ("SpecificDiseasesValidEndDate", f"c.{q('valid_until')}", True),
            ("SpecificDiseasesSelfPay", f"c.{q('self_pay_limit')}", False),
        ]
    )
    # str.split(): the codes between runs of Python's whitespace, none for an empty text.
    # (PostgreSQL's \s follows the database's locale: under C it misses U+3000, under C.UTF-8 NBSP.)
    designated = (
        f"(SELECT COALESCE(json_agg(w.code ORDER BY w.n), '[]'::json) FROM "
        f"regexp_split_to_table(c.{q('designated_institutions')}, %(whitespace)s) WITH ORDINALITY AS w(code, n) "
        f"WHERE w.code <> '')"
    )
    public = _object(
        [
            ("PublicExpenseLawNumber", f"c.{q('programme')}", False),
            ("PublicExpenseLawName", _label(f"c.{q('programme')}", PublicExpenseProgramme.choices), False),
            ("PublicExpensePayerNumber", f"c.{q('payer_number')}", False),
            ("PublicExpenseRecipientNumber", f"c.{q('recipient_number')}", False),
            ("PublicExpenseValidStartDate", f"c.{q('valid_from')}", True),
            ("PublicExpenseValidEndDate", f"c.{q('valid_until')}", True),
            ("PublicExpenseMonthlySelfPayLimit", f"c.{q('monthly_self_pay_limit')}", False),
            ("PublicExpenseDesignatedInstitutions", designated, False),
        ]
    )

    def shown(kind: str, key: str, none: str | None = None) -> _JsonText:
        # A valid period's certificates of a kind as the JSON text built above (its keys in the
        # presenter's order, which a jsonb value would not keep), else `none` (SQL NULL).
        text = f"(CASE WHEN v.validity = 1 THEN certificates.{kind} ->> {key}::text END)"
        return _JsonText(text if none is None else f"COALESCE({text}, {none})")

    result = [  # EligibilityResult.as_dict, through presenters.eligibility_result
        ("QualificationValidity", "v.validity::text", False),
        ("ReasonOfLoss", f"(CASE WHEN v.validity IN (2, 3) THEN q.{q('reason_of_loss')} ELSE '' END)", False),
        ("ReferenceDate", on, True),
        ("Qualification", _JsonText(f"(CASE WHEN q.id IS NULL THEN NULL ELSE {qualification} END)"), False),
        ("ElderlyRecipientCertificateInfo", shown("elderly", "v.id"), False),
        # An empty list is [] (json_agg over no rows is NULL).
        ("SpecificDiseasesCertificateList", shown("diseases", "v.id", "'[]'"), False),
        ("PublicExpenseCertificateList", shown("publics", "v.person", "'[]'"), False),
    ]
    limit_pair = ("LimitApplicationCertificateRelatedInfo", shown("limits", "v.id"), False)

    def entry(pairs, disclosed: bool) -> str:  # batch._result_entry (and _entry_of's _person, _consent)
        head = [
            ("index", "v.ix"),
            ("segment_of_result", _Constant(general.SEGMENT_NORMAL)),
            ("error_code", _Constant("")),
            ("patient_id", "v.pid" if disclosed else _Constant(None)),
        ]
        tail = [("_person", "q.person_id"), ("_consent", "v.consent")] if disclosed else []
        return _text_object(pairs, head, tail)

    Q, P, R = t(Qualification), t(Person), t(Insurer)
    return f"""
WITH k AS MATERIALIZED (  -- each key with its insurer's id, looked up once
    SELECT k.ix, i.id AS insurer, k.sym, k.num, k.br, k.born
      FROM unnest(%(ix)s::integer[], %(ins)s::text[], %(sym)s::text[], %(num)s::text[], %(br)s::text[],
                  %(born)s::date[]) AS k(ix, ins, sym, num, br, born)
      LEFT JOIN {R} i ON i.{q("number")} = k.ins
), a AS MATERIALIZED (
    SELECT * FROM unnest(%(person)s::bigint[], %(lim)s::boolean[], %(consent)s::bigint[], %(pid)s::text[])
                  AS a(person, lim, consent, pid)
), candidate AS (
    SELECT k.ix, q.id, q.{q("person_id")} AS person, q.{q("acquired_on")} AS acquired, a.lim, a.consent, a.pid,
           q.{q("acquired_on")} <= {on} AND (q.{q("lost_on")} IS NULL OR {on} < q.{q("lost_on")}) AS valid,
           q.{q("acquired_on")} <= {on} AS started
      FROM k JOIN {Q} q ON q.{q("insurer_id")} = k.insurer AND q.{q("symbol")} = k.sym
                         AND q.{q("number")} = k.num AND q.{q("branch")} = k.br
      JOIN {P} p ON p.id = q.{q("person_id")} AND p.{q("birth_date")} = k.born
      JOIN a ON a.person = q.{q("person_id")}
), chosen AS (
    -- eligibility._choose: the one valid period, else the latest begun (by start, then id)
    SELECT DISTINCT ON (ix) ix, id, person, acquired, lim, consent, pid,
           count(*) FILTER (WHERE valid) OVER w AS valid_count,
           count(*) FILTER (WHERE started) OVER w AS started_count,
           min(person) FILTER (WHERE started) OVER w <> max(person) FILTER (WHERE started) OVER w AS persons
      FROM candidate
    WINDOW w AS (PARTITION BY ix ORDER BY valid DESC, started DESC, acquired DESC, id DESC
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)  -- one sort for both
     ORDER BY ix, valid DESC, started DESC, acquired DESC, id DESC
), v AS MATERIALIZED (  -- (its validity is read several times below)
    -- Every key has its entry: one whose period changed since the match (a registry correction
    -- committed in between) answers nobody (4), as resolve_many_by_keys would.
    SELECT k.ix, CASE WHEN chosen.ix IS NULL THEN 4 WHEN valid_count > 1 THEN 5 WHEN valid_count = 1 THEN 1
                    WHEN started_count = 0 THEN 4 WHEN persons THEN 5
                    WHEN EXISTS (SELECT 1 FROM {Q} o WHERE o.{q("person_id")} = chosen.person
                                 AND o.{q("acquired_on")} > chosen.acquired AND o.{q("acquired_on")} <= {on}) THEN 3
                    ELSE 2 END AS validity,
           id, person, lim, consent, pid
      FROM k LEFT JOIN chosen ON chosen.ix = k.ix
), valid_period AS MATERIALIZED (  -- only a valid period shows certificates
    SELECT DISTINCT id, person, lim FROM v WHERE validity = 1
), elderly AS (  -- the certificates in force on `on`, each kind in one join (not a subquery an entry)
    SELECT DISTINCT ON (c.{q("qualification_id")}) c.{q("qualification_id")} AS id, {elderly} AS doc
      FROM valid_period vp JOIN {t(ElderlyCertificate)} c ON c.{q("qualification_id")} = vp.id
     WHERE {in_force}
     ORDER BY c.{q("qualification_id")}, c.{q("valid_from")} DESC, c.id DESC
), limits AS (
    SELECT DISTINCT ON (c.{q("qualification_id")}) c.{q("qualification_id")} AS id, {limit} AS doc
      FROM valid_period vp JOIN {t(LimitCertificate)} c ON c.{q("qualification_id")} = vp.id
     WHERE vp.lim AND {in_force}
     ORDER BY c.{q("qualification_id")}, c.{q("valid_from")} DESC, c.id DESC
), diseases AS (
    SELECT c.{q("qualification_id")} AS id, json_agg({disease} ORDER BY c.{q("valid_from")}, c.id) AS doc
      FROM valid_period vp JOIN {t(SpecificDiseaseCertificate)} c ON c.{q("qualification_id")} = vp.id
     WHERE {open_in_force}
     GROUP BY c.{q("qualification_id")}
), publics AS (
    SELECT c.{q("person_id")} AS person, json_agg({public} ORDER BY c.{q("valid_from")}, c.id) AS doc
      FROM (SELECT DISTINCT person FROM valid_period) vp
      JOIN {t(PublicExpenseCertificate)} c ON c.{q("person_id")} = vp.person
     WHERE {open_in_force}
     GROUP BY c.{q("person_id")}
), certificates AS MATERIALIZED (
    -- Each kind as one jsonb object by period (公費: by person), looked up by key: joined instead,
    -- the plan hung on the planner's guess of these lists' sizes (a nested loop over 10,000 x N).
    -- Its values are the documents' JSON text, whose keys keep their order.
    SELECT (SELECT jsonb_object_agg(id, doc::text) FROM elderly) AS elderly,
           (SELECT jsonb_object_agg(id, doc::text) FROM limits) AS limits,
           (SELECT jsonb_object_agg(id, doc::text) FROM diseases) AS diseases,
           (SELECT jsonb_object_agg(person, doc::text) FROM publics) AS publics
), built AS MATERIALIZED (
    SELECT v.ix, q.{q("person_id")} AS person,
           (CASE WHEN q.id IS NULL THEN {entry(result, False)}
                 WHEN v.lim THEN {entry([*result, limit_pair], True)}
                 ELSE {entry(result, True)} END) AS text
      FROM v CROSS JOIN certificates LEFT JOIN {Q} q ON q.id = v.id AND v.validity IN (1, 2, 3)
      LEFT JOIN {P} p ON p.id = q.{q("person_id")}
      LEFT JOIN {R} i ON i.id = q.{q("insurer_id")}
), stored AS (
    -- batch.chunks: CHUNK_SIZE entries a row, in index order
    INSERT INTO {t(BatchResultChunk)} ({q(BatchResultChunk._meta.get_field("batch").column)}, {q("number")},
                                      {q("entries")})
    SELECT %(batch)s, e.ix / {general.CHUNK_SIZE}, '[' || string_agg(e.text, ', ' ORDER BY e.ix) || ']'
      FROM (SELECT ix, text FROM built
            UNION ALL SELECT n.ix::integer, '{{"index": ' || n.ix || ', ' || %(tail)s::text
                        FROM json_array_elements_text(%(nobody)s::json) AS n(ix)
            UNION ALL SELECT (x->>0)::integer, x->>1 FROM json_array_elements(%(errors)s::json) x) e
     GROUP BY e.ix / {general.CHUNK_SIZE}
)
SELECT ix, person FROM built WHERE person IS NOT NULL"""
