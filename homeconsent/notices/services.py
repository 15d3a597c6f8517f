"""Notices for the patient (お知らせ): a read by an institution that never read this person before,
an emergency view (救急時) and a disaster view (災害時). Shown on the next sign-in until acknowledged.

Stable API:
    notices_for(person, *, pending_only=False, limit=100) -> list[Notice]
    pending_count(person) -> int
    do_acknowledge(person, event_ids=None) -> int     (None: every pending notice)
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from homeconsent.audit.models import AccessEvent, Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access

from .models import NoticeAcknowledgement

READERS = (ActorType.INSTITUTION_CLIENT, ActorType.INSTITUTION_STAFF)
SPECIAL_VIEWS = (Action.EMERGENCY_VIEW, Action.DISASTER_VIEW)


class NoticeKind:
    NEW_INSTITUTION = "new_institution"
    EMERGENCY = "emergency"
    DISASTER = "disaster"


@dataclass
class Notice:
    event: AccessEvent
    kind: str
    acknowledged: bool


def _person_id(person) -> int:
    return person if isinstance(person, int) else person.pk


def _notice_events(person_id: int):
    reads = AccessEvent.objects.filter(
        person_id=person_id, outcome=Outcome.OK, actor_type__in=READERS
    ).exclude(institution_code="")
    firsts = reads.order_by().values("institution_code").annotate(first=Min("id")).values("first")
    special = reads.filter(basis__in=(Basis.EMERGENCY, Basis.DISASTER), detail__action__in=SPECIAL_VIEWS)
    return AccessEvent.objects.filter(Q(pk__in=firsts) | Q(pk__in=special.values("pk")))


def _kind(event: AccessEvent) -> str:
    action = (event.detail or {}).get("action")
    if action == Action.EMERGENCY_VIEW:
        return NoticeKind.EMERGENCY
    if action == Action.DISASTER_VIEW:
        return NoticeKind.DISASTER
    return NoticeKind.NEW_INSTITUTION


def notices_for(person, *, pending_only=False, limit=100) -> list[Notice]:
    """Newest first."""
    person_id = _person_id(person)
    events = _notice_events(person_id)
    acknowledged = NoticeAcknowledgement.objects.filter(person_id=person_id).values("event_id")
    if pending_only:
        events = events.exclude(pk__in=acknowledged)
    rows = list(events.order_by("-occurred_at", "-id")[:limit])
    done = set(
        NoticeAcknowledgement.objects.filter(
            person_id=person_id, event_id__in=[e.pk for e in rows]
        ).values_list("event_id", flat=True)
    )
    return [Notice(e, _kind(e), e.pk in done) for e in rows]


def pending_count(person) -> int:
    person_id = _person_id(person)
    acknowledged = NoticeAcknowledgement.objects.filter(person_id=person_id).values("event_id")
    return _notice_events(person_id).exclude(pk__in=acknowledged).count()


def do_acknowledge(person, event_ids=None, *, actor_id=None, now=None) -> int:
    """Mark notices read by the patient; only the person's own notices can be acknowledged."""
    person_id = _person_id(person)
    now = now or timezone.now()
    with transaction.atomic():
        pending = _notice_events(person_id).exclude(
            pk__in=NoticeAcknowledgement.objects.filter(person_id=person_id).values("event_id")
        )
        if event_ids is not None:
            pending = pending.filter(pk__in=[int(i) for i in event_ids])
        ids = list(pending.values_list("pk", flat=True))
        NoticeAcknowledgement.objects.bulk_create(
            [NoticeAcknowledgement(person_id=person_id, event_id=i, acknowledged_at=now) for i in ids],
            ignore_conflicts=True,
        )
        if ids:
            record_access(
                actor_type=ActorType.PATIENT,
                actor_id=actor_id or f"person:{person_id}",
                person=person_id,
                items=["notices"],
                basis=Basis.SELF,
                detail={"action": Action.NOTICES_ACKNOWLEDGED, "count": len(ids)},
            )
    return len(ids)
