"""Ed25519-signed checkpoints of every chain head.

A checkpoint signs, for each chain, the sequence number and hash of its last row (and that row's
time). It is stored in the Checkpoint table and written as a JSON file under
settings.AUDIT_CHECKPOINT_DIR; copies of the files kept elsewhere are what make a rewritten or
truncated log detectable even by someone who can write to the database. The signed bytes are the
canonical encoding (canonical.py) of the "payload" object.
"""

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from homeconsent.errors import ErrorCode

from . import months
from .canonical import canonical_bytes, format_time
from .models import AccessEvent, ChainHead, Checkpoint, MonthSeal

CHECKPOINT_KIND = "homeconsent-access-log-checkpoint"
ALGORITHM = "Ed25519"
PUBLIC_KEY_FILE = "signing-key.pub.pem"

HEAD_INCONSISTENT = ErrorCode(
    "audit_head_inconsistent",
    "チェーン {chain} の先頭（連番 {seq}）がアクセス記録と一致しません。verify_access_log で確認してください。",
    "The head of chain {chain} (sequence {seq}) does not match the access log; run verify_access_log.",
)


# --- the signing key ------------------------------------------------------------------------
def load_signing_key(path: Path | None = None) -> Ed25519PrivateKey | None:
    path = Path(path or settings.AUDIT_SIGNING_KEY_PATH)
    if not path.exists():
        return None
    return serialization.load_pem_private_key(path.read_bytes(), password=None)


def signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    """The checkpoint key, generated on first use into a new 0600 file (never committed)."""
    path = Path(path or settings.AUDIT_SIGNING_KEY_PATH)
    key = load_signing_key(path)
    if key is not None:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first: use theirs
        return load_signing_key(path)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return key


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


def load_public_key(path: Path) -> Ed25519PublicKey:
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 key")
    return key


def sign(payload: dict) -> tuple[str, str]:
    """(signature, public key) in hex of the canonical payload, by the access-log key."""
    key = signing_key()
    return key.sign(canonical_bytes(payload)).hex(), public_key_hex(key.public_key())


# --- month seals: the ends of the chains in months whose rows may be gone ------------------------
SEAL_KIND = "homeconsent-access-log-month-seal"


def seal_document(seal: MonthSeal) -> dict:
    return {
        "id": seal.pk,
        "algorithm": ALGORITHM,
        "payload": seal.payload,
        "signature": seal.signature,
        "public_key": seal.public_key,
    }


def expired_ends(
    using: str, trusted_key: Ed25519PublicKey | None = None, now=None
) -> dict[int, dict[int, str]]:
    """{chain: {seq: hash}} of the exits of every sealed month whose retention is over (seals.py):
    where a chain may go on after its expired months were dropped. With a trusted key a seal whose signature
    does not verify raises ValueError (without one, the writing side trusts its own table)."""
    ends: dict[int, dict[int, str]] = {}
    for seal in MonthSeal.objects.using(using).order_by("month"):
        if not months.expired(seal.month, now):
            break
        if trusted_key is not None and (
            problems := signature_problems(seal_document(seal), SEAL_KIND, trusted_key)
        ):
            raise ValueError(f"seal of {months.label(seal.month)}: {'; '.join(problems)}")
        for entry in seal.payload["chains"]:
            ends.setdefault(entry["chain"], {}).update((seq, hash_) for seq, hash_ in entry["exits"])
    return ends


# --- writing --------------------------------------------------------------------------------
def current_heads(using: str) -> list[dict]:
    """Every non-empty chain's head, checked against the row it names (or, when that row's month
    expired and was dropped, against the month's seal)."""
    heads = []
    expired = None
    for head in ChainHead.objects.using(using).filter(seq__gt=0).order_by("chain"):
        row = (
            AccessEvent.objects.using(using)
            .filter(chain=head.chain, seq=head.seq)
            .values("hash", "occurred_at")
            .first()
        )
        if row is None:
            expired = expired_ends(using) if expired is None else expired
            if expired.get(head.chain, {}).get(head.seq) != head.head_hash:
                raise HEAD_INCONSISTENT(chain=head.chain, seq=head.seq)
            continue  # the chain's newest row is in a dropped month: its seal signs it
        if row["hash"] != head.head_hash:
            raise HEAD_INCONSISTENT(chain=head.chain, seq=head.seq)
        heads.append(
            {
                "chain": head.chain,
                "seq": head.seq,
                "hash": head.head_hash,
                "occurred_at": format_time(row["occurred_at"]),
            }
        )
    return heads


def checkpoint_document(checkpoint: Checkpoint) -> dict:
    return {
        "id": checkpoint.pk,
        "algorithm": ALGORITHM,
        "payload": checkpoint.payload,
        "signature": checkpoint.signature,
        "public_key": checkpoint.public_key,
    }


def checkpoint_filename(checkpoint: Checkpoint) -> str:
    # Sortable by time, then id.
    return f"checkpoint-{checkpoint.created_at:%Y%m%dT%H%M%S%fZ}-{checkpoint.pk:08d}.json"


def write_checkpoint(directory: Path | None = None) -> tuple[Checkpoint, Path]:
    """Sign all chain heads now; store the checkpoint and write it (and the public key) out."""
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    public_hex = public_key_hex(signing_key().public_key())
    using = router.db_for_write(Checkpoint)
    created_at = timezone.now()
    heads = current_heads(using)
    payload = {
        "v": 1,
        "kind": CHECKPOINT_KIND,
        "created_at": format_time(created_at),
        "chains": settings.AUDIT_CHAINS,
        "heads": heads,
        "public_key": public_hex,
    }
    signature, _ = sign(payload)
    with transaction.atomic(using=using):
        checkpoint = Checkpoint(
            created_at=created_at, payload=payload, signature=signature, public_key=public_hex
        )
        checkpoint.save(using=using)
        path = write_document(directory, checkpoint_filename(checkpoint), checkpoint_document(checkpoint))
    return checkpoint, path


def write_document(directory: Path, name: str, document: dict) -> Path:
    """Write a signed document (and the public key beside it) atomically into the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)
    public_pem = (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (directory / PUBLIC_KEY_FILE).write_bytes(public_pem)
    return path


# --- checking -------------------------------------------------------------------------------
def signature_problems(document: dict, kind: str, trusted_key: Ed25519PublicKey) -> list[str]:
    """Problems with a signed document of this kind (empty when it is sound): its signature by the
    trusted key over the canonical payload."""
    problems = []
    payload = document.get("payload")
    if document.get("algorithm") != ALGORITHM or not isinstance(payload, dict):
        return [f"not an Ed25519 {kind} document"]
    if payload.get("kind") != kind:
        return [f"payload kind is {payload.get('kind')!r}"]
    trusted_hex = public_key_hex(trusted_key)
    if payload.get("public_key") != trusted_hex or document.get("public_key") != trusted_hex:
        problems.append("signed by a key other than the trusted signing key")
    try:
        trusted_key.verify(bytes.fromhex(document.get("signature") or ""), canonical_bytes(payload))
    except (InvalidSignature, ValueError):
        problems.append("signature does not verify")
    return problems


def check_document(
    document: dict, trusted_key: Ed25519PublicKey, using: str, expired: dict | None = None
) -> list[str]:
    """Problems with one checkpoint document (empty when it is sound): signature by the trusted
    key over the canonical payload, and every head it signs still present with the same hash, or
    gone with an expired month whose seal signs the same end (`expired`: expired_ends)."""
    problems = signature_problems(document, CHECKPOINT_KIND, trusted_key)
    if problems:
        return problems
    payload = document["payload"]
    for head in payload.get("heads", []):
        row = (
            AccessEvent.objects.using(using)
            .filter(chain=head["chain"], seq=head["seq"])
            .values("id", "hash")
            .first()
        )
        if row is None:
            if (expired or {}).get(head["chain"], {}).get(head["seq"]) == head["hash"]:
                continue  # dropped with its expired month, whose seal signs the same row
            problems.append(f"chain {head['chain']} seq {head['seq']} is signed but missing from the log")
        elif row["hash"] != head["hash"]:
            problems.append(
                f"chain {head['chain']} seq {head['seq']} id {row['id']} has hash {row['hash'][:16]}…, "
                f"the checkpoint signed {head['hash'][:16]}…"
            )
    return problems


def latest_checkpoint_file(directory: Path | None = None) -> Path | None:
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    if not directory.is_dir():
        return None
    files = sorted(directory.glob("checkpoint-*.json"))
    return files[-1] if files else None
