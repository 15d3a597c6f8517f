"""Month seals: each ended month of the log, signed, so it can be checked alone and, once its
retention is over, dropped while the chains that continue after it stay verifiable.

A seal signs, for every chain with rows in the month: how many, and where the month's rows enter and
leave the chain. A chain's rows of one month are normally one run of sequence numbers: one entry
(first seq and the hash it links to) and one exit (last seq and its hash). Times are taken by each
writer before it appends, so around midnight a row of the next month can take a sequence number
between two rows of this one: then the month has several runs, and the seal lists every entry and
exit. After an expired month is dropped, verification accepts a chain resuming after a gap only if
the row after the gap links to an exit of an expired month's seal (checkpoints.expired_ends).

The signed bytes are the canonical encoding (canonical.py) of the payload:
    {"v": 1, "kind": "homeconsent-access-log-month-seal", "month": "2026-11",
     "from": "2026-11-01T00:00:00+09:00", "to": "2026-12-01T00:00:00+09:00", "created_at": "...",
     "chains": [{"chain": 3, "rows": 120, "entries": [[1, "<prev hash>"]], "exits": [[120, "<hash>"]]}],
     "public_key": "<hex>"}
"""

import datetime
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from homeconsent.errors import ErrorCode

from . import checkpoints, months, partitions
from .canonical import format_time
from .models import AccessEvent, ChainHead, MonthSeal
from .verification import ROW_FIELDS, Break, row_break

# A writer takes its time before it waits for its chain's lock: seal a month only once writers that
# took a time in it have long finished.
SEAL_GRACE = datetime.timedelta(hours=1)

MONTH_NOT_SEALABLE = ErrorCode(
    "audit_month_not_sealable",
    "{month} はまだ封印できません（月の終わりから1時間後以降に封印します）。",
    "{month} cannot be sealed yet: months are sealed from one hour after they end.",
)


@dataclass
class MonthCheck:
    month: datetime.date
    chains: list[dict] = field(default_factory=list)
    broken: Break | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def total(self) -> int:
        return sum(entry["rows"] for entry in self.chains)


def month_summary(month: datetime.date, *, using: str | None = None, chunk_size: int = 5000) -> MonthCheck:
    """Check every row of one month (content hashes, links within each run of a chain) and sum it up
    as a seal's "chains". Reads the month's partition only (the range on occurred_at)."""
    using = using or router.db_for_read(AccessEvent)
    result = MonthCheck(month)
    rows = (
        AccessEvent.objects.using(using)
        .filter(
            occurred_at__gte=months.start_of(month), occurred_at__lt=months.start_of(months.next_month(month))
        )
        .order_by("chain", "seq")
        .values_list(*ROW_FIELDS)
    )
    postgres = connections[using].vendor == "postgresql"
    current, last = None, None  # the chain being read; (seq, hash) of its previous row
    with transaction.atomic(using=using) if postgres else nullcontext():
        for row in rows.iterator(chunk_size=chunk_size):
            values = dict(zip(ROW_FIELDS, row, strict=True))
            chain, seq = values["chain"], values["seq"]
            if current is None or current["chain"] != chain:
                if current is not None:
                    current["exits"].append(list(last))
                current, last = {"chain": chain, "rows": 0, "entries": [], "exits": []}, None
                result.chains.append(current)
            if last is not None and seq == last[0] + 1:
                previous = last[1]
            else:  # a run starts: the link into it leaves the month
                if last is not None:
                    current["exits"].append(list(last))
                current["entries"].append([seq, values["prev_hash"]])
                previous = None
            if problem := row_break(values, seq, previous):
                result.broken = problem
                return result
            current["rows"] += 1
            last = (seq, values["hash"])
    if current is not None:
        current["exits"].append(list(last))
    return result


def seal_filename(seal: MonthSeal) -> str:
    return f"seal-{seal.month:%Y%m}-{seal.pk:08d}.json"


def seal_month(
    month: datetime.date, *, now: datetime.datetime | None = None, directory: Path | None = None
) -> MonthSeal:
    """Check and sign one ended month; store the seal and write it under AUDIT_CHECKPOINT_DIR."""
    now = now or timezone.now()
    if months.start_of(months.next_month(month)) + SEAL_GRACE > now:
        raise MONTH_NOT_SEALABLE(month=months.label(month))
    using = router.db_for_write(MonthSeal)
    with transaction.atomic(using=using):
        # A barrier, held only for a moment: writers still appending (each holds its chain's head)
        # commit before the month is read; appends do not wait for the month's scan.
        list(ChainHead.objects.using(using).select_for_update().order_by("chain").values_list("chain"))
    summary = month_summary(month, using=using)
    if not summary.ok:
        raise ValueError(f"{months.label(month)} cannot be sealed: {summary.broken}")
    with transaction.atomic(using=using):
        payload = {
            "v": 1,
            "kind": checkpoints.SEAL_KIND,
            "month": months.label(month),
            "from": format_time(months.start_of(month)),
            "to": format_time(months.start_of(months.next_month(month))),
            "created_at": format_time(now),
            "chains": summary.chains,
            "public_key": checkpoints.public_key_hex(checkpoints.signing_key().public_key()),
        }
        signature, public_hex = checkpoints.sign(payload)
        seal = MonthSeal(
            month=month, created_at=now, payload=payload, signature=signature, public_key=public_hex
        )
        seal.save(using=using)
        checkpoints.write_document(
            Path(directory or settings.AUDIT_CHECKPOINT_DIR),
            seal_filename(seal),
            checkpoints.seal_document(seal),
        )
    return seal


def first_unsealed(using: str) -> datetime.date | None:
    """The month after the newest seal, or the log's first month when nothing is sealed yet."""
    latest = MonthSeal.objects.using(using).order_by("-month").values_list("month", flat=True).first()
    if latest is not None:
        return months.next_month(latest)
    connection = connections[using]
    if partitions.is_partitioned(connection):  # the partitions name the months: no scan of the log
        held = partitions.month_partitions(connection)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT min(occurred_at) FROM {partitions.DEFAULT}")  # noqa: S608 - our table
            (stray,) = cursor.fetchone()
            for month in sorted(held):
                cursor.execute(f"SELECT 1 FROM {held[month]} LIMIT 1")  # noqa: S608 - our partition
                if cursor.fetchone():
                    return month if stray is None else min(month, months.month_of(stray))
        return None if stray is None else months.month_of(stray)
    first = (
        AccessEvent.objects.using(using).order_by("occurred_at").values_list("occurred_at", flat=True).first()
    )
    return None if first is None else months.month_of(first)


def seal_ended_months(
    *, now: datetime.datetime | None = None, directory: Path | None = None
) -> list[MonthSeal]:
    """Seal, in order, every month that ended (plus the grace) and has no seal yet."""
    now = now or timezone.now()
    using = router.db_for_write(MonthSeal)
    month = first_unsealed(using)
    sealed = []
    while month is not None and months.start_of(months.next_month(month)) + SEAL_GRACE <= now:
        sealed.append(seal_month(month, now=now, directory=directory))
        month = months.next_month(month)
    return sealed


def verify_month(month: datetime.date, trusted_key, *, using: str | None = None) -> MonthCheck:
    """Check one month alone against its seal: the seal's signature, every row's hash and link, and
    the same rows, entries and exits per chain as the seal signed."""
    using = using or router.db_for_read(AccessEvent)
    seal = MonthSeal.objects.using(using).filter(month=month).first()
    result = MonthCheck(month)
    if seal is None:
        result.broken = Break(None, None, None, "seal", f"{months.label(month)} has no seal")
        return result
    problems = checkpoints.signature_problems(
        checkpoints.seal_document(seal), checkpoints.SEAL_KIND, trusted_key
    )
    if problems:
        result.broken = Break(
            None, None, None, "seal", f"seal of {months.label(month)}: {'; '.join(problems)}"
        )
        return result
    result = month_summary(month, using=using)
    if result.ok and result.chains != seal.payload["chains"]:
        signed = {entry["chain"]: entry for entry in seal.payload["chains"]}
        found = {entry["chain"]: entry for entry in result.chains}
        chain = min(c for c in signed.keys() | found.keys() if signed.get(c) != found.get(c))
        result.broken = Break(
            chain,
            None,
            None,
            "seal",
            f"{months.label(month)}: the chain's rows ({(found.get(chain) or {}).get('rows', 0)}) differ from "
            f"its seal ({(signed.get(chain) or {}).get('rows', 0)} rows, same entries and exits expected)",
        )
    return result
