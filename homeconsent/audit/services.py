"""Writing and reading the access log.

record_access appends one event inside the caller's transaction, so the event exists exactly when
the action it records committed. It locks the head of one chain (chosen by person) until that
transaction ends: call it late in the transaction, and in one transaction that logs several
persons, log them in chain order (record order does not matter on SQLite) to avoid lock cycles.
"""

import json

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from .canonical import GENESIS, canonical_bytes, check_json_value, event_hash
from .models import AccessEvent, ActorType, Basis, ChainHead, Outcome

MAX_DETAIL_BYTES = 4096


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


def _choice(value, choices, name):
    value = str(value)
    if value not in choices.values:
        raise ValueError(f"{name} must be one of {', '.join(choices.values)}, got {value!r}")
    return value


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
    actor_type = _choice(actor_type, ActorType, "actor_type")
    basis = _choice(basis, Basis, "basis")
    outcome = _choice(outcome, Outcome, "outcome")
    actor_id = str(actor_id)
    if not actor_id:
        raise ValueError("actor_id is required")
    institution_code = str(institution_code or "")
    if len(institution_code) > 10:
        raise ValueError(f"institution_code has at most 10 characters, got {institution_code!r}")
    if isinstance(items, str):
        items = [items]
    items = [str(item) for item in items]
    detail = {} if detail is None else detail
    if not isinstance(detail, dict):
        raise ValueError("detail must be a dict")
    check_json_value(detail)
    encoded_detail = canonical_bytes(detail)
    if len(encoded_detail) > MAX_DETAIL_BYTES:
        raise ValueError(f"detail is limited to {MAX_DETAIL_BYTES} bytes of JSON")
    person_id = _person_id(person)
    chain = chain_for(person_id)

    using = router.db_for_write(AccessEvent)
    with transaction.atomic(using=using):
        head = _lock_head(chain, using)
        event = AccessEvent(
            chain=chain,
            seq=head.seq + 1,
            prev_hash=head.head_hash if head.seq else GENESIS,
            occurred_at=timezone.now(),
            actor_type=actor_type,
            actor_id=actor_id,
            institution_code=institution_code,
            person_id=person_id,
            items=items,
            basis=basis,
            outcome=outcome,
            consent_id=None if consent_id is None else str(consent_id),
            # Stored exactly as hashed (tuples become lists, and so on).
            detail=json.loads(encoded_detail),
        )
        event.hash = event_hash(event.__dict__)
        event._chained = True
        event.save(using=using, force_insert=True)
        ChainHead.objects.using(using).filter(chain=chain).update(seq=event.seq, head_hash=event.hash)
    return event


def events_for_person(person):
    """A person's access events, newest first (for the patient portal)."""
    return AccessEvent.objects.filter(person_id=_person_id(person)).order_by("-occurred_at", "-id")


def events_for_institution(institution_code: str):
    """An institution's access events, newest first (for its console)."""
    return AccessEvent.objects.filter(institution_code=institution_code).order_by("-occurred_at", "-id")
