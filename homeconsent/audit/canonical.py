"""Canonical encoding of access events and checkpoints, the bytes that are hashed or signed.

Encoding: UTF-8 JSON with sorted keys, no whitespace (separators "," and ":"), non-ASCII kept as
is. An event's content is the object below, including its chain, sequence and previous hash, so a
row cannot be moved, renumbered or relinked without changing its hash. Times are UTC ISO 8601
with microseconds ("2026-04-01T01:02:03.000004+00:00").

    {"v": 1, "chain": 3, "seq": 17, "prev_hash": "<64 hex>", "occurred_at": "...",
     "actor_type": "institution_client", "actor_id": "...", "institution_code": "1312345678",
     "person_id": 42, "items": ["qualification"], "basis": "consent", "outcome": "ok",
     "consent_id": "7" | null, "detail": {...}}

hash = lowercase hex SHA-256 of those bytes. The first row of a chain has prev_hash GENESIS.
"""

import hashlib
import json
from datetime import UTC, datetime

FORMAT_VERSION = 1
GENESIS = "0" * 64
EVENT_FIELDS = (
    "chain",
    "seq",
    "prev_hash",
    "occurred_at",
    "actor_type",
    "actor_id",
    "institution_code",
    "person_id",
    "items",
    "basis",
    "outcome",
    "consent_id",
    "detail",
)


# One encoder for every call (json.dumps with options builds a new one per call; the batch
# pre-check hashes up to 10,000 events at once).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_bytes(value) -> bytes:
    return canonical_text(value).encode("utf-8")


def canonical_text(value) -> str:
    return _ENCODER.encode(value)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_content(fields: dict) -> dict:
    """The hashed object, from a mapping with the EVENT_FIELDS (model values or .values() rows)."""
    content = {name: fields[name] for name in EVENT_FIELDS}
    content["v"] = FORMAT_VERSION
    content["occurred_at"] = format_time(fields["occurred_at"])
    return content


def event_hash(fields: dict, occurred_at: str | None = None) -> str:
    """`occurred_at`: format_time(fields["occurred_at"]) when the caller has it already (many
    events of one moment)."""
    if occurred_at is None:
        return hashlib.sha256(canonical_bytes(event_content(fields))).hexdigest()
    content = {name: fields[name] for name in EVENT_FIELDS}
    content["v"] = FORMAT_VERSION
    content["occurred_at"] = occurred_at
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def check_json_value(value, where="detail"):
    """Only values that survive a round trip through SQLite JSON and PostgreSQL jsonb unchanged:
    floats are refused (jsonb rewrites some, e.g. 1e20), as are non-string keys."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, (list, tuple)):
        for element in value:
            check_json_value(element, where)
        return
    if isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: keys must be strings, got {key!r}")
            check_json_value(element, where)
        return
    raise ValueError(
        f"{where}: {type(value).__name__} values are not allowed (use str, int, bool, list, dict)"
    )


def content_sql(values: dict[str, str]) -> list[str]:
    """An event's canonical content as SQL pieces to join with ||: `values` maps every key of the
    content (EVENT_FIELDS and "v") to SQL giving that value's canonical JSON text; the keys come in
    sorted order with the encoder's separators, as canonical_bytes(event_content(...)) writes them."""
    keys = sorted((*EVENT_FIELDS, "v"))
    if set(values) != set(keys):
        raise ValueError(f"the content has the keys {keys}, got {sorted(values)}")
    pieces = []
    for n, key in enumerate(keys):
        pieces.append("'" + ("{" if n == 0 else ",") + _ENCODER.encode(key) + ":'")  # plain keys: no quote
        pieces.append(values[key])
    pieces.append("'}'")
    return pieces
