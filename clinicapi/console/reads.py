"""What staff see in the console, checked against the consent on every view and written to the
access log as that staff member (actor institution_staff, actor id the user name) in the view's
own transaction.

    consented_patients(staff, kind=None, given_from=None, given_to=None, visit_from=None,
                       visit_to=None, status="in_force", limit=200) -> list[Consent]
    patient_view(staff, consent_id) -> PatientView      (eligibility + consented medical information)
    requery(staff, consent_id) -> RequeryView            (再照会 by the insurance numbers on file)
    paper_certificate(staff, keys) -> PaperCertificateCheck   (資格確認書: by the keys printed on it)
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
from homeconsent.consent.services import consent_for_read, consents_of_institution
from homeconsent.errors import ErrorCode
from homeconsent.registry import paper_certificate as paper
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
def consented_patients(
    staff,
    *,
    kind=None,
    given_from=None,
    given_to=None,
    visit_from=None,
    visit_to=None,
    status="in_force",
    limit=200,
) -> list[Consent]:
    """This institution's home-visit and telehealth consents, newest first. Names on the list are a
    read of each patient's data: one access-log row per patient shown (item "consent").

    Only a consent in force shows who the patient is (`consent.in_force` True); an ended one keeps
    its own terms (kind, dates, status) but no name, so nothing personal is read and nothing logged.
    """
    with transaction.atomic():
        rows = queries.consented_patients(
            staff.institution,
            kind=kind,
            given_from=given_from,
            given_to=given_to,
            visit_from=visit_from,
            visit_to=visit_to,
            status=status,
            limit=limit,
        ).consents
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
    consents: list = field(default_factory=list)  # every consent of this patient here (PatientConsent)
    at: datetime.datetime = field(default_factory=timezone.now)

    @property
    def can_requery(self) -> bool:
        return self.consent.kind == ConsentKind.HOME_VISIT


class PatientNotFound(Exception):
    def __init__(self, error=None, newer=None, ending=None):
        super().__init__("not found")
        self.error = error or PATIENT_NOT_FOUND()
        self.newer = newer  # the consent in force that replaced this one, if any (its id only)
        self.ending = ending  # how this institution's consent ended (cancelled by whom, when), if it did


def _not_in_force(listed, now) -> PatientNotFound:
    """Why a listed consent no longer opens: replaced by a newer registration (with the newer consent
    if that one is still in force), or simply ended."""
    if listed.status != ConsentStatus.SUPERSEDED or listed.ended_by != ConsentEndedBy.SUPERSEDED:
        # Said plainly (cancelled, when and by whom), never a bare "not found" (issue 12).
        return PatientNotFound(ending=ending_of(listed, now))
    newer, hops = listed.superseded_by, 0
    while newer is not None and not newer.is_in_force(now) and hops < 10:
        newer, hops = newer.superseded_by, hops + 1
    in_force = newer is not None and newer.is_in_force(now) and newer.kind in LISTED_KINDS
    return PatientNotFound(CONSENT_SUPERSEDED(), newer=newer.pk if in_force else None)


def _opened_in_force(listed, now) -> Consent | None:
    """The opened consent, read again under the one "in force" rule of consent/services.py
    (consents_of_institution(on=...)), so a cancellation holds from the next request on."""
    return (
        consents_of_institution(listed.institution, on=now)
        .filter(pk=listed.pk, kind__in=LISTED_KINDS)
        .select_related("person", "institution")
        .first()
    )


def consent_of(staff, consent_id) -> Consent:
    """The listed (home-visit or telehealth) consent of this institution with this id, or PatientNotFound."""
    try:
        consent_id = int(consent_id)
    except (TypeError, ValueError):
        raise PatientNotFound() from None
    consent = (
        Consent.objects.select_related("person", "institution")
        .filter(pk=consent_id, institution=staff.institution, kind__in=LISTED_KINDS)
        .first()
    )
    if consent is None:
        raise PatientNotFound()
    return consent


def patient_view(staff, consent_id) -> PatientView:
    """Eligibility and every consented item of the patient of this consent, each item allowed by
    the opened consent at this very moment (never cached); one access-log row names what was shown."""
    today = rules.today()
    with transaction.atomic():
        listed = consent_of(staff, consent_id)
        now = timezone.now()
        # The consent staff opened, and only that one: a patient may hold a standing home-visit
        # consent and a telehealth one at once, and "open #5" must never show #6 (issue 12).
        consent = _opened_in_force(listed, now)
        if consent is None:
            # Not another consent of the same patient in its place: the page says this one ended.
            raise _not_in_force(listed, now)
        person = listed.person

        def allows(item):
            return item in consent.items

        include_limit = allows(ConsentItem.LIMIT_CERTIFICATE)
        view = PatientView(consent, resolve_for_person(person, today, include_limit=include_limit))
        view.consents = patient_consents(staff, person.pk, now=now)
        shown = [ConsentItem.QUALIFICATION] + ([ConsentItem.LIMIT_CERTIFICATE] if include_limit else [])
        if allows(ConsentItem.MEDICATION):
            view.medication = list(
                MedicationRecord.objects.filter(
                    person=person, dispensed_on__gte=today - datetime.timedelta(days=MEDICATION_DAYS)
                ).order_by("-dispensed_on", "pk")[:200]
            )
            shown.append(ConsentItem.MEDICATION)
        if allows(ConsentItem.TREATMENT):
            view.treatment = list(
                TreatmentRecord.objects.filter(
                    person=person, treated_on__gte=today - datetime.timedelta(days=TREATMENT_DAYS)
                ).order_by("-treated_on", "pk")[:200]
            )
            shown.append(ConsentItem.TREATMENT)
        if allows(ConsentItem.CHECKUP):
            view.checkups = list(
                CheckupResult.objects.filter(
                    person=person, checked_on__gte=today - datetime.timedelta(days=CHECKUP_DAYS)
                ).order_by("-checked_on", "item_code", "pk")[:200]
            )
            shown.append(ConsentItem.CHECKUP)
        view.operation_consented = allows(ConsentItem.OPERATION)
        if view.operation_consented:  # the page says whether records exist: that is a read too
            shown.append(ConsentItem.OPERATION)
        _log(
            staff,
            person.pk,
            shown,
            Basis.CONSENT,
            consent,
            read="patient",
            validity=int(view.eligibility.validity),
            consents_listed=[c.consent.pk for c in view.consents],
        )
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
    return SearchKeys(
        q["InsurerNumber"],
        q["InsuredCardSymbol"],
        q["InsuredIdentificationNumber"],
        q["InsuredBranchNumber"],
        person.birth_date,
    )


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
        items = [ConsentItem.QUALIFICATION] + (
            [ConsentItem.LIMIT_CERTIFICATE] if result.limit_included else []
        )
        _log(staff, person.pk, items, Basis.REQUERY, consent, read="requery", validity=int(result.validity))
    return RequeryView(consent, keys, result)


def paper_certificate(staff, keys: SearchKeys) -> paper.PaperCertificateCheck:
    """資格確認書: today's eligibility by the keys printed on it, for a patient with no card registered
    for insurance use; no consent needed, logged as this staff member (the registry's rule and row)."""
    return paper.check_paper_certificate(
        actor_type=ActorType.INSTITUTION_STAFF,
        actor_id=actor_id(staff),
        institution_code=staff.institution.code,
        keys=keys,
        via="console",
    )


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
        # Who ended a cancelled consent (patient / institution) and which consent replaced a superseded
        # one: the board names them instead of leaving staff to guess (issue 12). Ids and roles only.
        **{key: message[key] for key in ("ended_by", "replaced_by") if message.get(key)},
    }


def events_since(institution, since: datetime.datetime | None = None, limit: int = EVENT_LIMIT) -> list[dict]:
    """Registered, cancelled, superseded and end_set events of this institution at or after `since`
    (default: the last 24 hours), oldest first. Registered, cancelled and superseded are rebuilt from
    the consent records; an
    earlier end leaves only its access-log row, so end_set comes from there. Boundary events may repeat
    what a board already has: it drops ids it has seen."""
    since = since or timezone.now() - datetime.timedelta(hours=24)
    registered = Consent.objects.filter(institution=institution, given_at__gte=since).order_by(
        "given_at", "pk"
    )
    cancelled = Consent.objects.filter(
        institution=institution,
        ended_at__gte=since,
        ended_by__in=[ConsentEndedBy.PATIENT, ConsentEndedBy.INSTITUTION],
    ).order_by("ended_at", "pk")
    # Replaced by a newer registration of the same patient: the socket never says so (services publish
    # registered, cancelled and end_set); the board asks here after each registration.
    superseded = Consent.objects.filter(
        institution=institution, ended_at__gte=since, ended_by=ConsentEndedBy.SUPERSEDED
    ).order_by("ended_at", "pk")
    ends_set = AccessEvent.objects.filter(
        institution_code=institution.code, occurred_at__gte=since, detail__action=Action.CONSENT_END_SET
    ).order_by("occurred_at", "pk")
    events = (
        [
            {"consent_id": c.pk, "event": "registered", "kind": c.kind, "items": c.items, "at": c.given_at}
            for c in registered[:limit]
        ]
        + [
            {
                "consent_id": c.pk,
                "event": "cancelled",
                "kind": c.kind,
                "items": c.items,
                "at": c.ended_at,
                "ended_by": c.ended_by,
            }
            for c in cancelled[:limit]
        ]
        + [
            {
                "consent_id": c.pk,
                "event": "superseded",
                "kind": c.kind,
                "items": c.items,
                "at": c.ended_at,
                "replaced_by": c.superseded_by_id,
            }
            for c in superseded[:limit]
        ]
        + [
            {
                "consent_id": int(row.consent_id),
                "event": "end_set",
                "kind": row.detail.get("kind", ""),
                "items": row.items,
                "at": row.occurred_at,
            }
            for row in ends_set[:limit]
        ]
    )
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


# --- one patient's consents, who ended one, finding a patient (issue 12) ------------------------------
@dataclass
class Ending:
    """How a consent stopped: "cancelled" (by "patient" or "institution", with the staff user name or
    API client when the institution did it), "superseded" (by the newer consent's id), or "ended"."""

    why: str
    at: datetime.datetime | None = None
    by: str = ""
    by_name: str = ""  # the staff user name or API client id, for an institution's cancellation
    replaced_by: int | None = None


def ending_of(consent, now=None) -> Ending | None:
    """None while the consent is in force; otherwise why and by whom it ended. The institution's own
    staff or client is named from the cancellation's access-log row (the consent row keeps only the role)."""
    now = now or timezone.now()
    if consent.is_in_force(now):
        return None
    if consent.ended_by == ConsentEndedBy.SUPERSEDED:
        return Ending("superseded", consent.ended_at, replaced_by=consent.superseded_by_id)
    if consent.ended_by in (ConsentEndedBy.PATIENT, ConsentEndedBy.INSTITUTION):
        by_name = ""
        if consent.ended_by == ConsentEndedBy.INSTITUTION:
            row = (
                AccessEvent.objects.filter(
                    institution_code=consent.institution.code,
                    consent_id=str(consent.pk),
                    detail__action=Action.CONSENT_CANCELLED,
                )
                .order_by("-occurred_at", "-pk")
                .first()
            )
            if row is not None:
                by_name = row.actor_id.split(":", 1)[-1]
        return Ending("cancelled", consent.ended_at, by=str(consent.ended_by), by_name=by_name)
    return Ending("ended", consent.ended_at)


@dataclass
class PatientConsent:
    consent: Consent
    in_force: bool
    ending: Ending | None


def patient_consents(staff, person_id, *, now=None) -> list[PatientConsent]:
    """Every home-visit and telehealth consent this patient gave this institution, newest first, each
    with its own state: the patient page lists them apart, so each opens as itself."""
    now = now or timezone.now()
    consents = list(
        Consent.objects.select_related("institution")
        .filter(institution=staff.institution, person_id=person_id, kind__in=LISTED_KINDS)
        .order_by("-given_at", "-pk")[:50]
    )
    in_force = set(
        consents_of_institution(staff.institution, on=now)
        .filter(pk__in=[c.pk for c in consents])
        .values_list("pk", flat=True)
    )
    return [
        PatientConsent(c, c.pk in in_force, None if c.pk in in_force else ending_of(c, now)) for c in consents
    ]


SEARCH_QUERY_INVALID = ErrorCode(
    "console_search_query_invalid",
    "氏名（漢字）またはフリガナを1文字以上、50文字以内で入力してください。",
    "Type 1 to 50 characters of the patient's name or its kana reading.",
)
SEARCH_MAX = 50
SEARCH_LIMIT = 50
_SPACES = str.maketrans("", "", " \u3000\t")


def clean_search_query(text) -> str:
    """The name or kana staff typed, without spaces (names are stored "山田 花子"), hiragana read
    as katakana (readings are stored in katakana). Refused when empty or too long."""
    query = (text or "").translate(_SPACES)
    if not query or len(query) > SEARCH_MAX:
        raise SEARCH_QUERY_INVALID()
    return "".join(chr(ord(ch) + 0x60) if "\u3041" <= ch <= "\u3096" else ch for ch in query)


def find_patients(staff, text, *, limit=SEARCH_LIMIT) -> list[Consent]:
    """Consents in force here (home visit, telehealth) whose patient's name or kana contains the
    query, spaces ignored; newest first. Each result page is a read of every patient on it: one
    access-log row per patient shown, as for the list (item "consent")."""
    from django.db.models import Q, Value
    from django.db.models.functions import Replace

    query = clean_search_query(text)

    def unspaced(column):
        return Replace(Replace(column, Value(" "), Value("")), Value("\u3000"), Value(""))

    with transaction.atomic():
        rows = list(
            consents_of_institution(staff.institution, on=timezone.now())
            .filter(kind__in=LISTED_KINDS)
            .annotate(_name=unspaced("person__name"), _kana=unspaced("person__name_kana"))
            .filter(Q(_name__icontains=query) | Q(_kana__icontains=query))[:limit]
        )
        for consent in rows:
            consent.in_force = True
        for consent in sorted(rows, key=lambda c: (c.person_id, c.pk)):
            _log(staff, consent.person_id, ["consent"], Basis.CONSENT, consent, read="patient_search")
    return rows


# --- the board: one row per consent ---------------------------------------------------------------------
def board_rows(events, ended: dict) -> list[dict]:
    """The board's rows from its events, one per consent, newest activity first: the consent's last
    event decides what the row says (registered, end set, cancelled by whom, replaced by which consent);
    `ended` (ended_consents) stops a row offering "open" once its consent is no longer in force."""
    rows: dict = {}
    for e in events:  # oldest first
        row = rows.setdefault(e["consent_id"], {"consent_id": e["consent_id"], "replaces": None})
        row.update(kind=e["kind"], items=e["items"] or row.get("items", []), last=e, at=e["at"])
    for e in events:
        if e["event"] == "superseded" and e.get("replaced_by") in rows:
            rows[e["replaced_by"]]["replaces"] = e["consent_id"]
    for row in rows.values():
        row["ended"] = ended.get(row["consent_id"])
    return sorted(rows.values(), key=lambda r: (r["at"], r["consent_id"]), reverse=True)
