"""The incremental rollup of the access log into monthly counts (models.MonthlyUsage).

Each run reads, chain by chain, only the rows after the chain's watermark (RollupWatermark), in
chunks on the (chain, seq) unique index, and adds their counts and moves the watermark in one
transaction per chunk: a run that stops half-way leaves counts and watermark agreeing, and the next
run goes on from there. The cost of a run follows the rows added since the last one, not the log.

What is counted (see docs/usage.md):
- a read: a row by an institution (its API client or its staff) about a person, outcome ok, on a
  basis that reads a person's information. Its method: basis emergency / disaster / requery /
  qualification_only / paper_certificate by name; a batch inquiry's per-entry row (detail.read "batch"); otherwise
  (basis consent) the route the consent was proved by, consent.authenticator reader or app. Fetching
  a batch's results (detail.read "batch_results") is the same inquiry again and is not counted twice.
- consents registered / cancelled: rows with detail.action consent_registered / consent_cancelled.
"""

from collections import Counter

from django.db import connections, router, transaction
from django.db.models.fields.json import KeyTextTransform

from homeconsent.audit.models import AccessEvent, Action, ActorType, Basis, ChainHead, Outcome
from homeconsent.audit.months import month_of
from homeconsent.consent.models import Consent

from .models import Method, Metric, MonthlyUsage, RollupWatermark

CHUNK = 20_000
INSTITUTION_ACTORS = {ActorType.INSTITUTION_CLIENT, ActorType.INSTITUTION_STAFF}
BASIS_METHOD = {
    Basis.EMERGENCY: Method.EMERGENCY,
    Basis.DISASTER: Method.DISASTER,
    Basis.REQUERY: Method.REQUERY,
    Basis.QUALIFICATION_ONLY: Method.QUALIFICATION_ONLY,
    Basis.PAPER_CERTIFICATE: Method.PAPER_CERTIFICATE,
}
CONSENT_METRIC = {
    Action.CONSENT_REGISTERED: Metric.CONSENT_REGISTERED,
    Action.CONSENT_CANCELLED: Metric.CONSENT_CANCELLED,
}


def classify(actor_type, outcome, person_id, basis, action, read, authenticator) -> tuple[str, str] | None:
    """(metric, method) of one access-log row, or None when the row is not a use we count."""
    if action in CONSENT_METRIC:
        return (CONSENT_METRIC[action], "") if outcome == Outcome.OK else None
    if actor_type not in INSTITUTION_ACTORS or outcome != Outcome.OK or person_id is None:
        return None
    if basis in BASIS_METHOD:
        return Metric.READ, BASIS_METHOD[basis]
    if basis != Basis.CONSENT or read == "batch_results":
        return None
    if read == "batch":
        return Metric.READ, Method.BATCH
    return Metric.READ, Method.APP if authenticator == Method.APP else Method.READER


def _rows(chain: int, after: int, upto: int, size: int):
    return list(
        AccessEvent.objects.filter(chain=chain, seq__gt=after, seq__lte=upto)
        .order_by("seq")
        .annotate(action=KeyTextTransform("action", "detail"), read=KeyTextTransform("read", "detail"))
        .values_list(
            "seq", "occurred_at", "actor_type", "institution_code", "person_id", "basis", "outcome",
            "consent_id", "action", "read",
        )[:size]
    )  # fmt: skip


def _authenticators(rows) -> dict[str, str]:
    ids = {row[7] for row in rows if row[5] == Basis.CONSENT and row[7]}
    numeric = sorted(int(i) for i in ids if str(i).isdigit())
    found = {}
    for start in range(0, len(numeric), 10_000):  # under SQLite's limit of bound parameters per query
        rows = Consent.objects.filter(pk__in=numeric[start : start + 10_000]).values_list(
            "pk", "authenticator"
        )
        found.update((str(pk), auth) for pk, auth in rows)
    return found


def count_rows(rows) -> Counter:
    """Counter keyed (month, metric, method, facility_type, prefecture) of the rows from _rows."""
    authenticators = _authenticators(rows)
    counts = Counter()
    for _seq, at, actor, code, person_id, basis, outcome, consent_id, action, read in rows:
        kind = classify(actor, outcome, person_id, basis, action, read, authenticators.get(str(consent_id)))
        if kind is not None:
            code = code or ""
            counts[(month_of(at), *kind, code[2:3], code[:2])] += 1
    return counts


def _add(counts: Counter) -> None:
    """Add the counts to their rows in one statement per batch: INSERT ... ON CONFLICT DO UPDATE adds
    to an existing key (SQLite 3.24+ and PostgreSQL), so no row is read back into Python."""
    if not counts:
        return
    connection = connections[router.db_for_write(MonthlyUsage)]
    q = connection.ops.quote_name
    key = ", ".join(q(c) for c in ("month", "metric", "method", "facility_type", "prefecture"))
    table = q(MonthlyUsage._meta.db_table)
    sql = (
        f"INSERT INTO {table} ({key}, {q('count')}) VALUES (%s, %s, %s, %s, %s, %s) "
        f"ON CONFLICT ({key}) DO UPDATE SET {q('count')} = {table}.{q('count')} + excluded.{q('count')}"
    )
    adapt = connection.ops.adapt_datefield_value
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(adapt(month), *rest, n) for (month, *rest), n in counts.items()])


def do_rollup_usage(*, chunk: int = CHUNK) -> int:
    """Roll up every row appended since the last run; returns how many log rows were read.
    Each chunk is one transaction holding its chain's watermark row locked (SELECT ... FOR UPDATE),
    so two runs at once cannot count the same rows twice."""
    read = 0
    for chain, head_seq in ChainHead.objects.order_by("chain").values_list("chain", "seq"):
        RollupWatermark.objects.get_or_create(chain=chain)
        for _ in range(head_seq // chunk + 2):  # bounded: the head seen at the start; later rows wait
            with transaction.atomic():
                mark = RollupWatermark.objects.select_for_update().get(chain=chain)
                rows = _rows(chain, mark.seq, head_seq, chunk) if mark.seq < head_seq else []
                if not rows:
                    break
                _add(count_rows(rows))
                mark.seq = rows[-1][0]
                mark.save(update_fields=["seq"])
            read += len(rows)
    return read
