"""The access log's bulk append as one PL/pgSQL function (PostgreSQL).

services.record_accesses and append_accesses write many events at once (the batch pre-check logs
up to 10,000). In Python each row costs its canonical content and SHA-256 and its share of a COPY;
here the database does it: the function takes the rows as arrays, one per column, an array of one
value standing for every row (one actor, institution, basis), plus the moment and the number of
chains. It creates the missing chain heads, locks the heads in chain order (as the Python path does,
so bulk writers cannot deadlock), numbers each chain's rows in the order given, computes each row's
canonical content (audit.canonical.content_sql) and hash, inserts every row with one INSERT … SELECT,
and moves the heads. The rows, sequence numbers and hashes are the Python path's, byte for byte:
tests/audit/test_sql_append.py pins the two paths to each other.

Only the hashing is row by row (each hash is the next row's prev_hash): a loop over the contents
built set-wise, PL/pgSQL arrays being indexed in constant time.
"""

import re

from homeconsent.sqlfunctions import OneCall, literal
from homeconsent.sqlrows import table

from .canonical import FORMAT_VERSION, GENESIS, content_sql
from .models import AccessEvent, ChainHead

# One array per column; every one but person and consent id may hold one value for all the rows.
COLUMNS = (
    ("actor_type", "text"),
    ("actor_id", "text"),
    ("institution_code", "text"),
    ("basis", "text"),
    ("outcome", "text"),
    ("items", "text"),  # canonical JSON text
    ("detail", "text"),  # canonical JSON text
    ("person_id", "bigint"),
    ("consent_id", "text"),
)
PER_ROW = ("person_id", "consent_id")
# Neighbouring keys of the canonical content whose columns a batch's rows share (occurred_at
# always: one moment a call).
ALIKE_RUNS = (("actor_id", "actor_type", "basis"), ("institution_code", "items", "occurred_at", "outcome"))
ONE_VALUE = ("occurred_at",)
_LITERAL = re.compile(r"'[^']*'\Z")


def _merged(pieces: list[str]) -> list[str]:
    """SQL pieces with neighbouring string literals joined into one (fewer arguments per row)."""
    out: list[str] = []
    for piece in pieces:
        if out and _LITERAL.match(piece) and _LITERAL.match(out[-1]):
            out[-1] = out[-1][:-1] + piece[1:]
        else:
            out.append(piece)
    return out


def _function(connection) -> tuple[str, str]:
    """(RETURNS TABLE columns, body) of the append."""
    q = connection.ops.quote_name
    H, E = table(ChainHead, connection), table(AccessEvent, connection)
    chain, seq, head_hash = (q(ChainHead._meta.get_field(n).column) for n in ("chain", "seq", "head_hash"))

    # The arrays side by side as set-returning functions in a select list: they run in lockstep,
    # the shorter ones padded with NULLs, as unnest(a, b, …) pads them, without the tuplestore that
    # unnest(a, b, …) in FROM fills per array (several times slower for 10,000 rows of 13 arrays).
    def side_by_side(arrays: list[tuple[str, str]], ordinal: str | None = None) -> str:
        listed = [f"unnest({array}) AS {name}" for array, name in arrays]
        if ordinal:
            listed.append(f"generate_series(1, cardinality({ordinal})) AS ord")
        return f"(SELECT {', '.join(listed)})"

    rows = side_by_side([(f"p_{name}", name) for name, _ in COLUMNS], "p_person_id") + " a"

    def value(name):  # a column's value in row a: its own, or the one value given for all rows
        return f"a.{name}" if name in PER_ROW else f"coalesce(a.{name}, p_{name}[1])"

    def json_of(name):  # a text column's JSON string: the one value for all rows encoded once
        return f"coalesce(to_json(a.{name})::text, v_json_{name})"

    texts = [name for name, typ in COLUMNS if typ == "text" and name not in ("items", "detail", *PER_ROW)]

    def chain_of(person):
        return f"CASE WHEN {person} IS NULL THEN 0 ELSE ({person} % p_chains)::integer END"

    mark = "\x00"
    content = {
        "actor_id": json_of("actor_id"),
        "actor_type": json_of("actor_type"),
        "basis": json_of("basis"),
        "chain": "a.chain::text",
        "consent_id": "coalesce(to_json(a.consent_id)::text, 'null')",
        "detail": value("detail"),
        "institution_code": json_of("institution_code"),
        "items": value("items"),
        "occurred_at": "v_occurred",
        "outcome": json_of("outcome"),
        "person_id": "coalesce(a.person_id::text, 'null')",
        "prev_hash": mark,
        "seq": "a.seq::text",
        "v": literal(str(FORMAT_VERSION)),
    }
    pieces = content_sql(content)
    # Runs of columns that usually hold one value for all rows (one actor, institution, outcome):
    # each run's text, the key after it included, is built once (v_run_N) when all of its columns
    # do, and only then; a row builds it itself otherwise. The same text either way: the one value's
    # JSON is each row's.
    runs, declared = [], []
    keys = sorted(content)
    for n, names in enumerate(ALIKE_RUNS):
        if list(names) != keys[keys.index(names[0]) :][: len(names)]:
            raise RuntimeError(f"{names}: not neighbours in the canonical content")
        first = pieces.index(content[names[0]]) - 1
        last = pieces.index(content[names[-1]]) + 2  # through the next key
        shared = [name for name in names if name not in ONE_VALUE]
        constant = {content[name]: f"v_json_{name}" if name in texts else f"p_{name}[1]" for name in shared}
        alike = " AND ".join(f"cardinality(p_{name}) = 1" for name in shared)
        text = "concat(" + ", ".join(_merged([constant.get(p, p) for p in pieces[first:last]])) + ")"
        declared.append(f"v_run_{n} text := CASE WHEN {alike} THEN {text} END;")
        row = "concat(" + ", ".join(_merged(pieces[first:last])) + ")"
        runs.append((first, last, f"coalesce(v_run_{n}, {row})"))
    for first, last, sql in reversed(runs):
        pieces[first:last] = [sql]
    cut = pieces.index(mark)
    # concat(): one string built per row, not one per || (the pieces are never NULL).
    quote = literal('"')
    prefix = "concat(" + ", ".join(_merged([*pieces[:cut], quote])) + ")"
    suffix = "concat(" + ", ".join(_merged([quote, *pieces[cut + 1 :]])) + ")"
    # The insert reads each row's values from arrays aggregated in the order of the hashes.
    kept = [("chain", "integer"), ("seq", "bigint"), ("prev_hash", "text"), ("hash", "text"), *COLUMNS]

    # A column of one value for all rows is not aggregated: the insert reads its one value.
    def aggregated(name):
        if name in PER_ROW:
            return f"array_agg(a.{name})"
        return f"coalesce(array_agg(a.{name}) FILTER (WHERE cardinality(p_{name}) > 1), p_{name})"

    inserted = {name: f"coalesce(s.{name}, p_{name}[1])" for name, _ in COLUMNS if name not in PER_ROW}
    inserted["occurred_at"] = "p_now"
    inserted["items"] += "::jsonb"
    inserted["detail"] += "::jsonb"
    fields = [f for f in AccessEvent._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(q(f.column) for f in fields)
    values = ", ".join(inserted.get(f.attname, f"s.{f.attname}") for f in fields)
    body = f"""
#variable_conflict use_column
DECLARE
    v_occurred text := '"' || to_char(p_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00"';
    v_chains integer[]; v_first text[]; v_prefix text[]; v_suffix text[]; v_last text; v_count integer;
    {" ".join(f"v_json_{name} text := to_json(p_{name}[1])::text;" for name in texts)}
    {" ".join(declared)}
    {" ".join(f"v_{name} {typ}[];" for name, typ in kept)}
BEGIN
    SELECT array_agg(c ORDER BY c) INTO v_chains
      FROM (SELECT DISTINCT {chain_of("p")} AS c FROM unnest(p_person_id) AS x(p)) x;
    -- The chains' first events create their heads (ON CONFLICT: a concurrent writer may create one
    -- too; this waits for it), then every head is locked in chain order.
    INSERT INTO {H} ({chain}, {seq}, {head_hash})
    SELECT c, 0, '' FROM unnest(v_chains) AS y(c) WHERE NOT EXISTS (SELECT 1 FROM {H} h WHERE h.{chain} = c) ORDER BY c
    ON CONFLICT DO NOTHING;
    PERFORM 1 FROM {H} WHERE {chain} = ANY (v_chains) ORDER BY {chain} FOR UPDATE;
    -- Each row's values, chain, seq, the hash before it when it opens its chain's part, and its
    -- content but the previous hash, ordered by chain then as given (the subquery's order feeds
    -- the aggregates).
    SELECT array_agg(a.chain), array_agg(a.seq), array_agg(a.first), array_agg({prefix}), array_agg({suffix}),
           {", ".join(aggregated(name) for name, _ in COLUMNS)}
      INTO v_chain, v_seq, v_first, v_prefix, v_suffix, {", ".join(f"v_{name}" for name, _ in COLUMNS)}
      FROM (SELECT a.*, k.chain, h.{seq} + row_number() OVER w AS seq,
                   CASE WHEN row_number() OVER w = 1
                        THEN CASE WHEN h.{seq} = 0 THEN {literal(GENESIS)} ELSE h.{head_hash} END END AS first
              FROM {rows} CROSS JOIN LATERAL (SELECT {chain_of("a.person_id")} AS chain) k
              JOIN {H} h ON h.{chain} = k.chain
            WINDOW w AS (PARTITION BY k.chain ORDER BY a.ord)
             ORDER BY k.chain, a.ord) a;
    v_count := coalesce(cardinality(v_chain), 0);
    v_prev_hash := array_fill(NULL::text, ARRAY[v_count]);
    v_hash := array_fill(NULL::text, ARRAY[v_count]);
    FOR i IN 1 .. v_count LOOP
        v_last := coalesce(v_first[i], v_last);
        v_prev_hash[i] := v_last;
        v_last := encode(sha256(convert_to(v_prefix[i] || v_last || v_suffix[i], 'UTF8')), 'hex');
        v_hash[i] := v_last;
    END LOOP;
    INSERT INTO {E} ({columns})
    SELECT {values} FROM {side_by_side([(f"v_{name}", name) for name, _ in kept])} s;
    UPDATE {H} h SET {seq} = x.seq, {head_hash} = x.hash
      FROM (SELECT DISTINCT ON (chain) chain, seq, hash FROM unnest(v_chain, v_seq, v_hash) u(chain, seq, hash)
             ORDER BY chain, seq DESC) x
     WHERE h.{chain} = x.chain;
    o_written := v_count;
    RETURN NEXT;
END;
"""
    return "o_written integer", body


APPEND = OneCall(
    "audit_append_",
    ", ".join(["p_now timestamptz", "p_chains integer", *(f"p_{name} {typ}[]" for name, typ in COLUMNS)]),
    _function,
    "bulk access-log appends",
    (AccessEvent, ChainHead),
    binary=True,
)
