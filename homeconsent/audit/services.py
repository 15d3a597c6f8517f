"""Writing and reading the access log.

record_access appends one event inside the caller's transaction, so the event exists exactly when
the action it records committed. It locks the head of one chain (chosen by person) until that
transaction ends: call it late in the transaction, and in one transaction that logs several
persons, log them in chain order (record order does not matter on SQLite) to avoid lock cycles.
"""

import json

from django.conf import settings
from django.db import ProgrammingError, connections, router, transaction
from django.utils import timezone

from homeconsent.sqlfunctions import undefined_function
from homeconsent.sqlrows import bound_cursor, per_connection, prepared_cursor

from . import sqlappend
from .canonical import GENESIS, canonical_text, check_json_value, event_hash, format_time
from .models import AccessEvent, ActorType, Basis, ChainHead, Outcome

MAX_DETAIL_BYTES = 4096
_CHOICE_VALUES = {choices: frozenset(choices.values) for choices in (ActorType, Basis, Outcome)}


def chain_for(person_id) -> int:
    """Events without a person go to chain 0; others spread over AUDIT_CHAINS by person id."""
    if person_id is None:
        return 0
    return int(person_id) % settings.AUDIT_CHAINS


def _person_id(person):
    if person is None:
        return None
    if isinstance(person, int) and not isinstance(person, bool):
        return person
    pk = getattr(person, "pk", None)
    if pk is None:
        raise ValueError(f"person must be a saved Person, a person id or None, got {person!r}")
    return pk


def _lock_head(chain: int, using: str) -> ChainHead:
    heads = ChainHead.objects.using(using).select_for_update()
    try:
        return heads.get(chain=chain)
    except ChainHead.DoesNotExist:
        # First event of this chain: create the head without failing if a concurrent writer
        # creates it too (ON CONFLICT DO NOTHING waits for that writer, then the lock below queues).
        ChainHead.objects.using(using).bulk_create([ChainHead(chain=chain)], ignore_conflicts=True)
        return heads.get(chain=chain)


def record_access(
    *,
    actor_type: str,
    actor_id: str,
    person=None,
    items=(),
    basis: str,
    outcome: str = "ok",
    institution_code: str = "",
    consent_id=None,
    detail: dict | None = None,
) -> AccessEvent:
    """Append one access event: who (actor_type, actor_id, institution_code) read or was refused
    whose data (person: Person, id or None), which items, on what basis, with which outcome."""
    fields = _prepared_event(
        {
            "actor_type": actor_type,
            "actor_id": actor_id,
            "person": person,
            "items": items,
            "basis": basis,
            "outcome": outcome,
            "institution_code": institution_code,
            "consent_id": consent_id,
            "detail": detail,
        }
    )
    return _record(fields)


def _record(fields: dict, clock=None) -> AccessEvent:
    """Append prepared fields to their person's chain, timed by `clock` once the chain is locked
    (tests write past months' log with a clock of their own)."""
    chain = chain_for(fields["person_id"])
    using = router.db_for_write(AccessEvent)
    # No savepoint inside the caller's transaction (two round trips per read saved): a failed
    # append must fail the whole action anyway, never leave it committed without its row.
    with transaction.atomic(using=using, savepoint=False):
        seq, head_hash = _locked_head(chain, using)
        event = AccessEvent(
            chain=chain,
            seq=seq + 1,
            prev_hash=head_hash if seq else GENESIS,
            occurred_at=(clock or timezone.now)(),
            **fields,
        )
        event.hash = event_hash(event.__dict__)
        _append(event, using)
    return event


# record_access runs on every read of the institutions' API, so its statements are written once
# per database (as the ORM would compile them) instead of being built per call: the locked read of
# the head, then the INSERT and the head update (on PostgreSQL one statement, a data-modifying CTE).
@per_connection
def _append_sql(connection) -> tuple[str, str, str, list]:
    from django.db.models.sql import InsertQuery

    q = connection.ops.quote_name
    fields = [f for f in AccessEvent._meta.concrete_fields if not f.primary_key]
    query = InsertQuery(AccessEvent)
    query.insert_values(fields, [AccessEvent(chain=0, seq=0, occurred_at=timezone.now())])
    [(insert, _)] = query.get_compiler(using=connection.alias).as_sql()
    heads = q(ChainHead._meta.db_table)
    lock = f"SELECT {q('seq')}, {q('head_hash')} FROM {heads} WHERE {q('chain')} = %s"
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    move = f"UPDATE {heads} SET {q('seq')} = %s, {q('head_hash')} = %s WHERE {q('chain')} = %s"
    if connection.vendor == "postgresql":
        move = f"WITH e AS ({insert} RETURNING {q('id')}) {move} RETURNING (SELECT {q('id')} FROM e)"
        insert = ""
    return lock, insert, move, fields


def _locked_head(chain: int, using: str) -> tuple[int, str]:
    """(seq, head_hash) of a chain, its row locked until the transaction ends."""
    connection = connections[using]
    with prepared_cursor(connection) as cursor:
        cursor.execute(_append_sql(connection)[0], [chain])
        row = cursor.fetchone()
    if row is None:
        head = _lock_head(chain, using)  # the chain's first event creates its head
        return head.seq, head.head_hash
    return row[0], row[1]


def _append(event: AccessEvent, using: str) -> None:
    """INSERT the event and move its chain's head to it; sets event.pk."""
    connection = connections[using]
    _, insert, move, fields = _append_sql(connection)
    values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    with prepared_cursor(connection) as cursor:
        if insert:
            cursor.execute(insert, values)
            event.pk = cursor.lastrowid
            cursor.execute(move, [event.seq, event.hash, event.chain])
        else:
            cursor.execute(move, [*values, event.seq, event.hash, event.chain])
            event.pk = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, using


def _prepared_event(entry: dict) -> dict:
    """Validate one entry as record_access does; returns its field values (no chain fields yet)."""
    event = _checked_event(entry)
    event["detail"] = json.loads(event["detail"])  # stored exactly as hashed
    return event


def _checked_event(entry: dict, valid=_CHOICE_VALUES) -> dict:
    """_prepared_event's field values, the detail as its canonical JSON text."""
    detail = _detail_text(entry.get("detail"))
    actor_id = str(entry["actor_id"])
    if not actor_id:
        raise ValueError("actor_id is required")
    institution_code = str(entry.get("institution_code") or "")
    if len(institution_code) > 10:
        raise ValueError(f"institution_code has at most 10 characters, got {institution_code!r}")
    items = entry.get("items", ())
    items = [items] if isinstance(items, str) else [str(item) for item in items]
    consent_id = entry.get("consent_id")
    event = {
        "actor_type": str(entry["actor_type"]),
        "actor_id": actor_id,
        "institution_code": institution_code,
        "person_id": _person_id(entry.get("person")),
        "items": items,
        "basis": str(entry["basis"]),
        "outcome": str(entry.get("outcome", "ok")),
        "consent_id": None if consent_id is None else str(consent_id),
        "detail": detail,
    }
    for name, choices in (("actor_type", ActorType), ("basis", Basis), ("outcome", Outcome)):
        if event[name] not in valid[choices]:
            raise ValueError(f"{name} must be one of {', '.join(choices.values)}, got {event[name]!r}")
    return event


def _detail_text(detail) -> str:
    """A detail's canonical JSON text, checked (a dict of values that survive jsonb, size)."""
    detail = {} if detail is None else detail
    if not isinstance(detail, dict):
        raise ValueError("detail must be a dict")
    check_json_value(detail)
    return _sized(canonical_text(detail))


def _sized(text: str) -> str:
    # UTF-8 spends at most 4 bytes a character: most details are measured without encoding them.
    if len(text) * 4 > MAX_DETAIL_BYTES and len(text.encode("utf-8")) > MAX_DETAIL_BYTES:
        raise ValueError(f"detail is limited to {MAX_DETAIL_BYTES} bytes of JSON")
    return text


class NumberedDetails:
    """The details of many rows that differ in one whole number: row i's detail is `common` with
    `key` set to numbers[i] (left out when that is None), e.g. a batch's entry index. As a sequence
    it gives each row's dict; append_accesses writes their canonical texts from one template
    instead of encoding every row."""

    def __init__(self, common: dict, key: str, numbers: list):
        if not isinstance(key, str):
            raise ValueError(f"detail: keys must be strings, got {key!r}")
        if key in common:
            raise ValueError(f"{key!r} is the numbered key; common must not hold it")
        self.common, self.key, self.numbers = common, key, numbers

    def __len__(self):
        return len(self.numbers)

    def __iter__(self):
        for number in self.numbers:
            yield self.common if number is None else {**self.common, self.key: number}

    def texts(self) -> list[str]:
        """canonical_text of each row's detail, checked as _detail_text checks it."""
        plain = _detail_text(self.common)
        # Sorted keys: the numbered key goes between the common keys that sort before and after it.
        before = _detail_text({k: v for k, v in self.common.items() if k < self.key})[1:-1]
        after = _detail_text({k: v for k, v in self.common.items() if k > self.key})[1:-1]
        head = "{" + (before + "," if before else "") + canonical_text(self.key) + ":"
        tail = ("," + after if after else "") + "}"
        out = []
        for number in self.numbers:
            if number is None:
                out.append(plain)
            elif type(number) is int:  # (not bool; str(int) is its JSON)
                out.append(_sized(head + str(number) + tail))
            else:
                out.append(_detail_text({**self.common, self.key: number}))
        return out


def _insert_many(events: list[dict], using: str) -> None:
    """INSERT every event with one executemany (one statement, run per row by the driver): no
    per-row round trips and no parameter limit per statement; on PostgreSQL one COPY instead.
    The statement is the one Django compiles for a single AccessEvent; values are prepared by
    the fields themselves (JSON and datetime adaptation per back end)."""
    from django.db.models.sql import InsertQuery

    connection = connections[using]
    fields = [f for f in AccessEvent._meta.concrete_fields if not f.primary_key]
    if connection.vendor == "postgresql":
        _copy_many(events, fields, connection)
        return
    query = InsertQuery(AccessEvent)
    query.insert_values(fields, [AccessEvent(**events[0])])
    [(sql, _)] = query.get_compiler(using=using).as_sql()
    plain = {
        f.attname
        for f in fields
        if f.get_internal_type()
        in ("CharField", "PositiveIntegerField", "PositiveBigIntegerField", "ForeignKey")
    }
    shared = {"occurred_at": None}
    rows = []
    for event in events:
        row = []
        for f in fields:
            value = event[f.attname]
            if f.attname in plain:
                row.append(value)
            elif f.attname in shared:  # one moment for the whole call: adapted once
                if shared[f.attname] is None:
                    shared[f.attname] = f.get_db_prep_save(value, connection)
                row.append(shared[f.attname])
            else:
                row.append(f.get_db_prep_save(value, connection))
        rows.append(row)
    with bound_cursor(connection) as cursor:  # no client-side quoting of thousands of rows
        cursor.executemany(sql, rows)


def _copy_many(events: list[dict], fields: list, connection) -> None:
    """PostgreSQL: the rows in one COPY (the batch pre-check writes up to 10,000 at once; COPY
    costs the server and psycopg a fraction of 10,000 INSERTs). The JSON columns travel as the
    JSON text jsonb reads, dumped as the JSONField dumps it; the moment as one aware datetime.
    Django's cursor wrappers do not see a COPY: it is counted as no statement."""
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in fields)
    sql = f"COPY {q(AccessEvent._meta.db_table)} ({columns}) FROM STDIN"
    as_json = {f.attname for f in fields if f.get_internal_type() == "JSONField"}
    dumps = json.dumps
    with bound_cursor(connection) as cursor, cursor.copy(sql) as copy:
        for event in events:
            copy.write_row(
                [dumps(event[f.attname]) if f.attname in as_json else event[f.attname] for f in fields]
            )


def _move_heads(heads: list, using: str) -> None:
    connection = connections[using]
    q = connection.ops.quote_name
    sql = f"UPDATE {q(ChainHead._meta.db_table)} SET {q('seq')} = %s, {q('head_hash')} = %s WHERE {q('chain')} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(head.seq, head.head_hash, head.chain) for head in heads])


def record_accesses(entries) -> int:
    """Append many access events in one go (the batch pre-check logs one per entry).

    Each entry is a dict of record_access's keyword arguments and is validated alike. The chain
    rules are record_access's: events go to their person's chain in the order given, each chain's
    head is locked (in chain order, so two bulk writers cannot deadlock) until the caller's
    transaction ends. On PostgreSQL the database numbers, hashes and inserts the rows in one call
    (audit.sqlappend); elsewhere they are inserted with one executemany. Queries do not grow with
    the number of entries. Returns how many events were written.
    """
    events = [_checked_event(entry) for entry in entries]
    if not events:
        return 0
    using, moment = router.db_for_write(AccessEvent), timezone.now()
    if not _append_in_sql(_columns_of(events), using, moment):
        _append_in_python(_decoded(events), using, moment)
    return len(events)


def append_accesses(
    *,
    actor_type: str,
    actor_id: str,
    institution_code: str = "",
    basis: str,
    persons: list,
    items: list,
    consent_ids: list,
    outcomes: list,
    details: list,
) -> int:
    """record_accesses for many events of one actor, institution and basis (the batch pre-check's):
    the per-row columns as lists of the same length, row i being (persons[i]: a person id or None,
    items[i]: a list of item names, consent_ids[i]: a consent id or None, outcomes[i], details[i]:
    a dict; or details as NumberedDetails). The constants are checked once, outcomes and details
    per row as record_access checks them; persons are trusted to be ids. The same rows, chains and
    hashes as record_accesses, with little Python per row on PostgreSQL. Returns how many events
    were written."""
    columns = _append_columns(
        actor_type, actor_id, institution_code, basis, persons, items, consent_ids, outcomes, details
    )
    if not persons:
        return 0
    if _append_in_sql(columns, router.db_for_write(AccessEvent), timezone.now()):
        return len(persons)
    return record_accesses(
        {
            "actor_type": actor_type,
            "actor_id": actor_id,
            "institution_code": institution_code,
            "basis": basis,
            "person": person,
            "items": row_items,
            "consent_id": consent_id,
            "outcome": outcome,
            "detail": detail,
        }
        for person, row_items, consent_id, outcome, detail in zip(
            persons, items, consent_ids, outcomes, details
        )
    )


def _append_columns(
    actor_type, actor_id, institution_code, basis, persons, items, consent_ids, outcomes, details
) -> dict:
    """append_accesses' rows checked, as the function's columns (the constants given once)."""
    count = len(persons)
    if not len(items) == len(consent_ids) == len(outcomes) == len(details) == count:
        raise ValueError("persons, items, consent_ids, outcomes and details must have the same length")
    constant = _checked_event(
        {"actor_type": actor_type, "actor_id": actor_id, "institution_code": institution_code, "basis": basis}
    )
    outcomes = [str(outcome) for outcome in outcomes]
    wrong = set(outcomes) - _CHOICE_VALUES[Outcome]
    if wrong:
        raise ValueError(f"outcome must be one of {', '.join(Outcome.values)}, got {sorted(wrong)!r}")
    return {
        "actor_type": [constant["actor_type"]],
        "actor_id": [constant["actor_id"]],
        "institution_code": [constant["institution_code"]],
        "basis": [constant["basis"]],
        "outcome": outcomes,
        "items": _items_texts(items),
        "detail": (
            details.texts()
            if isinstance(details, NumberedDetails)
            else [_detail_text(detail) for detail in details]
        ),
        "person_id": list(persons),
        "consent_id": [None if consent_id is None else str(consent_id) for consent_id in consent_ids],
    }


def _columns_of(events: list[dict]) -> dict:
    """Checked events as the function's columns, one value per row."""
    columns = {name: [event[name] for event in events] for name, _ in sqlappend.COLUMNS}
    columns["items"] = _items_texts(columns["items"])
    return columns


def _decoded(events: list[dict]) -> list[dict]:
    """Checked events as _prepared_event gives them (the detail as stored)."""
    for event in events:
        event["detail"] = json.loads(event["detail"])
    return events


def _items_texts(items: list) -> list[str]:
    """Each row's items as canonical JSON text (a call repeats a few lists: each encoded once)."""
    texts: dict[tuple, str] = {}
    out = []
    for row in items:
        key = (row,) if isinstance(row, str) else tuple(row)  # one item named alone, as record_access
        text = texts.get(key)
        if text is None:
            text = texts[key] = canonical_text([str(item) for item in key])
        out.append(text)
    return out


def _append_in_sql(columns: dict, using: str, moment) -> bool:
    """Append the rows with audit.sqlappend's function (PostgreSQL); False when it is missing, then
    the caller appends them in Python. `columns`: sqlappend.COLUMNS' lists, one value for all rows
    or one per row."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    name = sqlappend.APPEND.name(connection)
    if not name:
        return False
    parameters = [moment, settings.AUDIT_CHAINS]
    for column, _ in sqlappend.COLUMNS:
        values = columns[column]
        # One value for all the rows travels once (the function reads an array of one so).
        alike = column not in sqlappend.PER_ROW and values.count(values[0]) == len(values)
        parameters.append(values[:1] if alike else values)
    try:
        # A savepoint: if the function was dropped under us (a restore), the transaction goes on.
        with transaction.atomic(using=using):
            sqlappend.APPEND.call(connection, name, parameters)
    except ProgrammingError as exc:
        if not undefined_function(exc):
            raise
        sqlappend.APPEND.forget(connection)
        return False
    return True


def _append_in_python(events: list[dict], using: str, moment) -> None:
    """Append prepared events (each to its person's chain, in the order given), hashed in Python."""
    by_chain: dict[int, list] = {}
    for event in events:
        event["chain"] = chain_for(event["person_id"])
        by_chain.setdefault(event["chain"], []).append(event)
    with transaction.atomic(using=using, savepoint=False):
        heads = {}
        existing = ChainHead.objects.using(using).filter(chain__in=by_chain).values_list("chain", flat=True)
        missing = sorted(set(by_chain) - set(existing))
        if missing:
            ChainHead.objects.using(using).bulk_create(
                [ChainHead(chain=c) for c in missing], ignore_conflicts=True
            )
        locked = (
            ChainHead.objects.using(using).select_for_update().filter(chain__in=by_chain).order_by("chain")
        )
        for head in locked:
            heads[head.chain] = head
        when = format_time(moment)
        ordered = []
        for chain in sorted(by_chain):
            head = heads[chain]
            seq, prev = head.seq, head.head_hash if head.seq else GENESIS
            for event in by_chain[chain]:
                seq += 1
                event["seq"], event["prev_hash"], event["occurred_at"] = seq, prev, moment
                event["hash"] = prev = event_hash(event, when)
                ordered.append(event)
            head.seq, head.head_hash = seq, prev
        _insert_many(ordered, using)
        _move_heads([heads[chain] for chain in sorted(by_chain)], using)


def events_for_person(person):
    """A person's access events, newest first (for the patient portal)."""
    return AccessEvent.objects.filter(person_id=_person_id(person)).order_by("-occurred_at", "-id")


def events_for_institution(institution_code: str):
    """An institution's access events, newest first (for its console)."""
    return AccessEvent.objects.filter(institution_code=institution_code).order_by("-occurred_at", "-id")
