"""The consent flow on a page as one server-side draft (DESIGN.md, Consent; issue 12 item 1).

A shared tablet passes from patient to patient, so nothing a patient chose may outlive their turn:

    do_start_draft(device, institution, flow, *, session=None, items=None) -> ConsentDraft
        Ends every earlier draft of the device (the previous patient's, done or not), then opens one.
    do_end_drafts(device) -> int
        "Start for the next patient" / "stop": every draft of the device ends.
    do_set_visit_date / do_set_items / do_set_limit (open or frozen draft; a change reopens it)
    do_confirm_draft(draft, *, available_until=None) -> ConsentDraft     freezes the terms
    do_issue_draft_challenge(draft) -> CardAuthChallenge                 binds the frozen terms
    do_register_consent_from_draft(draft, verified) -> Consent           done, terminal

frozen_terms(draft) is what the card signs and what gets registered: nothing else is. Refusals are
HomeConsentError: consent_draft_ended (the procedure ended: another patient started, or it was
done), consent_draft_not_confirmed (the card step before confirming, or the choices changed since).
Drafts hold no personal data until done, so their steps write no access-log rows; the consent they
register does (services.do_register_consent), in the same transaction that marks the draft done.
"""

import datetime
import math
import secrets

from django.conf import settings
from django.db import router, transaction
from django.utils import timezone

from homeconsent import ratelimit
from homeconsent.audit.models import ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode

from . import rules, services
from .models import ConsentDraft, ConsentItem, ConsentKind, DraftStatus

# The flows a draft can be for, by URL segment: the consent kind each registers.
FLOW_KINDS = {"home": ConsentKind.HOME_VISIT, "telehealth": ConsentKind.TELEHEALTH}
# How long a done page names whose consent was registered: long enough to check it, short enough
# that a device left alone does not keep showing it.
DONE_SHOWN_FOR = datetime.timedelta(minutes=10)
LIVE = (DraftStatus.OPEN, DraftStatus.FROZEN, DraftStatus.DONE)

DRAFT_ENDED = ErrorCode(
    "consent_draft_ended",
    "この同意の手続きは終わっています。同意するときは、最初から始めてください。",
    "This consent procedure has ended. To consent, start again from the beginning.",
)
DRAFT_NOT_CONFIRMED = ErrorCode(
    "consent_draft_not_confirmed",
    "同意の内容がまだ確認されていないか、確認の後で変わりました。確認の画面からやり直してください。",
    "What you consent to has not been confirmed yet, or it changed after you confirmed it. "
    "Please go back to the check screen.",
)
DRAFT_FLOW_UNKNOWN = ErrorCode(
    "consent_flow_unknown",
    "この同意の手続き「{flow}」はありません。",
    "There is no consent procedure '{flow}'.",
)

START_RATE_LIMITED = ErrorCode(
    "consent_start_rate_limited",
    "短い時間に同意の手続きを何度も始めたため、いまは受け付けられません。{minutes}分ほど待ってから、もう一度お試しください。",
    "A consent was started too many times in a short while. Please wait about {minutes} minutes and try again.",
)
START_RATE_KEY_PREFIX = "homeconsent:draft-rate"


def check_start_rate(client_ip: str, **scopes) -> None:
    """Count one start of a flow (a public POST that writes a row); refuse past a limit.

    settings.CONSENT_START_RATE_LIMITS per client IP and per each scope given (entry=, session=), in
    the card challenges' window (settings.CHALLENGE_RATE_WINDOW), counted apart from them. Raises
    consent_start_rate_limited with retry_after (seconds).
    """
    window = max(1, int(settings.CHALLENGE_RATE_WINDOW.total_seconds()))
    limits = settings.CONSENT_START_RATE_LIMITS
    counted = {scope: (value, limits.get(scope, 0)) for scope, value in {"ip": client_ip, **scopes}.items()}
    if ratelimit.count_and_check(START_RATE_KEY_PREFIX, counted, window):
        raise START_RATE_LIMITED(minutes=max(1, math.ceil(window / 60)), retry_after=window)


def _using():
    return router.db_for_write(ConsentDraft)


def new_device_id() -> str:
    return secrets.token_urlsafe(24)


def draft_for(device: str, key) -> ConsentDraft | None:
    """The draft `key` of this device, or None (unknown, or another device's: both look the same)."""
    if not device or not key or not isinstance(key, str) or len(key) > 43:
        return None
    return (
        ConsentDraft.objects.select_related("institution", "session", "consent__person")
        .filter(device=device, key=key)
        .first()
    )


def is_live(draft: ConsentDraft) -> bool:
    return draft.ended_at is None and draft.status in LIVE


def done_shown(draft: ConsentDraft, now=None) -> bool:
    """Whether the done page may still say whose consent was registered."""
    return (
        draft.status == DraftStatus.DONE
        and draft.ended_at is None
        and (now or timezone.now()) - draft.done_at < DONE_SHOWN_FOR
    )


def _locked(draft: ConsentDraft, *allowed) -> ConsentDraft:
    """The draft re-read under a row lock, refused unless it is live and in one of `allowed`."""
    locked = (
        ConsentDraft.objects.select_for_update(of=("self",))
        .select_related("institution", "session")
        .get(pk=draft.pk)
    )
    if locked.ended_at is not None or locked.status not in allowed:
        raise DRAFT_ENDED()
    return locked


def do_end_drafts(device: str, *, now=None) -> int:
    """End every draft of the device: open ones become ended, a done one stops showing its patient."""
    now = now or timezone.now()
    with transaction.atomic(using=_using()):
        ended = 0
        for draft in ConsentDraft.objects.select_for_update().filter(device=device, ended_at__isnull=True):
            draft.ended_at = now
            if draft.status != DraftStatus.DONE:
                draft.status = DraftStatus.ENDED
                draft.challenge = None
            draft.save(update_fields=["ended_at", "status", "challenge"])
            ended += 1
    return ended


def do_start_draft(
    device: str, institution, flow: str, *, session=None, items=None, now=None
) -> ConsentDraft:
    """A fresh draft for `flow` on this device; every earlier draft of the device ends first.

    session: a telehealth app's session, which fixes the visit date and the items.
    items: the starting choice (changing a consent starts from the current items).
    """
    if flow not in FLOW_KINDS:
        raise DRAFT_FLOW_UNKNOWN(flow=flow)
    now = now or timezone.now()
    kind = FLOW_KINDS[flow]
    fields = {}
    if session is not None:
        fields = {
            "visit_date": session.visit_date,
            "items": sorted(i for i in session.items if i != ConsentItem.QUALIFICATION),
            "limit_answered": True,
        }
    elif items:
        fields = {"items": sorted(i for i in items if i != ConsentItem.QUALIFICATION)}
    with transaction.atomic(using=_using()):
        do_end_drafts(device, now=now)
        return ConsentDraft.objects.create(
            key=secrets.token_urlsafe(24),
            device=device,
            institution=institution,
            flow=flow,
            kind=kind,
            session=session,
            created_at=now,
            **fields,
        )


def _reopened(draft: ConsentDraft) -> None:
    """A change after confirming: the confirmation and any challenge issued for it no longer hold."""
    draft.status = DraftStatus.OPEN
    draft.frozen_at = None
    draft.challenge = None


def _write(draft: ConsentDraft, **changes) -> ConsentDraft:
    with transaction.atomic(using=_using()):
        locked = _locked(draft, DraftStatus.OPEN, DraftStatus.FROZEN)
        for name, value in changes.items():
            setattr(locked, name, value)
        _reopened(locked)
        locked.save()
    return locked


def do_set_visit_date(draft: ConsentDraft, visit_date: datetime.date) -> ConsentDraft:
    """The telehealth visit date (already checked by rules.clean_visit_date in the form)."""
    return _write(draft, visit_date=rules.clean_visit_date(draft.kind, visit_date))


def do_set_items(draft: ConsentDraft, items) -> ConsentDraft:
    """What the patient shares beyond qualification; the limit answer (限度額) is kept."""
    cleaned = rules.clean_items(draft.kind, list(items), draft.institution)
    keep_limit = [ConsentItem.LIMIT_CERTIFICATE.value] if ConsentItem.LIMIT_CERTIFICATE in draft.items else []
    chosen = [i for i in cleaned if i not in (ConsentItem.QUALIFICATION, ConsentItem.LIMIT_CERTIFICATE)]
    return _write(draft, items=sorted(chosen + keep_limit))


def do_set_limit(draft: ConsentDraft, share: bool) -> ConsentDraft:
    chosen = [i for i in draft.items if i != ConsentItem.LIMIT_CERTIFICATE]
    if share:
        chosen.append(ConsentItem.LIMIT_CERTIFICATE.value)
    rules.clean_items(draft.kind, chosen, draft.institution)
    return _write(draft, items=sorted(chosen), limit_answered=True)


def ready_for(draft: ConsentDraft, step: str) -> bool:
    """Whether the earlier steps of `step` were answered."""
    if step in ("about", "visit_date"):
        return True
    if step == "items":
        return draft.flow != "telehealth" or draft.visit_date is not None
    if step == "limit":
        return ready_for(draft, "items")
    if step == "confirm":
        return draft.limit_answered and ready_for(draft, "items")
    if step == "card":
        return draft.status == DraftStatus.FROZEN
    return False


def do_confirm_draft(
    draft: ConsentDraft, *, available_until: datetime.date | None = None, now=None
) -> ConsentDraft:
    """Freeze the terms the patient checked: the card step signs these and nothing else."""
    now = now or timezone.now()
    with transaction.atomic(using=_using()):
        locked = _locked(draft, DraftStatus.OPEN, DraftStatus.FROZEN)
        if not ready_for(locked, "confirm"):
            raise DRAFT_NOT_CONFIRMED()
        if locked.kind != ConsentKind.HOME_VISIT:
            available_until = None
        # The same checks as registration, so a draft that froze can be registered.
        rules.consent_until(
            locked.kind, visit_date=locked.visit_date, available_until=available_until, now=now
        )
        locked.available_until = available_until
        locked.status = DraftStatus.FROZEN
        locked.frozen_at = now
        locked.challenge = None
        locked.save()
    return locked


def frozen_terms(draft: ConsentDraft) -> dict:
    """The terms of a frozen draft, as issue_consent_challenge and do_register_consent take them."""
    return {
        "kind": draft.kind,
        "items": [ConsentItem.QUALIFICATION.value, *draft.items],
        "visit_date": draft.visit_date,
        "available_until": draft.available_until,
        "session": draft.session,
    }


def do_issue_draft_challenge(draft: ConsentDraft):
    """The challenge the card signs for this frozen draft; the draft remembers it (one at a time)."""
    with transaction.atomic(using=_using()):
        locked = _locked(draft, DraftStatus.OPEN, DraftStatus.FROZEN)
        if locked.status != DraftStatus.FROZEN:
            raise DRAFT_NOT_CONFIRMED()
        challenge = services.issue_consent_challenge(locked.institution, **frozen_terms(locked))
        locked.challenge = challenge
        locked.save(update_fields=["challenge"])
    return challenge


def do_register_consent_from_draft(
    draft: ConsentDraft, verified, *, savepoint=True, **actor
) -> "services.Consent":
    """Register the frozen draft's terms with the card authentication that answered its challenge.

    savepoint=False inside a transaction that any refusal rolls back whole (proof.acting_on_card_answer):
    no savepoints then, two round trips each."""
    with transaction.atomic(using=_using(), savepoint=savepoint):
        locked = _locked(draft, DraftStatus.OPEN, DraftStatus.FROZEN)
        if locked.status != DraftStatus.FROZEN or locked.challenge_id != verified.challenge.pk:
            raise DRAFT_NOT_CONFIRMED()
        consent = services.do_register_consent(
            verified, institution=locked.institution, savepoint=savepoint, **frozen_terms(locked), **actor
        )
        locked.status = DraftStatus.DONE
        locked.consent = consent
        locked.done_at = timezone.now()
        locked.save(update_fields=["status", "consent", "done_at"])
    return consent


def show_done(draft: ConsentDraft):
    """The registered consent for the done page, which names its person so the patient can check it:
    a read of the person's data, logged as their own (basis self) in the same transaction."""
    with transaction.atomic(using=_using()):
        consent = draft.consent
        record_access(
            actor_type=ActorType.PATIENT,
            actor_id=f"person:{consent.person_id}",
            person=consent.person_id,
            items=[],
            basis=Basis.SELF,
            institution_code=draft.institution.code,
            consent_id=consent.pk,
            detail={"page": "consent_done"},
        )
    return consent


def purge_old_drafts(*, older_than=datetime.timedelta(days=1), now=None, batch=5000) -> int:
    """Delete drafts started more than `older_than` ago, in batches; returns how many.

    A flow takes minutes, so a day-old draft is of no use to anyone: its pages then ask to start
    again. The consent a done draft registered stays (it never depended on the draft).
    """
    cutoff = (now or timezone.now()) - older_than
    deleted = 0
    while True:
        pks = list(
            ConsentDraft.objects.filter(created_at__lt=cutoff)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not pks:
            return deleted
        deleted += ConsentDraft.objects.filter(pk__in=pks).delete()[0]
