"""Consent records: register (card-proved), cancel, and the check made on every read.

Stable API for the consent pages, the institutions' API and the portal:

    issue_consent_challenge(institution, *, kind, items, visit_date=None, available_until=None,
                            session=None) -> CardAuthChallenge
        Validates the terms first (same codes as registration) and issues a purpose-"consent"
        challenge binding institution, kind, items and, in details, visit_date / available_until /
        session. Hand challenge.message() to the reader bridge (it signs its DigestInfo), then:
    verify_card_authentication(challenge.nonce, certificate_der, signature, "consent")  [challenges.py]
    do_register_consent(verified, *, kind, items, visit_date=None, available_until=None,
                        institution=None, session=None, actor_type=ActorType.PATIENT, actor_id=None) -> Consent
        The signed challenge must name exactly these terms (else consent_proof_mismatch), the person
        must hold a valid qualification today (no_valid_qualification). Supersedes the active consent
        of the same person, institution and kind; telehealth is per booked visit: only the one of
        the same visit date (other visits' consents stay). With session= the telehealth session is
        completed and its webhook queued in the same transaction.
    do_register_card_consent(challenge, certificate_der, signature, **the same terms) -> Consent
        Both steps in one transaction: the card's answer verified and the consent registered commit
        together (one commit); a refused answer still uses the challenge up.
    do_cancel_consent(consent, *, by, actor_id, actor_type=None, institution=None) -> Consent
    do_cancel_all(person, *, by, actor_id, institution=None, actor_type=None) -> list[Consent]
        by is "patient" or "institution" (then institution= is required and must own the consent).
    do_set_consent_end(consent, until, *, institution, actor_id, actor_type=ActorType.INSTITUTION_STAFF) -> Consent
        The institution brings a home-visit consent's end forward (never later); publishes "end_set".
    active_consents(person, institution=None, on=None) -> QuerySet[Consent]
    consents_of_institution(institution, kind=None, *, given_from=None, given_to=None,
                            visit_from=None, visit_to=None, on=None) -> QuerySet[Consent]
    consent_for_read(institution_code, person, item, on=None, *, kind=None) -> Consent | None
        The one read check: the consent in force (now, or at a moment / on a Tokyo day) that lets
        this institution read this item of this person. Never cached: every call asks the database.
        Several in force: a non-telehealth one first, else the telehealth consent of the nearest
        booked visit (the one on the read date when there is one).
    consents_for_read(institution_code, persons, item, on=None, *, kind=None) -> {person_id: Consent}
        The same check for many persons (ids or Person objects) in one query.
    grants_for_read(institution_code, person_ids, item, on=None, *, kind=None) -> {person_id: Grant}
        consents_for_read's answer as (pk, items) pairs, not instances (the batch pre-check's
        thousands of persons).

`on` is a moment (aware datetime; default now) or a date (in force at some time that Tokyo day).
Every do_* runs in one transaction with its access-log entry; after commit it publishes
{"type": "consent.event", "event": "registered"|"cancelled"|"end_set", "consent_id", "person_id", "kind",
"items", "at"} to the Channels group f"institution.{code}". Refusals are HomeConsentError with a code
(rules.py, telehealth.py and below).
"""

import base64
import datetime
import json
import logging
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from homeconsent import channel_publish
from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode
from homeconsent.registry.eligibility import Validity, resolve_for_person
from homeconsent.registry.models import Institution, Person
from homeconsent.sqlrows import Columns, array_literal, bound_cursor, per_connection, prepared_cursor, table

from . import rules
from .challenges import card_answer, issue_challenge
from .models import CardAuthChallenge, ChallengePurpose, Consent, ConsentEndedBy, ConsentKind, ConsentStatus
from .telehealth import complete_session, session_consent_ended

logger = logging.getLogger(__name__)

CONSENT_PROOF_MISMATCH = ErrorCode(
    "consent_proof_mismatch",
    "カードで確認した内容（{field}）と、登録しようとした同意の内容が一致しません。最初からやり直してください。",
    "What the card confirmed ({field}) does not match the consent being registered. Please start again.",
)
CONSENT_PROOF_NOT_FOR_CONSENT = ErrorCode(
    "consent_proof_not_for_consent",
    "このカードの確認は同意登録のためのものではありません。最初からやり直してください。",
    "This card confirmation was not made to register a consent. Please start again.",
)
CONSENT_PROOF_USED = ErrorCode(
    "consent_proof_used",
    "このカードの確認ではすでに同意が登録されています。",
    "A consent has already been registered with this card confirmation.",
)
NO_VALID_QUALIFICATION = ErrorCode(
    "no_valid_qualification",
    "本日有効な医療保険の資格が確認できないため、同意を登録できません。加入している保険者にお問い合わせください。",
    "No health-insurance qualification valid today was found, so the consent cannot be registered. "
    "Please contact your insurer.",
)
CONSENT_NOT_ACTIVE = ErrorCode(
    "consent_not_active",
    "この同意はすでに終了しています（取消済み・更新済み・期限切れ）。",
    "This consent has already ended (cancelled, replaced or expired).",
)
CONSENT_NOT_OF_INSTITUTION = ErrorCode(
    "consent_not_of_institution",
    "この同意は医療機関等「{institution}」に対するものではありません。",
    "This consent was not given to institution '{institution}'.",
)
CANCEL_BY_UNKNOWN = ErrorCode(
    "consent_cancel_by_unknown",
    "取消す人は本人（patient）か医療機関等（institution）のどちらかです。",
    "A consent is cancelled by the patient or by the institution.",
)
CANCEL_INSTITUTION_REQUIRED = ErrorCode(
    "consent_cancel_institution_required",
    "医療機関等による取消しには、取り消す医療機関等の指定が必要です。",
    "A cancellation by an institution must name that institution.",
)

CONSENT_END_NOT_FOR_KIND = ErrorCode(
    "consent_end_not_for_kind",
    "終了日を設定できるのは居宅同意（訪問診療等）だけです。オンライン診療の同意は受診日で終わります。",
    "Only a home-visit consent can be given an end date; a telehealth consent ends with its visit date.",
)
CONSENT_END_NOT_SHORTER = ErrorCode(
    "consent_end_not_shorter",
    "終了日は早めることだけができます（現在の終了: {current}）。延ばすには本人の同意をカードで取り直してください。",
    "The end date can only be brought forward (now ends: {current}). To extend it, the patient consents "
    "again with the card.",
)

ACTOR_FOR_CANCEL = {ConsentEndedBy.PATIENT: "patient", ConsentEndedBy.INSTITUTION: "institution_staff"}


def _using() -> str:
    return router.db_for_write(Consent)


def _clock(now=None):
    """The time of a change: a fixed `now` (tests, replays), or the current time when asked."""
    return (lambda: now) if now is not None else timezone.now


# --- events ---------------------------------------------------------------------------------------
def institution_group(code: str) -> str:
    return f"institution.{code}"


def _publish_after_commit(event: str, consent: Consent, at: datetime.datetime) -> None:
    message = {
        "type": "consent.event",
        "event": event,
        "consent_id": consent.pk,
        "person_id": consent.person_id,
        "kind": consent.kind,
        "items": list(consent.items),
        "at": at.isoformat(),
    }
    group = institution_group(consent.institution.code)

    def publish():
        try:
            channel_publish.group_send(group, message)
        except Exception:  # noqa: BLE001 - a live event lost must never undo a committed consent
            logger.exception("consent %s: publishing %s to %s failed", consent.pk, event, group)

    transaction.on_commit(publish, using=_using(), robust=True)


# --- registering ----------------------------------------------------------------------------------
def _binding_details(kind, visit_date, available_until, session) -> dict:
    """The fields beyond institution/kind/items that the challenge's details must carry."""
    details = {}
    if visit_date is not None:
        details["visit_date"] = visit_date.isoformat()
    if available_until is not None and kind != ConsentKind.TELEHEALTH:
        details["available_until"] = available_until.isoformat()
    if session is not None:
        details["session"] = session.session_id
    return details


def _clean_terms(institution, kind, items, visit_date, available_until, now):
    kind = rules.clean_kind(kind)
    items = rules.clean_items(kind, items, institution)
    visit_date = rules.clean_visit_date(kind, visit_date, on=now.astimezone(rules.TOKYO).date())
    until = rules.consent_until(kind, visit_date=visit_date, available_until=available_until, now=now)
    return kind, items, visit_date, until


def issue_consent_challenge(
    institution, *, kind, items, visit_date=None, available_until=None, session=None, now=None
) -> CardAuthChallenge:
    """A consent challenge binding exactly the terms do_register_consent will register."""
    now = now or timezone.now()
    kind, items, visit_date, until = _clean_terms(institution, kind, items, visit_date, available_until, now)
    details = _binding_details(kind, visit_date, until, session)
    return issue_challenge(ChallengePurpose.CONSENT, institution, items, kind=kind, **details)


def _check_proof(challenge: CardAuthChallenge, institution, kind, items, details) -> None:
    if challenge.purpose != ChallengePurpose.CONSENT:
        raise CONSENT_PROOF_NOT_FOR_CONSENT()
    if challenge.institution_id is None or (
        institution is not None and challenge.institution_id != institution.pk
    ):
        raise CONSENT_PROOF_MISMATCH(field="institution")
    if challenge.kind != kind:
        raise CONSENT_PROOF_MISMATCH(field="kind")
    signed_items = sorted(set(challenge.items) | {"qualification"})
    if signed_items != items:
        raise CONSENT_PROOF_MISMATCH(field="items")
    for field in ("visit_date", "available_until", "session"):
        if challenge.details.get(field) != details.get(field):
            raise CONSENT_PROOF_MISMATCH(field=field)


def do_register_card_consent(
    challenge, certificate_der: bytes, signature: bytes, *, now=None, **terms
) -> Consent:
    """The card's answer to a consent challenge, verified and registered in one transaction (one
    commit): verify_card_authentication(challenge, certificate_der, signature, "consent") then
    do_register_consent(verified, **terms), with the same refusals; a refused answer still uses the
    challenge up (challenges.card_answer)."""
    with card_answer(challenge, certificate_der, signature, ChallengePurpose.CONSENT, now=now) as verified:
        # Inside card_answer's transaction: a refusal rolls it all back, so no savepoint is needed.
        return do_register_consent(verified, now=now, savepoint=False, **terms)


def do_register_consent(
    verified,
    *,
    kind,
    items,
    visit_date=None,
    available_until=None,
    institution=None,
    session=None,
    actor_type=ActorType.PATIENT,
    actor_id=None,
    now=None,
    savepoint=True,
) -> Consent:
    """Register the consent a verified card authentication proved (see the module docstring).

    savepoint=False when called inside a transaction that any refusal rolls back whole (as
    do_register_card_consent's): no savepoint, whose creation and release are two round trips."""
    clock = _clock(now)
    now = clock()
    challenge = verified.challenge
    institution = institution or challenge.institution
    if institution is None:
        raise CONSENT_PROOF_MISMATCH(field="institution")
    kind, items, visit_date, until = _clean_terms(institution, kind, items, visit_date, available_until, now)
    _check_proof(challenge, institution, kind, items, _binding_details(kind, visit_date, until, session))
    card = verified.card_certificate  # None when the authentication app proved it (evidence: the ID token)
    if card is not None and challenge.card_certificate_id not in (None, card.pk):
        raise CONSENT_PROOF_MISMATCH(field="card")
    route = getattr(verified, "authenticator", "reader")
    evidence = getattr(verified, "evidence", None) or {}
    person = verified.person
    if resolve_for_person(person.pk, now.astimezone(rules.TOKYO).date()).validity != Validity.VALID:
        raise NO_VALID_QUALIFICATION()

    with transaction.atomic(using=_using(), savepoint=savepoint):
        # One writer per person at a time (PostgreSQL row lock; SQLite's IMMEDIATE write lock does
        # the same), so two registrations cannot both find "no active consent" and collide.
        connection = connections[_using()]
        sql = _register_sql(connection)
        with prepared_cursor(connection) as cursor:
            cursor.execute(sql.lock_person, [person.pk])
        now = clock()  # after the lock: given_at and ended_at follow the order registrations commit in
        previous = _previous_in_slot(connection, sql, challenge, person, institution, kind, visit_date)
        if previous is not None:
            expired = not previous.is_in_force(now)
            previous.status = ConsentStatus.SUPERSEDED
            previous.ended_at = previous.available_until if expired else now
            previous.ended_by = ConsentEndedBy.EXPIRED if expired else ConsentEndedBy.SUPERSEDED
            moment = connection.ops.adapt_datetimefield_value(previous.ended_at)
            with prepared_cursor(connection) as cursor:
                cursor.execute(sql.end, [previous.status, moment, previous.ended_by, previous.pk])
        consent = Consent(
            person=person,
            institution=institution,
            kind=kind,
            items=items,
            given_at=now,
            available_until=until,
            visit_date=visit_date,
            challenge=challenge,
            card_certificate=card,
            signature=base64.b64encode(verified.signature).decode(),
            authenticator=route,
            id_token=evidence.get("id_token", ""),
            provider_key=evidence.get("provider_key", {}),
        )
        _insert(connection, sql, consent)
        if previous is not None:  # linked once the new row has its id
            previous.superseded_by = consent
            with prepared_cursor(connection) as cursor:
                cursor.execute(sql.link, [consent.pk, previous.pk])
        if session is not None:
            complete_session(session, consent, now=now)
        record_access(
            actor_type=actor_type,
            actor_id=actor_id or f"person:{person.pk}",
            person=person,
            items=items,
            basis=Basis.CONSENT,
            institution_code=institution.code,
            consent_id=consent.pk,
            detail={
                "action": Action.CONSENT_REGISTERED,
                "kind": kind,
                "available_until": until.isoformat() if until else None,
                "supersedes": previous.pk if previous else None,
                "card_serial": card.serial if card is not None else None,
                "route": route,
            },
        )
        _publish_after_commit("registered", consent, now)
    return consent


# Every registration locks its person, reads the slot it fills and inserts its row: written once
# per database and prepared (homeconsent.sqlrows says why not the ORM).
@dataclass(frozen=True)
class _RegisterSql:
    lock_person: str
    slot: dict  # visit-date condition ("", "= %s", "IS NULL") -> SELECT
    insert: str
    fields: list
    returning: bool
    end: str  # the replaced consent's status, ended_at and ended_by
    link: str  # its superseded_by


@per_connection
def _register_sql(connection) -> _RegisterSql:
    from django.db.models.sql import InsertQuery

    q = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    slot = {}
    for visit in ("", "= %s", "IS NULL"):
        # The consent this proof already registered, if any, and the active one of the slot.
        slot[visit] = (
            f"SELECT {_CONSENT.sql('c', connection)} FROM {table(Consent, connection)} c "
            f"WHERE c.{q('challenge_id')} = %s OR (c.{q('person_id')} = %s AND c.{q('institution_id')} = %s "
            f"AND c.{q('status')} = %s AND c.{q('kind')} = %s"
            + (f" AND c.{q('visit_date')} {visit}" if visit else "")
            + f") ORDER BY c.{q('id')}{lock}"
        )
    fields = [f for f in Consent._meta.concrete_fields if not f.primary_key]
    query = InsertQuery(Consent)
    query.insert_values(fields, [Consent(given_at=timezone.now())])
    [(insert, _)] = query.get_compiler(using=connection.alias).as_sql()
    returning = connection.features.can_return_columns_from_insert
    if returning:
        insert += f" RETURNING {q('id')}"
    consents = table(Consent, connection)
    return _RegisterSql(
        end=f"UPDATE {consents} SET {q('status')} = %s, {q('ended_at')} = %s, {q('ended_by')} = %s "
        f"WHERE {q('id')} = %s",
        link=f"UPDATE {consents} SET {q('superseded_by_id')} = %s WHERE {q('id')} = %s",
        lock_person=f"SELECT {q('id')} FROM {table(Person, connection)} WHERE {q('id')} = %s{lock}",
        slot=slot,
        insert=insert,
        fields=fields,
        returning=returning,
    )


def _previous_in_slot(connection, sql, challenge, person, institution, kind, visit_date):
    """The active consent the new one replaces (locked), or None; consent_proof_used when this
    proof already registered one. Run after the person's lock, so it sees every committed change."""
    params = [challenge.pk, person.pk, institution.pk, ConsentStatus.ACTIVE.value, kind]
    visit = ""
    # What a new consent replaces: the active one of the same kind; telehealth is per booked visit,
    # so only the one for the same visit date (another visit's consent stays).
    if kind == ConsentKind.TELEHEALTH:
        visit = "IS NULL" if visit_date is None else "= %s"
        if visit_date is not None:
            params.append(connection.ops.adapt_datefield_value(visit_date))
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql.slot[visit], params)
        rows = cursor.fetchall()
    found = [_CONSENT.instance(row, connection) for row in rows]
    if any(consent.challenge_id == challenge.pk for consent in found):
        raise CONSENT_PROOF_USED()
    return found[0] if found else None


def _insert(connection, sql, consent: Consent) -> None:
    """INSERT a new consent (sets its pk), as Consent.objects.create would."""
    values = [f.get_db_prep_save(f.pre_save(consent, True), connection) for f in sql.fields]
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql.insert, values)
        consent.pk = cursor.fetchone()[0] if sql.returning else cursor.lastrowid
    consent._state.adding, consent._state.db = False, connection.alias


# --- cancelling -----------------------------------------------------------------------------------
def _clean_by(by, institution):
    try:
        by = ConsentEndedBy(by)
    except ValueError:
        raise CANCEL_BY_UNKNOWN() from None
    if by not in (ConsentEndedBy.PATIENT, ConsentEndedBy.INSTITUTION):
        raise CANCEL_BY_UNKNOWN()
    if by == ConsentEndedBy.INSTITUTION and institution is None:
        raise CANCEL_INSTITUTION_REQUIRED()
    return by


def _cancel(consent: Consent, by, actor_type, actor_id, now) -> Consent:
    """Cancel one consent already locked and checked in force, with its access-log row (caller's transaction)."""
    consent.status = ConsentStatus.CANCELLED
    consent.ended_at = now
    consent.ended_by = by
    consent.save(update_fields=["status", "ended_at", "ended_by"])
    session_consent_ended(consent, now=now)
    record_access(
        actor_type=actor_type or ACTOR_FOR_CANCEL[by],
        actor_id=actor_id,
        person=consent.person_id,
        items=consent.items,
        basis=Basis.CONSENT,
        institution_code=consent.institution.code,
        consent_id=consent.pk,
        detail={"action": Action.CONSENT_CANCELLED, "by": str(by), "kind": consent.kind},
    )
    _publish_after_commit("cancelled", consent, now)
    return consent


def do_cancel_consent(consent, *, by, actor_id, actor_type=None, institution=None, now=None) -> Consent:
    """Cancel one consent in force; it stops allowing reads from the next request on."""
    by = _clean_by(by, institution)
    clock = _clock(now)
    with transaction.atomic(using=_using()):
        Person.objects.select_for_update().filter(pk=consent.person_id).first()
        now = clock()
        consent = (
            Consent.objects.select_for_update(of=("self",)).select_related("institution").get(pk=consent.pk)
        )
        if institution is not None and consent.institution_id != institution.pk:
            raise CONSENT_NOT_OF_INSTITUTION(institution=institution.code)
        if not consent.is_in_force(now):
            raise CONSENT_NOT_ACTIVE()
        return _cancel(consent, by, actor_type, actor_id, now)


def do_cancel_all(person, *, by, actor_id, institution=None, actor_type=None, now=None) -> list[Consent]:
    """すべての同意を取消す: every consent in force of the person (to one institution, if given)."""
    by = _clean_by(by, institution)
    clock = _clock(now)
    with transaction.atomic(using=_using()):
        Person.objects.select_for_update().filter(pk=person.pk).first()
        now = clock()
        consents = (
            Consent.objects.select_for_update(of=("self",))
            .select_related("institution")
            .filter(_in_force_q(now), person=person)
        )
        if institution is not None:
            consents = consents.filter(institution=institution)
        return [_cancel(consent, by, actor_type, actor_id, now) for consent in consents.order_by("pk")]


# --- ending earlier --------------------------------------------------------------------------------
def do_set_consent_end(
    consent, until, *, institution, actor_id, actor_type=ActorType.INSTITUTION_STAFF, now=None
) -> Consent:
    """The `institution` sets an earlier end of its home-visit consent (issue 4: "the institution
    may set an end date"). Never later: what the patient signed is the longest it may hold. `until` is
    a date (through that Tokyo day) or an aware datetime; it must lie ahead."""
    clock = _clock(now)
    with transaction.atomic(using=_using()):
        Person.objects.select_for_update().filter(pk=consent.person_id).first()
        now = clock()
        consent = (
            Consent.objects.select_for_update(of=("self",)).select_related("institution").get(pk=consent.pk)
        )
        if consent.institution_id != institution.pk:
            raise CONSENT_NOT_OF_INSTITUTION(institution=institution.code)
        if consent.kind != ConsentKind.HOME_VISIT:
            raise CONSENT_END_NOT_FOR_KIND()
        if not consent.is_in_force(now):
            raise CONSENT_NOT_ACTIVE()
        new_until = rules.consent_until(consent.kind, available_until=until, now=now)
        previous = consent.available_until
        if previous is not None and new_until >= previous:
            raise CONSENT_END_NOT_SHORTER(current=previous.astimezone(rules.TOKYO).isoformat())
        consent.available_until = new_until
        consent.save(update_fields=["available_until"])
        record_access(
            actor_type=actor_type,
            actor_id=actor_id,
            person=consent.person_id,
            items=consent.items,
            basis=Basis.CONSENT,
            institution_code=consent.institution.code,
            consent_id=consent.pk,
            detail={
                "action": Action.CONSENT_END_SET,
                "kind": consent.kind,
                "available_until": new_until.isoformat(),
                "previous_until": previous.isoformat() if previous else None,
            },
        )
        _publish_after_commit("end_set", consent, now)
    return consent


# --- queries --------------------------------------------------------------------------------------
def _in_force_q(on=None) -> Q:
    """In force at the moment `on`, or at some time of the Tokyo day `on` (see rules.in_force_window)."""
    start, end = rules.in_force_window(on)
    moment = start == end
    given = Q(given_at__lte=end) if moment else Q(given_at__lt=end)
    until = Q(available_until__isnull=True) | Q(available_until__gt=start)
    # A row still stored "active" has no ended_at; a cancelled/superseded one held until ended_at.
    ended = Q(ended_at__isnull=True, status=ConsentStatus.ACTIVE) | Q(ended_at__gt=start)
    return given & until & ended


def active_consents(person, institution=None, on=None):
    """The person's consents in force (now, or at `on`), newest first."""
    consents = Consent.objects.filter(_in_force_q(on), person=person).select_related("institution")
    if institution is not None:
        consents = consents.filter(institution=institution)
    return consents.order_by("-given_at", "-pk")


def consents_of_institution(
    institution, kind=None, *, given_from=None, given_to=None, visit_from=None, visit_to=None, on=None
):
    """An institution's consents, filtered by kind, consent date (Tokyo days, inclusive), visit
    date (inclusive) and, when `on` is given, in force at that moment/day; newest first."""
    consents = Consent.objects.filter(institution=institution).select_related("person")
    if kind is not None:
        consents = consents.filter(kind=rules.clean_kind(kind))
    if given_from is not None:
        consents = consents.filter(given_at__gte=rules.start_of_day(given_from))
    if given_to is not None:
        consents = consents.filter(given_at__lt=rules.start_of_day(given_to + datetime.timedelta(days=1)))
    if visit_from is not None:
        consents = consents.filter(visit_date__gte=visit_from)
    if visit_to is not None:
        consents = consents.filter(visit_date__lte=visit_to)
    if on is not None:
        consents = consents.filter(_in_force_q(on))
    return consents.order_by("-given_at", "-pk")


def consent_for_read(institution_code, person, item, on=None, *, kind=None) -> Consent | None:
    """The consent that lets this institution read this item of this person now (or at `on`);
    with kind= only a consent of that kind counts (re-query needs a home-visit consent).

    Asked on every read and never cached, so a cancellation holds from the next request on.
    """
    person_id = person.pk if isinstance(person, Person) else person
    return consents_for_read(institution_code, [person_id], item, on, kind=kind).get(person_id)


def consents_for_read(institution_code, persons, item, on=None, *, kind=None) -> dict:
    """consent_for_read for many persons in one query (batch pre-check): {person_id: Consent}
    for the persons this institution may read; the others are absent."""
    item = rules.clean_item(item)
    person_ids = {p.pk if isinstance(p, Person) else p for p in persons}
    # Which consent answers when several hold: a standing one (no visit date) first, newest first;
    # then telehealth by visit date, so the visit in force on the read date (the nearest booked one)
    # answers, not a later visit's consent.
    if not person_ids:
        return {}
    candidates = _in_force_for(
        str(institution_code), person_ids, on, rules.clean_kind(kind) if kind else None
    )
    # Items are a short JSON list; SQLite has no JSON containment, so the few rows are checked here.
    found = {}
    for consent in candidates:
        if consent.person_id not in found and item in consent.items:
            found[consent.person_id] = consent
    return found


class Grant(NamedTuple):
    """The consent that answers a read, as grants_for_read gives it: its id and its items (a list
    shared by the grants of one call that have the same items: read it, do not change it)."""

    pk: int
    items: list


def grants_for_read(institution_code, person_ids, item, on=None, *, kind=None) -> dict:
    """consents_for_read's answer for many person ids as {person_id: Grant}: the same query, rule and
    choice, read as (id, person, items) rows rather than model instances (the batch pre-check asks
    about thousands of persons; each instance costs more than its row). Asked on every call, never
    cached."""
    item = rules.clean_item(item)
    ids = set(person_ids)
    if not ids:
        return {}
    kind = rules.clean_kind(kind) if kind else None
    connection, sql, params = _in_force_query(str(institution_code), ids, on, kind, grants=True)
    with bound_cursor(connection) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    found, decoded = {}, {}
    for pk, person_id, items in rows:
        if person_id in found:
            continue
        if isinstance(items, str):  # JSON text (a few distinct lists: each decoded once)
            text = items
            items = decoded.get(text)
            if items is None:
                items = decoded[text] = json.loads(text)
        if item in items:
            found[person_id] = Grant(pk, items)
    return found


_CONSENT = Columns(
    Consent, exclude=("signature", "id_token", "provider_key")
)  # evidence is for audits, not reads


def _in_force_sql(connection, persons: int, instant: bool, with_kind: bool, grants: bool = False) -> str:
    """persons: how many ids the IN list holds; 0 for one array parameter (PostgreSQL). grants:
    only (id, person, items), as grants_for_read reads them."""
    q = connection.ops.quote_name
    if grants:
        columns = f"c.{q('id')}, c.{q('person_id')}, c.{q('items')}"
    else:
        columns = _CONSENT.sql("c", connection)
    among = "= ANY (%s::bigint[])" if persons == 0 else f"IN ({', '.join(['%s'] * persons)})"
    return (
        f"SELECT {columns} FROM {table(Consent, connection)} c "
        f"JOIN {table(Institution, connection)} i ON i.{q('id')} = c.{q('institution_id')} "
        f"WHERE i.{q('code')} = %s AND c.{q('person_id')} {among} "
        f"AND c.{q('given_at')} {'<=' if instant else '<'} %s "
        f"AND (c.{q('available_until')} IS NULL OR c.{q('available_until')} > %s) "
        f"AND ((c.{q('ended_at')} IS NULL AND c.{q('status')} = %s) OR c.{q('ended_at')} > %s)"
        + (f" AND c.{q('kind')} = %s" if with_kind else "")
        # A standing consent (no visit date) first, then by visit date; newest first within.
        + f" ORDER BY (c.{q('visit_date')} IS NOT NULL), c.{q('visit_date')}, c.{q('given_at')} DESC, "
        f"c.{q('id')} DESC"
    )


_one_in_force_sql = per_connection(_in_force_sql)  # the per-read shape (one person): built once


def _in_force_query(institution_code: str, person_ids, on, kind, grants: bool = False) -> tuple:
    """(connection, SQL, parameters) of consents_for_read's query, written by hand: it runs on every
    read of the institutions' API (homeconsent.sqlrows says why not the ORM). The same rule as
    _in_force_q, row for row. Many persons of grants_for_read go as one array on PostgreSQL."""
    start, end = rules.in_force_window(on)
    using = router.db_for_read(Consent)
    connection = connections[using]
    moment = connection.ops.adapt_datetimefield_value
    ids = sorted(person_ids)
    if grants and connection.vendor == "postgresql":
        among = [array_literal(str(int(i)) for i in ids)]  # bigint[] as text: one value
        sql = _in_force_sql(connection, 0, start == end, kind is not None, True)
    elif grants:
        among, sql = ids, _in_force_sql(connection, len(ids), start == end, kind is not None, True)
    else:
        among = ids
        build = _one_in_force_sql if len(ids) == 1 else _in_force_sql
        sql = build(connection, len(ids), start == end, kind is not None)
    params = [institution_code, *among, moment(end), moment(start), ConsentStatus.ACTIVE.value, moment(start)]
    if kind is not None:
        params.append(kind)
    return connection, sql, params


def _in_force_for(institution_code: str, person_ids, on, kind) -> list[Consent]:
    connection, sql, params = _in_force_query(institution_code, person_ids, on, kind)
    # The per-read shape is prepared; a batch's (one placeholder per person) is not worth keeping.
    with prepared_cursor(connection) if len(person_ids) == 1 else connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_CONSENT.instance(row, connection) for row in rows]


def institution_by_code(code) -> Institution | None:
    return Institution.objects.filter(code=str(code)).first()
