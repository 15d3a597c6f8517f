"""Verification of the access log: every content hash, every previous-hash link, gapless sequences,
chain heads, and the latest signed checkpoint (in the table and in the checkpoint directory).
verify_log checks the whole log (manage.py verify_access_log); verify_chain_tail the newest rows of
one chain (the portal's check of the chain holding a person's records). Both check rows with
row_break, the one definition of a sound row.

Streams the log in (chain, seq) order, so memory stays flat on millions of rows. Appends may go on
while it runs: the heads are read first and rows appended after that are checked as they come.

Months whose retention is over may have been dropped (partitions.py): a chain may then start, or go
on after a gap, only from the exit of an expired month that its signed seal names (seals.py), and
every month still held must have the rows its seal counted.
"""

import datetime
import json
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connections, router, transaction

from . import checkpoints, months
from .canonical import EVENT_FIELDS, GENESIS, event_hash
from .models import AccessEvent, ChainHead, Checkpoint, MonthSeal

ROW_FIELDS = ("id", *EVENT_FIELDS, "hash")


@dataclass
class Break:
    chain: int
    seq: int | None
    id: int | None
    check: str  # "sequence", "prev_hash", "content_hash", "head", "checkpoint", "seal"
    message: str

    def __str__(self):
        where = [
            f"{name} {value}"
            for name, value in (("chain", self.chain), ("seq", self.seq), ("id", self.id))
            if value is not None
        ]
        return (
            f"BROKEN {' '.join(where)}: {self.check}: {self.message}"
            if where
            else f"BROKEN: {self.check}: {self.message}"
        )


@dataclass
class ChainSummary:
    chain: int
    count: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    expired: int = 0  # rows gone with expired months (anchored by their seals)


@dataclass
class Report:
    chains: dict[int, ChainSummary] = field(default_factory=dict)
    broken: Break | None = None
    checkpoint_notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def total(self) -> int:
        return sum(summary.count for summary in self.chains.values())


def row_break(values: dict, expected_seq: int, previous_hash: str | None) -> Break | None:
    """What is wrong with one row that should have `expected_seq` and link to `previous_hash`
    (None: the row before it was not read); None when it is sound."""
    chain, seq = values["chain"], values["seq"]
    if seq != expected_seq:
        return Break(
            chain, seq, values["id"], "sequence", f"expected seq {expected_seq}, found {seq} (rows missing)"
        )
    if previous_hash is not None and values["prev_hash"] != previous_hash:
        return Break(
            chain,
            seq,
            values["id"],
            "prev_hash",
            f"stores previous hash {values['prev_hash'][:16]}…, the previous row's hash is {previous_hash[:16]}…",
        )
    computed = event_hash(values)
    if values["hash"] != computed:
        return Break(
            chain,
            seq,
            values["id"],
            "content_hash",
            f"stored hash {values['hash'][:16]}… but the row's content hashes to {computed[:16]}… (row altered)",
        )
    return None


def _check_rows(
    rows, heads: dict[int, tuple[int, str]], report: Report, expired: dict, month_rows: Counter | None
) -> Break | None:
    """Every row in (chain, seq) order; `expired`: checkpoints.expired_ends; `month_rows`, when
    given, counts the rows per (month, chain) for the seals."""
    current = None
    for row in rows:
        values = dict(zip(ROW_FIELDS, row, strict=True))
        chain, seq = values["chain"], values["seq"]
        if current is None or current.chain != chain:
            if current is not None and (problem := _check_tail(current, heads, expired)):
                return problem
            current = report.chains.setdefault(chain, ChainSummary(chain))
        expected, previous = current.head_seq + 1, current.head_hash
        if seq > expected and (anchor := expired.get(chain, {}).get(seq - 1)) is not None:
            # The rows before this one went with an expired month: its seal signs where they ended.
            current.expired += seq - expected
            expected, previous = seq, anchor
        if problem := row_break(values, expected, previous):
            return problem
        current.count += 1
        current.head_seq, current.head_hash = seq, values["hash"]
        if month_rows is not None:
            month_rows[months.month_of(values["occurred_at"]), chain] += 1
    if current is not None and (problem := _check_tail(current, heads, expired)):
        return problem
    for chain, (seq, head_hash) in sorted(heads.items()):
        if seq and chain not in report.chains and expired.get(chain, {}).get(seq) != head_hash:
            return Break(chain, seq, None, "head", f"the chain head says seq {seq} but the chain has no rows")
    return None


def _check_tail(summary: ChainSummary, heads: dict[int, tuple[int, str]], expired: dict) -> Break | None:
    """The head read before the scan must be a row of the chain, with the same hash."""
    head_seq, head_hash = heads.get(summary.chain, (0, GENESIS))
    if summary.head_seq < head_seq and expired.get(summary.chain, {}).get(head_seq) != head_hash:
        return Break(
            summary.chain,
            head_seq,
            None,
            "head",
            f"the chain ends at seq {summary.head_seq} but its head says seq {head_seq} (rows removed from the end)",
        )
    return None


def _check_head_hashes(heads, using) -> Break | None:
    for chain, (seq, head_hash) in sorted(heads.items()):
        if not seq:
            continue
        row = AccessEvent.objects.using(using).filter(chain=chain, seq=seq).values("id", "hash").first()
        if row and row["hash"] != head_hash:
            return Break(chain, seq, row["id"], "head", "the row's hash differs from the chain head's")
    return None


def _trusted_key(public_key_path: Path | None, check: str):
    """(the key trusted for signed documents, None) or (None, the Break saying why there is none)."""
    try:
        if public_key_path:
            trusted = checkpoints.load_public_key(public_key_path)
        else:
            key = checkpoints.load_signing_key()
            trusted = key.public_key() if key else None
    except (OSError, ValueError) as error:
        return None, Break(None, None, None, check, f"cannot read the trusted key: {error}")
    if trusted is None:
        return None, Break(
            None, None, None, check, "no signing key to check signatures with; pass --public-key"
        )
    return trusted, None


def _check_seals(report: Report, using: str, trusted, month_rows: Counter) -> Break | None:
    """Every seal signed by the trusted key, and every month still held with the rows it counted."""
    held: dict = {}
    for (month, chain), count in month_rows.items():
        held.setdefault(month, {})[chain] = count
    for seal in MonthSeal.objects.using(using).order_by("month"):
        label = months.label(seal.month)
        if problems := checkpoints.signature_problems(
            checkpoints.seal_document(seal), checkpoints.SEAL_KIND, trusted
        ):
            return Break(None, None, None, "seal", f"seal of {label}: {'; '.join(problems)}")
        signed = {entry["chain"]: entry["rows"] for entry in seal.payload["chains"]}
        found = held.get(seal.month, {})
        if not found and signed and months.expired(seal.month):
            report.checkpoint_notes.append(f"{label}: expired and dropped, anchored by its seal")
            continue
        if found != signed:
            chain = min(c for c in signed.keys() | found.keys() if signed.get(c) != found.get(c))
            return Break(
                chain,
                None,
                None,
                "seal",
                f"{label} holds {found.get(chain, 0)} rows of the chain, its seal counted {signed.get(chain, 0)}",
            )
    return None


def _check_checkpoints(
    report: Report, using: str, trusted, key_problem, directory: Path | None, expired: dict
) -> Break | None:
    latest = Checkpoint.objects.using(using).order_by("-id").first()
    latest_file = checkpoints.latest_checkpoint_file(directory)
    if latest is None and latest_file is None:
        report.checkpoint_notes.append("no checkpoint yet")
        return None
    if trusted is None:
        return key_problem

    documents = []
    if latest is not None:
        documents.append((f"checkpoint {latest.pk} (table)", checkpoints.checkpoint_document(latest)))
    if latest_file is not None:
        try:
            file_document = json.loads(latest_file.read_text())
        except (OSError, ValueError) as error:
            return Break(None, None, None, "checkpoint", f"{latest_file.name}: unreadable: {error}")
        documents.append((f"checkpoint {file_document.get('id')} (file {latest_file.name})", file_document))
    for label, document in documents:
        problems = checkpoints.check_document(document, trusted, using, expired)
        if problems:
            return Break(None, None, None, "checkpoint", f"{label}: {'; '.join(problems)}")
        payload = document["payload"]
        report.checkpoint_notes.append(
            f"{label} of {payload['created_at']}: signature valid, {len(payload['heads'])} heads present"
        )
    if latest_file is not None:
        # A validly signed file the table lacks means checkpoint rows were removed or rewritten.
        stored = Checkpoint.objects.using(using).filter(pk=file_document.get("id")).first()
        if stored is None or checkpoints.checkpoint_document(stored) != file_document:
            return Break(
                None, None, None, "checkpoint", f"{latest_file.name} does not match the checkpoint table"
            )
    return None


def verify_log(
    *,
    using: str | None = None,
    chunk_size: int = 5000,
    public_key_path: Path | None = None,
    checkpoint_dir: Path | None = None,
) -> Report:
    using = using or router.db_for_read(AccessEvent)
    report = Report()
    heads = {head.chain: (head.seq, head.head_hash) for head in ChainHead.objects.using(using)}
    trusted, key_problem = _trusted_key(public_key_path, "checkpoint")
    sealed = MonthSeal.objects.using(using).exists()
    if sealed and trusted is None:
        report.broken = Break(None, None, None, "seal", key_problem.message)
        return report
    try:
        expired = checkpoints.expired_ends(using, trusted) if sealed else {}
    except ValueError as error:
        report.broken = Break(None, None, None, "seal", str(error))
        return report
    month_rows = Counter() if sealed else None
    # On PostgreSQL a transaction lets iterator() use a plain server-side cursor (WITH HOLD would
    # copy the whole result first); on SQLite a transaction would take the write lock.
    postgres = connections[using].vendor == "postgresql"
    with transaction.atomic(using=using) if postgres else nullcontext():
        rows = AccessEvent.objects.using(using).order_by("chain", "seq").values_list(*ROW_FIELDS)
        report.broken = _check_rows(rows.iterator(chunk_size=chunk_size), heads, report, expired, month_rows)
    if report.broken is None:
        report.broken = _check_head_hashes(heads, using)
    if report.broken is None and sealed:
        report.broken = _check_seals(report, using, trusted, month_rows)
    if report.broken is None:
        report.broken = _check_checkpoints(report, using, trusted, key_problem, checkpoint_dir, expired)
    return report


# --- the newest rows of one chain ------------------------------------------------------------------
@dataclass
class TailCheck:
    """What was checked of the newest rows of one chain, and how it came out."""

    chain: int
    broken: Break | None = None
    checked: int = 0  # rows re-hashed
    first_seq: int = 0
    last_seq: int = 0
    whole_chain: bool = False
    head_matches: bool = False
    checkpoint_at: datetime.datetime | None = None
    checkpoint_covers_seq: int = 0
    checkpoint_row_matches: bool | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None

    @property
    def problem(self) -> str:
        return self.broken.message if self.broken else ""


def verify_chain_tail(chain: int, *, bound: int, using: str | None = None) -> TailCheck:
    """Re-hash the newest `bound` rows of one chain (all of it when shorter), check every
    previous-hash link among them and that the newest is the chain head; and check that the row the
    latest checkpoint signed for this chain still has the signed hash. The checkpoint's signature
    is verify_log's business: this check holds no trusted key."""
    using = using or router.db_for_read(AccessEvent)
    head = ChainHead.objects.using(using).filter(chain=chain).first()
    result = TailCheck(chain=chain)
    if head is None or head.seq == 0:
        result.whole_chain = result.head_matches = True
        return result
    low = max(1, head.seq - bound + 1)
    rows = (
        AccessEvent.objects.using(using)
        .filter(chain=chain, seq__gte=low, seq__lte=head.seq)
        .order_by("seq")
        .values_list(*ROW_FIELDS)
    )
    previous_hash = GENESIS if low == 1 else None
    expected = low
    for row in rows.iterator(chunk_size=2000):
        values = dict(zip(ROW_FIELDS, row, strict=True))
        if not result.checked and values["seq"] > expected:
            # The chain's older rows may have gone with expired months: resume where a seal says.
            anchor = checkpoints.expired_ends(using).get(chain, {}).get(values["seq"] - 1)
            if anchor is not None:
                low = expected = values["seq"]
                previous_hash = anchor
        result.broken = row_break(values, expected, previous_hash)
        if result.broken:
            return result
        previous_hash = values["hash"]
        result.checked += 1
        expected += 1
    result.first_seq, result.last_seq = low, expected - 1
    result.whole_chain = low == 1
    if not result.checked and checkpoints.expired_ends(using).get(chain, {}).get(head.seq) == head.head_hash:
        previous_hash, result.last_seq = head.head_hash, head.seq  # the whole chain expired
    if result.last_seq != head.seq or previous_hash != head.head_hash:
        result.broken = Break(chain, head.seq, None, "head", "the chain does not end at its recorded head")
        return result
    result.head_matches = True
    checkpoint = Checkpoint.objects.using(using).order_by("-id").first()
    if checkpoint is not None:
        signed = next((h for h in checkpoint.payload.get("heads", []) if h.get("chain") == chain), None)
        result.checkpoint_at = checkpoint.created_at
        if signed:
            result.checkpoint_covers_seq = signed["seq"]
            stored = (
                AccessEvent.objects.using(using)
                .filter(chain=chain, seq=signed["seq"])
                .values_list("hash", flat=True)
                .first()
            )
            if stored is None:  # gone with an expired month: its seal must sign the same row
                stored = checkpoints.expired_ends(using).get(chain, {}).get(signed["seq"])
            result.checkpoint_row_matches = stored == signed["hash"]
            if not result.checkpoint_row_matches:
                result.broken = Break(
                    chain,
                    signed["seq"],
                    None,
                    "checkpoint",
                    f"seq {signed['seq']} differs from the signed checkpoint",
                )
    return result
