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
  persons; the consent check is the general one (consents_for_read, asked now, never cached) over
  every matched person, exactly the persons the general path asks about; only the keys that match
  a period of a consented person with the same birth date go through the general resolution
  (registry.eligibility.resolve_many_by_keys with that one consent answer) and the general entry
  and log-row builders. Every other key answers the one "nobody" entry, built once.
- write_chunks: the stored results as JSON text cast to jsonb by the server, the "nobody" entry's
  text encoded once.

The access-log rows are the general path's, written by audit.services.record_accesses in the
batch's transaction. tests/clinicapi/test_fastbatch.py pins validation, stored results, counts,
fetched answers and log rows to the general path over a generated population.
"""

import datetime
import json
import re
from unicodedata import normalize

from django.conf import settings
from django.db import connections, router

from homeconsent.consent.models import ConsentItem
from homeconsent.consent.services import consents_for_read
from homeconsent.registry.codes import is_valid_insurer_number
from homeconsent.registry.eligibility import resolve_many_by_keys
from homeconsent.registry.models import Insurer, Person, Qualification
from homeconsent.registry.validation import EARLIEST_DATE, SearchKeys
from homeconsent.sqlrows import bound_cursor, table

from . import batch as general
from .models import BatchResultChunk

_BRANCH = re.compile(r"[0-9]{2}\Z")
_INSURER = re.compile(r"(?:[0-9]{6}|[0-9]{8})\Z")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


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
        and _BRANCH.match(branch)
        and _DATE.match(born)
    ):
        return None
    # 記号 and 番号 exactly as validation.normalize_card_key spells them (NFKC, stripped); NFKC
    # leaves ASCII as it is, and most keys are ASCII.
    symbol = symbol.strip() if symbol.isascii() else normalize("NFKC", symbol.strip()).strip()
    number = number.strip() if number.isascii() else normalize("NFKC", number.strip()).strip()
    if len(symbol) > 38 or not 0 < len(number) <= 38:
        return None
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
    try:
        day = datetime.date.fromisoformat(born)
    except ValueError:
        return None
    return None if day < EARLIEST_DATE or day > today else day


_MATCH_SQL: dict = {}


def _match_sql(connection) -> str:
    sql = _MATCH_SQL.get(connection.alias)
    if sql is None:
        q = connection.ops.quote_name
        sql = _MATCH_SQL[connection.alias] = (
            f"SELECT k.ord, q.{q('person_id')}, p.{q('birth_date')} "
            f"FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS k(i, s, n, b, ord) "
            f"JOIN {table(Insurer, connection)} i ON i.{q('number')} = k.i "
            f"JOIN {table(Qualification, connection)} q ON q.{q('insurer_id')} = i.{q('id')} "
            f"AND q.{q('symbol')} = k.s AND q.{q('number')} = k.n AND q.{q('branch')} = k.b "
            f"JOIN {table(Person, connection)} p ON p.{q('id')} = q.{q('person_id')}"
        )
    return sql


def _matches(card_keys: list[tuple]) -> list[tuple]:
    """(position in card_keys starting at 1, person id, birth date) of every period the card keys
    name, whatever its person's birth date (the general path's persons_filter sees them all)."""
    connection = connections[router.db_for_read(Qualification)]
    with bound_cursor(connection) as cursor:
        cursor.execute(_match_sql(connection), [list(column) for column in zip(*card_keys)])
        return cursor.fetchall()


def resolve(access, institution, keys: dict, entries: dict, on: datetime.date, reception_number) -> list:
    """batch._resolve's entries and log rows (see the module docstring for how)."""
    nobody = general._nobody(0, on)
    if not keys:
        return []
    card_keys = {(k.insurer_number, k.symbol, k.number, k.branch): None for k in keys.values()}
    card_list = list(card_keys)
    born: dict[tuple, list] = {}
    matched = set()
    for position, person_id, birth_date in _matches(card_list) if card_list else ():
        born.setdefault(card_list[position - 1], []).append((person_id, birth_date))
        matched.add(person_id)
    consents = (
        consents_for_read(access.institution_code, matched, ConsentItem.QUALIFICATION) if matched else {}
    )
    refused = matched - consents.keys()
    readable = [
        index
        for index, k in keys.items()
        if any(
            person_id in consents and birth_date == k.birth_date
            for person_id, birth_date in born.get((k.insurer_number, k.symbol, k.number, k.branch), ())
        )
    ]
    log = []
    if readable:
        readable.sort()
        results = resolve_many_by_keys(
            [keys[i] for i in readable],
            on,
            persons_filter=lambda person_ids: consents.keys() & set(person_ids),
            include_limit=lambda person_id: ConsentItem.LIMIT_CERTIFICATE in consents[person_id].items,
        )
        patient_ids = general._patient_ids(institution, results, consents)
        for index, result in zip(readable, results):
            entries[index] = general._entry_of(
                access, index, result, consents, patient_ids, reception_number, log
            )
    for index in keys:
        if index not in entries:
            entry = _Nobody(nobody)  # "index" stays the first key, as the general entry has it
            entry["index"] = index
            entries[index] = entry
    log.extend(general._refused_rows(access, refused, reception_number))
    return log


class _Nobody(dict):
    """An entry that answers "nobody" (one per index, all alike but for the index)."""


def _json_text(ordered: list) -> list[str]:
    """Each entry's JSON text; the "nobody" entries' text after their index is encoded once."""
    texts, tail = [], None
    for entry in ordered:
        if type(entry) is _Nobody:
            if tail is None:
                tail = json.dumps({k: v for k, v in entry.items() if k != "index"})[1:]
            texts.append(f'{{"index": {entry["index"]}, {tail}')
        else:
            texts.append(json.dumps(entry))
    return texts


def write_chunks(inquiry, ordered: list) -> None:
    """batch's stored chunks as JSON text cast to jsonb on the server (the general path adapts each
    chunk through the JSONField; the stored jsonb is the same value: jsonb keeps neither key order
    nor spacing)."""
    connection = connections[router.db_for_write(BatchResultChunk)]
    q = connection.ops.quote_name
    meta = BatchResultChunk._meta
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({q(meta.get_field('batch').column)}, {q('number')}, "
        f"{q('entries')}) VALUES (%s, %s, %s::jsonb)"
    )
    rows = [
        (inquiry.pk, n, "[" + ", ".join(part) + "]")
        for n, part in enumerate(general.chunks(_json_text(ordered)))
    ]
    with bound_cursor(connection) as cursor:
        cursor.executemany(sql, rows)
