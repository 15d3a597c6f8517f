"""What staff see in the console, checked against the consent on every view and written to the
access log as that staff member (actor institution_staff, actor id the user name) in the view's
own transaction.

    consented_patients(staff, kind=None, given_from=None, given_to=None, visit_from=None,
                       visit_to=None, status="in_force", limit=200) -> list[Consent]
    patient_view(staff, consent_id) -> PatientView      (eligibility + consented medical information)
    requery(staff, consent_id) -> RequeryView            (再照会 by the insurance numbers on file)
    events_since(institution, since=None, limit=200) -> list[dict]   (the live board's catch-up)

A consent of another institution, one no longer in force, or an unknown id are all "not found".
"""

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from homeconsent.accounts.models import StaffMembership
from homeconsent.audit.models import AccessEvent, Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.consent import queries, rules
from homeconsent.consent.models import Consent, ConsentEndedBy, ConsentItem, ConsentKind, ConsentStatus
from homeconsent.consent.services import consent_for_read
from homeconsent.errors import ErrorCode
from homeconsent.registry.eligibility import EligibilityResult, Validity, resolve_by_keys, resolve_for_person
from homeconsent.registry.models import CheckupResult, MedicationRecord, TreatmentRecord
from homeconsent.registry.validation import SearchKeys

LISTED_KINDS = queries.LISTED_KINDS
# What the patient page shows of each consented item: the most recent period, not the whole history.
MEDICATION_DAYS = 92
TREATMENT_DAYS = 366
CHECKUP_DAYS = 5 * 366
EVENT_LIMIT = 200

PATIENT_NOT_FOUND = ErrorCode(
    "console_patient_not_found",
    "この患者の同意は見つからないか、すでに終了しています。",
    "No consent in force was found for this patient.",
)
CONSENT_SUPERSEDED = ErrorCode(
    "console_consent_superseded",
    "この同意は置き換えられました。患者が新しい同意を登録しています。新しい同意を開いてください。",
    "This consent was replaced: the patient registered a newer one. Open the newer consent.",
)
EVENTS_SINCE_INVALID = ErrorCode(
    "console_events_since_invalid",
    "since は ISO 8601 の日時で指定してください（例: 2026-04-01T09:00:00+09:00）。",
    "Give since as an ISO 8601 time (e.g. 2026-04-01T09:00:00+09:00).",
)
REQUERY_HOME_VISIT_ONLY = ErrorCode(
    "console_requery_home_visit_only",
    "再照会は訪問診療・訪問看護の同意がある患者だけに使えます。",
    "Re-query is only for patients with a home-visit consent in force.",
)


def actor_id(staff: StaffMembership) -> str:
    return f"staff:{staff.user.get_username()}"


def _log(staff, person_id, items, basis, consent, *, outcome=Outcome.OK, **detail):
    return record_access(
        actor_type=ActorType.INSTITUTION_STAFF,
        actor_id=actor_id(staff),
        institution_code=staff.institution.code,
        person=person_id,
        items=items,
        basis=basis,
        consent_id=consent.pk if consent is not None else None,
        outcome=outcome,
        detail={"via": "console", **detail},
    )


# --- the list ----------------------------------------------------------------------------------------
def consented_patients(staff, *, kind=None, given_from=None, given_to=None, visit_from=None, visit_to=None,
                       status="in_force", limit=200) -> list[Consent]:  # fmt: skip
    """This institution's home-visit and telehealth consents, newest first. Names on the list are a
    read of each patient's data: one access-log row per patient shown (item "consent").

    Only a consent in force shows who the patient is (`consent.in_force` True); an ended one keeps
    its own terms (kind, dates, status) but no name, so nothing personal is read and nothing logged.
    """
    with transaction.atomic():
        rows = queries.consented_patients(
            staff.institution, kind=kind, given_from=given_from, given_to=given_to, visit_from=visit_from,
            visit_to=visit_to, status=status, limit=limit,
        ).consents  # fmt: skip
        # Chain order (by person) keeps the head locks of one transaction in a fixed order.
        for consent in sorted((c for c in rows if c.in_force), key=lambda c: (c.person_id, c.pk)):
            _log(staff, consent.person_id, ["consent"], Basis.CONSENT, consent, read="consented_patients")
    return rows


# --- one patient -------------------------------------------------------------------------------------
@dataclass
class PatientView:
    consent: Consent
    eligibility: EligibilityResult
    medication: list | None = None  # None: not consented
    treatment: list | None = None
    checkups: list | None = None
    operation_consented: bool = False
    at: datetime.datetime = field(default_factory=timezone.now)

    @property
    def can_requery(self) -> bool:
        return self.consent.kind == ConsentKind.HOME_VISIT


class PatientNotFound(Exception):
    def __init__(self, error=None, newer=None):
        super().__init__("not found")
        self.error = error or PATIENT_NOT_FOUND()
        self.newer = newer  # the consent in force that replaced this one, if any (its id only)


def _not_in_force(listed, now) -> PatientNotFound:
    """Why a listed consent no longer opens: replaced by a newer registration (with the newer consent
    if that one is still in force), or simply ended."""
    if listed.status != ConsentStatus.SUPERSEDED or listed.ended_by != ConsentEndedBy.SUPERSEDED:
        return PatientNotFound()
    newer, hops = listed.superseded_by, 0
    while newer is not None and not newer.is_in_force(now) and hops < 10:
        newer, hops = newer.superseded_by, hops + 1
    in_force = newer is not None and newer.is_in_force(now) and newer.kind in LISTED_KINDS
    return PatientNotFound(CONSENT_SUPERSEDED(), newer=newer.pk if in_force else None)


def consent_of(staff, consent_id) -> Consent:
    """The listed (home-visit or telehealth) consent of this institution with this id, or PatientNotFound."""
    try:
        consent_id = int(consent_id)
    except (TypeError, ValueError):
        raise PatientNotFound() from None
    consent = Consent.objects.select_related("person", "institution").filter(
        pk=consent_id, institution=staff.institution, kind__in=LISTED_KINDS
    ).first()
    if consent is None:
        raise PatientNotFound()
    return consent


def patient_view(staff, consent_id) -> PatientView:
    """Eligibility and every consented item of the patient of this consent, each item allowed by
    consent_for_read at this very moment (never cached); one access-log row names what was shown."""
    today = rules.today()
    with transaction.atomic():
        listed = consent_of(staff, consent_id)
        if not listed.is_in_force(timezone.now()):
            # Not another consent of the same patient in its place: the page says this one ended.
            raise _not_in_force(listed, timezone.now())
        code, person = staff.institution.code, listed.person
        consent = consent_for_read(code, person, ConsentItem.QUALIFICATION)
        if consent is None:
            raise PatientNotFound()
        include_limit = consent_for_read(code, person, ConsentItem.LIMIT_CERTIFICATE) is not None
        view = PatientView(consent, resolve_for_person(person, today, include_limit=include_limit))
        shown = [ConsentItem.QUALIFICATION] + ([ConsentItem.LIMIT_CERTIFICATE] if include_limit else [])
        if consent_for_read(code, person, ConsentItem.MEDICATION):
            view.medication = list(
                MedicationRecord.objects.filter(person=person, dispensed_on__gte=today - datetime.timedelta(days=MEDICATION_DAYS))
                .order_by("-dispensed_on", "pk")[:200]
            )
            shown.append(ConsentItem.MEDICATION)
        if consent_for_read(code, person, ConsentItem.TREATMENT):
            view.treatment = list(
                TreatmentRecord.objects.filter(person=person, treated_on__gte=today - datetime.timedelta(days=TREATMENT_DAYS))
                .order_by("-treated_on", "pk")[:200]
            )
            shown.append(ConsentItem.TREATMENT)
        if consent_for_read(code, person, ConsentItem.CHECKUP):
            view.checkups = list(
                CheckupResult.objects.filter(person=person, checked_on__gte=today - datetime.timedelta(days=CHECKUP_DAYS))
                .order_by("-checked_on", "item_code", "pk")[:200]
            )
            shown.append(ConsentItem.CHECKUP)
        view.operation_consented = consent_for_read(code, person, ConsentItem.OPERATION) is not None
        if view.operation_consented:  # the page says whether records exist: that is a read too
            shown.append(ConsentItem.OPERATION)
        _log(staff, person.pk, shown, Basis.CONSENT, consent, read="patient", validity=int(view.eligibility.validity))
    return view


@dataclass
class RequeryView:
    consent: Consent
    keys: SearchKeys
    result: EligibilityResult
    at: datetime.datetime = field(default_factory=timezone.now)


def _keys_on_file(person, consent) -> SearchKeys | None:
    """The insurance numbers the institution obtained when the patient consented (the card read)."""
    obtained = resolve_for_person(person, consent.given_at.astimezone(rules.TOKYO).date())
    q = obtained.qualification
    if q is None:
        return None
    return SearchKeys(q["InsurerNumber"], q["InsuredCardSymbol"], q["InsuredIdentificationNumber"],
                      q["InsuredBranchNumber"], person.birth_date)  # fmt: skip


def requery(staff, consent_id) -> RequeryView:
    """再照会: today's eligibility by the insurance numbers on file, without card or PIN, for a
    patient with a home-visit consent in force here."""
    today = rules.today()
    with transaction.atomic():
        listed = consent_of(staff, consent_id)
        if listed.kind != ConsentKind.HOME_VISIT:
            raise PatientNotFound(REQUERY_HOME_VISIT_ONLY())
        code, person = staff.institution.code, listed.person
        consent = consent_for_read(code, person, ConsentItem.QUALIFICATION, kind=ConsentKind.HOME_VISIT)
        if consent is None:
            raise PatientNotFound()
        keys = _keys_on_file(person, consent)
        if keys is None:
            result = EligibilityResult(validity=Validity.NONE, on=today)
        else:
            include_limit = ConsentItem.LIMIT_CERTIFICATE in consent.items
            result = resolve_by_keys(keys, None, None, None, None, today, include_limit=include_limit)
            if result.person_id not in (None, person.pk):  # the numbers now name somebody else
                result = EligibilityResult(validity=Validity.NONE, on=today)
        items = [ConsentItem.QUALIFICATION] + ([ConsentItem.LIMIT_CERTIFICATE] if result.limit_included else [])
        _log(staff, person.pk, items, Basis.REQUERY, consent, read="requery", validity=int(result.validity))
    return RequeryView(consent, keys, result)


# --- the live board's catch-up -------------------------------------------------------------------------
def event_id(consent_id, event: str) -> str:
    return f"{consent_id}.{event}"


def board_event(message: dict) -> dict:
    """What a board receives of a published consent event: no person id, nothing personal."""
    return {
        "id": event_id(message["consent_id"], message["event"]),
        "event": message["event"],
        "consent_id": message["consent_id"],
        "kind": message.get("kind", ""),
        # in the national order (資格情報 first), not the stored alphabetical one
        "items": [item for item in ConsentItem.values if item in message.get("items", ())],
        "at": message["at"],
    }


def events_since(institution, since: datetime.datetime | None = None, limit: int = EVENT_LIMIT) -> list[dict]:
    """Registered, cancelled, superseded and end_set events of this institution at or after `since`
    (default: the last 24 hours), oldest first. Registered, cancelled and superseded are rebuilt from
    the consent records; an
    earlier end leaves only its access-log row, so end_set comes from there. Boundary events may repeat
    what a board already has: it drops ids it has seen."""
    since = since or timezone.now() - datetime.timedelta(hours=24)
    registered = Consent.objects.filter(institution=institution, given_at__gte=since).order_by("given_at", "pk")
    cancelled = Consent.objects.filter(
        institution=institution, ended_at__gte=since,
        ended_by__in=[ConsentEndedBy.PATIENT, ConsentEndedBy.INSTITUTION],
    ).order_by("ended_at", "pk")  # fmt: skip
    # Replaced by a newer registration of the same patient: the socket never says so (services publish
    # registered, cancelled and end_set); the board asks here after each registration.
    superseded = Consent.objects.filter(
        institution=institution, ended_at__gte=since, ended_by=ConsentEndedBy.SUPERSEDED
    ).order_by("ended_at", "pk")
    ends_set = AccessEvent.objects.filter(
        institution_code=institution.code, occurred_at__gte=since, detail__action=Action.CONSENT_END_SET
    ).order_by("occurred_at", "pk")
    events = (
        [{"consent_id": c.pk, "event": "registered", "kind": c.kind, "items": c.items, "at": c.given_at}
         for c in registered[:limit]]
        + [{"consent_id": c.pk, "event": "cancelled", "kind": c.kind, "items": c.items, "at": c.ended_at}
           for c in cancelled[:limit]]
        + [{"consent_id": c.pk, "event": "superseded", "kind": c.kind, "items": c.items, "at": c.ended_at}
           for c in superseded[:limit]]
        + [{"consent_id": int(row.consent_id), "event": "end_set", "kind": row.detail.get("kind", ""),
            "items": row.items, "at": row.occurred_at}
           for row in ends_set[:limit]]
    )  # fmt: skip
    order = {"registered": 0, "end_set": 1, "cancelled": 2, "superseded": 2}
    events.sort(key=lambda e: (e["at"], e["consent_id"], order[e["event"]]))
    return [board_event({**e, "at": e["at"].isoformat()}) for e in events[:limit]]


def ended_consents(institution, consent_ids, now=None) -> dict:
    """Of these consents of the institution, those no longer in force and why: {id: "cancelled" |
    "superseded" | "ended"}. Nothing personal: the board uses it to stop offering "open"."""
    now = now or timezone.now()
    ended = {}
    for consent in Consent.objects.filter(institution=institution, pk__in=set(consent_ids)):
        if consent.is_in_force(now):
            continue
        if consent.ended_by == ConsentEndedBy.SUPERSEDED:
            ended[consent.pk] = "superseded"
        elif consent.ended_by in (ConsentEndedBy.PATIENT, ConsentEndedBy.INSTITUTION):
            ended[consent.pk] = "cancelled"
        else:
            ended[consent.pk] = "ended"
    return ended
