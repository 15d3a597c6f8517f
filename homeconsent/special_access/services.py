"""Emergency viewing (救急時医療情報閲覧) and disaster mode (災害時): reads without the usual consent,
each justified by a reason, bounded to an encounter and logged with its basis.

Stable API:
    Viewer.staff(membership) / Viewer.client(institution, client_id)
    do_grant_emergency_permission(member, *, by) / do_revoke_emergency_permission(member, *, by)
    has_emergency_permission(viewer) -> bool
    do_open_disaster_scope(name, municipality_codes, starts_on, ends_on, *, by) -> DisasterScope
    do_close_disaster_scope(scope, *, by) -> DisasterScope
    clean_search(method, data) -> Search          (coded refusal when too little is given)
    do_search(viewer, basis, search, reason, reason_text="") -> Encounter
    view(viewer, basis, token, item=None) -> SpecialView     (summary, or one item's detail)
    scope_counts() / emergency_report(institution)

Rules (issue 16): emergency viewing only for named staff of a hospital holding the permission;
disaster mode for any institution's staff or system (not 資格確認限定型) finding a person whose
address municipality is listed by a scope open today. A search finds one person or is refused with a
code — never a list. Every search and every view writes its access-log row in the transaction of the
read (basis, scope, reason, staff); refusals are logged too, and raise only after their row is written.
"""

import datetime
import re
import secrets
import unicodedata
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from homeconsent import ratelimit
from homeconsent.audit.models import AccessEvent, Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.consent import rules
from homeconsent.consent.models import ConsentItem
from homeconsent.dates import add_years
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.jpki.verification import resolve_card_certificate, verify_certificate
from homeconsent.registry.codes import is_valid_municipality_code
from homeconsent.registry.eligibility import EligibilityResult, resolve_for_person
from homeconsent.registry.models import (
    CheckupResult,
    FacilityType,
    MedicationRecord,
    Person,
    Qualification,
    Sex,
    TreatmentRecord,
)
from homeconsent.registry.validation import RegistryValidationError, clean_search_keys, normalize_card_key

from .models import (
    DisasterConsent,
    DisasterScope,
    EmergencyPermission,
    EmergencyReason,
    Encounter,
    EncounterBasis,
    SearchMethod,
)

# What each basis may show (reference/emergency-and-disaster.md): the emergency summary has
# treatment and operations too; disaster mode medication and checkups (with the eligibility).
ITEMS = {
    EncounterBasis.EMERGENCY: (
        ConsentItem.QUALIFICATION,
        ConsentItem.MEDICATION,
        ConsentItem.TREATMENT,
        ConsentItem.CHECKUP,
    ),
    EncounterBasis.DISASTER: (ConsentItem.QUALIFICATION, ConsentItem.MEDICATION, ConsentItem.CHECKUP),
}
REASONS = {EncounterBasis.EMERGENCY: EmergencyReason, EncounterBasis.DISASTER: DisasterConsent}
ACTIONS = {
    EncounterBasis.EMERGENCY: (Action.EMERGENCY_SEARCH, Action.EMERGENCY_VIEW),
    EncounterBasis.DISASTER: (Action.DISASTER_SEARCH, Action.DISASTER_VIEW),
}
SEARCH_ITEM = "basic_information"  # what a search discloses: that this person exists and who they are
# Summary: the recent period; an item's detail: all that is kept (reference/domain.md).
SUMMARY_DAYS = {ConsentItem.MEDICATION: 92, ConsentItem.TREATMENT: 366, ConsentItem.CHECKUP: 2 * 366}
DETAIL_YEARS = {ConsentItem.MEDICATION: 3, ConsentItem.TREATMENT: 3, ConsentItem.CHECKUP: 5}
ROW_LIMIT = 500
RATE_KEY_PREFIX = "homeconsent:special-access-search"

NOT_AVAILABLE = ErrorCode(
    "special_access_not_available",
    "この機能は使えません。",
    "This function is not available.",
)
NOT_HOSPITAL = ErrorCode(
    "emergency_permission_hospital_only",
    "救急時医療情報閲覧の権限は病院の職員にだけ付与できます。",
    "Emergency viewing can only be granted to staff of a hospital.",
)
PERMISSION_BY_ADMIN = ErrorCode(
    "emergency_permission_admin_only",
    "救急時医療情報閲覧の権限は、同じ施設の管理者だけが付与・取消しできます。",
    "Only an administrator of the same institution can grant or revoke emergency viewing.",
)
SEARCH_TOO_LITTLE = ErrorCode(
    "special_access_search_too_little",
    "検索には、氏名と生年月日、または保険者番号・記号・番号・枝番と生年月日のすべてが必要です。",
    "A search needs the name and birth date, or the insurer number, symbol, number, branch and birth date.",
)
SEARCH_FIELD_INVALID = ErrorCode(
    "special_access_search_invalid",
    "入力を確かめてください：{reasons}",
    "Please check the input: {reasons}",
)
METHOD_UNKNOWN = ErrorCode(
    "special_access_method_unknown",
    "検索方法は card（カード）・attributes（基本4情報）・insurer_keys（保険者番号等）のいずれかです。",
    "The search method is card, attributes or insurer_keys.",
)
REASON_REQUIRED = ErrorCode(
    "special_access_reason_required",
    "理由を一覧から選んでください（{choices}）。「その他」のときは内容も書いてください。",
    "Choose a reason from the list ({choices}). For 'other', describe it as well.",
)
NO_MATCH = ErrorCode(
    "special_access_no_match",
    "この条件で閲覧できる方は見つかりませんでした。入力を確かめるか、別の方法で検索してください。",
    "Nobody who can be shown under this measure matches. Check the input or search another way.",
)
AMBIGUOUS = ErrorCode(
    "special_access_ambiguous",
    "この条件に当てはまる方が複数います。性別と住所も入力するか、保険者番号等で検索してください。",
    "More than one person matches. Add the sex and the address, or search by the insurer keys.",
)
RATE_LIMITED = ErrorCode(
    "special_access_rate_limited",
    "検索の回数が上限に達しました。{minutes}分ほど待ってからお試しください。",
    "Too many searches. Please wait about {minutes} minutes and try again.",
)
ENCOUNTER_ENDED = ErrorCode(
    "special_access_encounter_ended",
    "この閲覧の有効時間が終わったか、閲覧できる条件を満たさなくなりました。必要ならもう一度検索してください。",
    "This viewing has ended (its time is over or the conditions no longer hold). Search again if needed.",
)
ITEM_NOT_SHOWN = ErrorCode(
    "special_access_item_not_shown",
    "この情報はこの措置では閲覧できません。",
    "This information cannot be viewed under this measure.",
)
SCOPE_INVALID = ErrorCode(
    "disaster_scope_invalid",
    "災害時モードの範囲を確かめてください：{reasons}",
    "Please check the disaster scope: {reasons}",
)
SCOPE_CLOSED = ErrorCode(
    "disaster_scope_closed",
    "この災害時モードはすでに終了しています。",
    "This disaster scope has already been closed.",
)


# --- who is reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Viewer:
    """A console staff member or an API client of one institution."""

    institution: object  # registry.Institution
    actor_type: str
    actor_id: str
    user_id: int | None = None  # staff: whose emergency permission counts

    @classmethod
    def staff(cls, membership) -> "Viewer":
        return cls(
            membership.institution,
            ActorType.INSTITUTION_STAFF,
            f"staff:{membership.user.get_username()}",
            membership.user_id,
        )

    @classmethod
    def client(cls, institution, client_id: str) -> "Viewer":
        return cls(institution, ActorType.INSTITUTION_CLIENT, client_id)


def _now(now=None):
    return now or timezone.now()


def _tokyo_day(now) -> datetime.date:
    return now.astimezone(rules.TOKYO).date()


def _staff_actor(member) -> str:
    return f"staff:{member.user.get_username()}"


# --- the emergency permission -----------------------------------------------------------------------
def is_hospital(institution) -> bool:
    return bool(institution.hospital) and institution.facility_type in (
        FacilityType.MEDICAL,
        FacilityType.DENTAL,
    )


def _check_granter(member, by):
    if not getattr(by, "is_admin", False) or by.institution_id != member.institution_id:
        raise PERMISSION_BY_ADMIN()


def do_grant_emergency_permission(member, *, by, now=None) -> EmergencyPermission:
    """The institution admin `by` lets staff member `member` use emergency viewing (hospitals only)."""
    _check_granter(member, by)
    if not is_hospital(member.institution):
        raise NOT_HOSPITAL()
    now = _now(now)
    with transaction.atomic():
        held = (
            EmergencyPermission.objects.select_for_update()
            .filter(user_id=member.user_id, institution_id=member.institution_id, revoked_at__isnull=True)
            .first()
        )
        if held is not None:
            return held
        permission = EmergencyPermission.objects.create(
            user_id=member.user_id,
            institution_id=member.institution_id,
            granted_at=now,
            granted_by=_staff_actor(by),
        )
        record_access(
            actor_type=ActorType.INSTITUTION_STAFF,
            actor_id=_staff_actor(by),
            items=["console_staff"],
            basis=Basis.OPERATOR,
            institution_code=member.institution.code,
            detail={
                "action": Action.EMERGENCY_PERMISSION_GRANTED,
                "staff": member.user.get_username(),
            },
        )
    return permission


def do_revoke_emergency_permission(member, *, by, now=None) -> int:
    _check_granter(member, by)
    now = _now(now)
    with transaction.atomic():
        revoked = EmergencyPermission.objects.filter(
            user_id=member.user_id, institution_id=member.institution_id, revoked_at__isnull=True
        ).update(revoked_at=now, revoked_by=_staff_actor(by))
        if revoked:
            record_access(
                actor_type=ActorType.INSTITUTION_STAFF,
                actor_id=_staff_actor(by),
                items=["console_staff"],
                basis=Basis.OPERATOR,
                institution_code=member.institution.code,
                detail={
                    "action": Action.EMERGENCY_PERMISSION_REVOKED,
                    "staff": member.user.get_username(),
                },
            )
    return revoked


def permitted_user_ids(institution) -> set[int]:
    return set(
        EmergencyPermission.objects.filter(institution=institution, revoked_at__isnull=True).values_list(
            "user_id", flat=True
        )
    )


def has_emergency_permission(viewer: Viewer) -> bool:
    """Checked on every search and every view, never cached: a revoked permission stops the next read."""
    return (
        viewer.actor_type == ActorType.INSTITUTION_STAFF
        and viewer.user_id is not None
        and is_hospital(viewer.institution)
        and EmergencyPermission.objects.filter(
            user_id=viewer.user_id, institution=viewer.institution, revoked_at__isnull=True
        ).exists()
    )


# --- disaster scopes --------------------------------------------------------------------------------
def _clean_codes(codes) -> list[str]:
    if isinstance(codes, str):
        codes = re.split(r"[\s,、，]+", codes)
    cleaned = []
    for code in codes:
        code = unicodedata.normalize("NFKC", str(code)).strip()
        if code and code not in cleaned:
            cleaned.append(code)
    return cleaned


def clean_scope(name, municipality_codes, starts_on, ends_on, *, now=None) -> tuple[str, list[str]]:
    """(name, codes) of a scope to open, or disaster_scope_invalid naming every problem."""
    now = _now(now)
    name = (name or "").strip()
    codes = _clean_codes(municipality_codes)
    reasons = []
    if not name or len(name) > 100:
        reasons.append("名称は1〜100文字 / a name of 1 to 100 characters")
    if not codes:
        reasons.append("市区町村コードを1つ以上 / at least one municipality code")
    bad = [c for c in codes if not is_valid_municipality_code(c)]
    if bad:
        reasons.append(f"市区町村コードが正しくありません / not a municipality code: {', '.join(bad)}")
    if not isinstance(starts_on, datetime.date) or not isinstance(ends_on, datetime.date):
        reasons.append("開始日と終了日 / a start and an end date")
    elif ends_on < starts_on:
        reasons.append("終了日は開始日以降 / the end on or after the start")
    elif ends_on < _tokyo_day(now):
        reasons.append("終了日が過去です / the end is in the past")
    if reasons:
        raise SCOPE_INVALID(reasons="; ".join(reasons))
    return name, codes


def do_open_disaster_scope(
    name, municipality_codes, starts_on, ends_on, *, by: str, now=None
) -> DisasterScope:
    """The operator opens disaster mode for persons living in these municipalities, on these days."""
    now = _now(now)
    name, codes = clean_scope(name, municipality_codes, starts_on, ends_on, now=now)
    with transaction.atomic():
        scope = DisasterScope.objects.create(
            name=name,
            municipality_codes=codes,
            starts_on=starts_on,
            ends_on=ends_on,
            opened_at=now,
            opened_by=by,
        )
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=by,
            items=["disaster_scope"],
            basis=Basis.OPERATOR,
            detail={
                "action": Action.DISASTER_SCOPE_OPENED,
                "scope": scope.pk,
                "name": name,
                "municipalities": codes,
                "starts_on": starts_on.isoformat(),
                "ends_on": ends_on.isoformat(),
            },
        )
    return scope


def do_close_disaster_scope(scope: DisasterScope, *, by: str, now=None) -> DisasterScope:
    """Close a scope early: the next search or view under it is refused."""
    now = _now(now)
    with transaction.atomic():
        scope = DisasterScope.objects.select_for_update().get(pk=scope.pk)
        if scope.closed_at is not None:
            raise SCOPE_CLOSED()
        scope.closed_at, scope.closed_by = now, by
        scope.save(update_fields=["closed_at", "closed_by"])
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=by,
            items=["disaster_scope"],
            basis=Basis.OPERATOR,
            detail={"action": Action.DISASTER_SCOPE_CLOSED, "scope": scope.pk},
        )
    return scope


def scopes_in_force(now=None):
    today = _tokyo_day(_now(now))
    return DisasterScope.objects.filter(
        closed_at__isnull=True, starts_on__lte=today, ends_on__gte=today
    ).order_by("pk")


def _scope_for(person: Person, now) -> DisasterScope | None:
    code = person.address_municipality_code
    if not code:
        return None
    for scope in scopes_in_force(now):
        if code in scope.municipality_codes:
            return scope
    return None


# --- the search -------------------------------------------------------------------------------------
_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"[‐‑‒–—―−ｰ－]")
_DIGIT_DASH = re.compile(r"(?<=\d)ー(?=\d)")


def normalized_name(value) -> str:
    """One spelling of a name: NFKC (half-width kana to full-width), no spaces, hiragana as katakana."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", str(value or "")))
    return "".join(chr(ord(ch) + 0x60) if "ぁ" <= ch <= "ゖ" else ch for ch in text)


def normalized_address(value) -> str:
    """One spelling of an address: NFKC, no spaces, one kind of dash between numbers."""
    text = _SPACES.sub("", unicodedata.normalize("NFKC", str(value or "")))
    return _DIGIT_DASH.sub("-", _DASHES.sub("-", text))


@dataclass(frozen=True)
class Search:
    method: str
    name: str = ""
    birth_date: datetime.date | None = None
    sex: str = ""
    address: str = ""
    keys: object = None  # registry SearchKeys
    certificate_der: bytes = b""

    def summary(self) -> dict:
        """What the log keeps of the search: which fields were given, never their values."""
        given = {
            SearchMethod.CARD: ["certificate"],
            SearchMethod.INSURER_KEYS: ["insurer_keys", "birth_date"],
        }
        fields = given.get(self.method) or [
            n for n in ("name", "birth_date", "sex", "address") if getattr(self, n)
        ]
        return {"method": self.method, "fields": fields}


def clean_search(method, data: dict) -> Search:
    """A search from form or JSON fields. Attributes need at least name and birth date; insurer keys
    need all of insurer number, number, branch and birth date (記号 when the card has one)."""
    method = str(method or "")
    if method not in SearchMethod.values:
        raise METHOD_UNKNOWN()
    if method == SearchMethod.CARD:
        der = data.get("certificate_der") or b""
        if not der:
            raise SEARCH_TOO_LITTLE()
        return Search(method, certificate_der=bytes(der))

    def get(name):
        return str(data.get(name) or "").strip()

    if method == SearchMethod.INSURER_KEYS:
        if not all(get(n) for n in ("insurer_number", "number", "branch", "birth_date")):
            raise SEARCH_TOO_LITTLE()
        try:
            keys = clean_search_keys(
                get("insurer_number"),
                get("symbol"),
                get("number"),
                get("branch"),
                get("birth_date"),
                today=rules.today(),
            )
        except RegistryValidationError as exc:
            raise SEARCH_FIELD_INVALID(reasons=" ".join(e.error.message() for e in exc.errors)) from None
        return Search(method, keys=keys, birth_date=keys.birth_date)
    name = normalized_name(get("name"))
    if not name or not get("birth_date"):
        raise SEARCH_TOO_LITTLE()
    try:
        birth_date = datetime.date.fromisoformat(get("birth_date"))
    except ValueError:
        raise SEARCH_FIELD_INVALID(
            reasons="生年月日は 1950-04-02 の形で / birth date as 1950-04-02"
        ) from None
    sex = get("sex")
    if sex and sex not in Sex.values:
        raise SEARCH_FIELD_INVALID(reasons="性別は 1（男）か 2（女） / sex 1 (male) or 2 (female)")
    if len(get("name")) > 100 or len(get("address")) > 200:  # as given: NFKC may lengthen a name
        raise SEARCH_FIELD_INVALID(reasons="長すぎます / too long")
    return Search(
        method, name=name, birth_date=birth_date, sex=sex, address=normalized_address(get("address"))
    )


def clean_reason(basis, code, text) -> tuple[str, str]:
    choices = REASONS[basis]
    code, text = str(code or ""), " ".join(str(text or "").split())[:200]
    if code not in choices.values or (code == choices.OTHER and not text):
        raise REASON_REQUIRED(choices=", ".join(f"{v}（{label}）" for v, label in choices.choices))
    return code, text


def _candidates(search: Search) -> list[Person]:
    """Persons matching the search exactly (normalised); raises a jpki refusal for a bad card."""
    if search.method == SearchMethod.CARD:
        row = resolve_card_certificate(verify_certificate(search.certificate_der))
        return [row.person]
    if search.method == SearchMethod.INSURER_KEYS:
        persons = {q.person_id for q in _periods_by_keys(search.keys)}
        return list(Person.objects.filter(pk__in=persons).order_by("pk"))
    persons = Person.objects.filter(birth_date=search.birth_date)
    if search.sex:
        persons = persons.filter(sex=search.sex)
    found = []
    for person in persons.order_by("pk")[:5000]:
        if search.name not in (normalized_name(person.name), normalized_name(person.name_kana)):
            continue
        if search.address and normalized_address(person.address) != search.address:
            continue
        found.append(person)
    return found


def _periods_by_keys(keys):
    return Qualification.objects.filter(
        insurer__number=keys.insurer_number,
        symbol=normalize_card_key(keys.symbol),
        number=normalize_card_key(keys.number),
        branch=keys.branch,
        person__birth_date=keys.birth_date,
    ).only("person_id")


def _allowed(viewer: Viewer, basis) -> bool:
    if viewer.institution.qualification_only:
        return False
    if basis == EncounterBasis.EMERGENCY:
        return has_emergency_permission(viewer)
    return basis == EncounterBasis.DISASTER


def _log(viewer, basis, action, *, person=None, items=(), outcome=Outcome.OK, **detail):
    return record_access(
        actor_type=viewer.actor_type,
        actor_id=viewer.actor_id,
        institution_code=viewer.institution.code,
        person=person,
        items=list(items),
        basis=basis,
        outcome=outcome,
        detail={"action": str(action), **{k: v for k, v in detail.items() if v not in (None, "")}},
    )


def _check_rate(viewer: Viewer):
    window = max(1, int(settings.SPECIAL_ACCESS_SEARCH_WINDOW.total_seconds()))
    limits = settings.SPECIAL_ACCESS_SEARCH_LIMITS
    counted = {
        "actor": (f"{viewer.institution.code}:{viewer.actor_id}", limits.get("actor", 0)),
        "institution": (viewer.institution.code, limits.get("institution", 0)),
    }
    if ratelimit.count_and_check(RATE_KEY_PREFIX, counted, window):
        return RATE_LIMITED(minutes=max(1, -(-window // 60)), retry_after=window)
    return None


def do_search(viewer: Viewer, basis, search: Search, reason, reason_text="", *, now=None) -> Encounter:
    """Find one patient under `basis` and open an encounter for this viewer; or refuse with a code.

    The search's row names the person found (item basic_information) or none; a refusal's row is
    written and committed before the refusal is raised."""
    basis = EncounterBasis(basis)
    now = _now(now)
    reason, reason_text = clean_reason(basis, reason, reason_text)
    action = ACTIONS[basis][0]
    common = {"reason": reason, "reason_text": reason_text, **search.summary()}
    error: HomeConsentError | None = None
    encounter = None
    with transaction.atomic():
        if not _allowed(viewer, basis):
            _log(viewer, basis, action, outcome=Outcome.REFUSED, refusal=NOT_AVAILABLE.code, **common)
            error = NOT_AVAILABLE()
        else:
            error = _check_rate(viewer)
            if error is not None:
                _log(viewer, basis, action, outcome=Outcome.REFUSED, refusal=error.code, **common)
        if error is None:
            try:
                persons = _candidates(search)
            except HomeConsentError as exc:  # a card that is not current or not registered
                persons, error = [], exc
            scopes = {}
            if basis == EncounterBasis.DISASTER:
                scopes = {p.pk: _scope_for(p, now) for p in persons}
                persons = [p for p in persons if scopes[p.pk] is not None]  # outside: as if nobody
            if error is None and len(persons) > 1:
                error = AMBIGUOUS()
            elif error is None and not persons:
                error = NO_MATCH()
            if error is not None:
                outcome = Outcome.REFUSED if error.code == AMBIGUOUS.code else Outcome.NOT_FOUND
                _log(viewer, basis, action, outcome=outcome, refusal=error.code, **common)
            else:
                [person] = persons
                scope = scopes.get(person.pk)
                encounter = Encounter.objects.create(
                    token=secrets.token_urlsafe(24),
                    basis=basis,
                    institution=viewer.institution,
                    actor_type=viewer.actor_type,
                    actor_id=viewer.actor_id,
                    person=person,
                    scope=scope,
                    method=search.method,
                    reason=reason,
                    reason_text=reason_text,
                    started_at=now,
                    expires_at=now + settings.SPECIAL_ACCESS_ENCOUNTER,
                )
                _log(
                    viewer,
                    basis,
                    action,
                    person=person,
                    items=[SEARCH_ITEM],
                    encounter=encounter.token[:8],
                    scope=scope.pk if scope else None,
                    **common,
                )
    if error is not None:
        raise error
    return encounter


# --- the view ---------------------------------------------------------------------------------------
@dataclass
class SpecialView:
    encounter: Encounter
    item: str | None  # None: the summary of every item
    eligibility: EligibilityResult | None = None
    medication: list | None = None
    treatment: list | None = None
    checkups: list | None = None
    items: list = field(default_factory=list)
    at: datetime.datetime = field(default_factory=timezone.now)

    @property
    def person(self) -> Person:
        return self.encounter.person


def _still_allowed(viewer, encounter: Encounter, now) -> bool:
    if encounter.expires_at <= now or not _allowed(viewer, encounter.basis):
        return False
    if encounter.basis == EncounterBasis.DISASTER:
        scope = encounter.scope
        today = _tokyo_day(now)
        return (
            scope is not None
            and scope.closed_at is None
            and scope.starts_on <= today <= scope.ends_on
            and encounter.person.address_municipality_code in scope.municipality_codes
        )
    return True


def encounter_of(viewer: Viewer, basis, token) -> Encounter | None:
    return (
        Encounter.objects.select_related("person", "scope", "institution")
        .filter(
            token=str(token or "")[:43],
            basis=basis,
            institution=viewer.institution,
            actor_type=viewer.actor_type,
            actor_id=viewer.actor_id,
        )
        .first()
    )


def _rows(item, person, today, detail: bool):
    start = (
        add_years(today, -DETAIL_YEARS[item])
        if detail
        else today - datetime.timedelta(days=SUMMARY_DAYS[item])
    )
    if item == ConsentItem.MEDICATION:
        rows = MedicationRecord.objects.filter(person=person, dispensed_on__gte=start).order_by(
            "-dispensed_on", "pk"
        )
    elif item == ConsentItem.TREATMENT:
        rows = TreatmentRecord.objects.filter(person=person, treated_on__gte=start).order_by(
            "-treated_on", "pk"
        )
    else:
        rows = CheckupResult.objects.filter(person=person, checked_on__gte=start).order_by(
            "-checked_on", "item_code", "pk"
        )
    return list(rows[:ROW_LIMIT])


def view(viewer: Viewer, basis, token, item=None, *, now=None) -> SpecialView:
    """The emergency summary (item None) or one item's detail, for an encounter of this viewer still
    within its time and its rules (checked now: permission held, scope open, person inside it)."""
    basis = EncounterBasis(basis)
    now = _now(now)
    action = ACTIONS[basis][1]
    error = None
    with transaction.atomic():
        encounter = encounter_of(viewer, basis, token)
        if encounter is None:
            raise ENCOUNTER_ENDED()
        common = {
            "encounter": encounter.token[:8],
            "scope": encounter.scope_id,
            "reason": encounter.reason,
            "reason_text": encounter.reason_text,
            "method": encounter.method,
        }
        if item is not None and item not in ITEMS[basis]:
            error = ITEM_NOT_SHOWN()
        elif not _still_allowed(viewer, encounter, now):
            error = ENCOUNTER_ENDED()
        if error is not None:
            _log(
                viewer,
                basis,
                action,
                person=encounter.person_id,
                outcome=Outcome.REFUSED,
                refusal=error.code,
                **common,
            )
        else:
            today = _tokyo_day(now)
            person = encounter.person
            shown = ITEMS[basis] if item is None else (item,)
            result = SpecialView(encounter, item, items=[str(i) for i in shown])
            for each in shown:
                if each == ConsentItem.QUALIFICATION:
                    result.eligibility = resolve_for_person(person, today)
                elif each == ConsentItem.MEDICATION:
                    result.medication = _rows(each, person, today, item is not None)
                elif each == ConsentItem.TREATMENT:
                    result.treatment = _rows(each, person, today, item is not None)
                elif each == ConsentItem.CHECKUP:
                    result.checkups = _rows(each, person, today, item is not None)
            _log(
                viewer,
                basis,
                action,
                person=person,
                items=result.items,
                part="detail" if item else "summary",
                **common,
            )
    if error is not None:
        raise error
    return result


# --- reports ----------------------------------------------------------------------------------------
def scope_counts(scope_ids=None) -> dict[int, dict]:
    """Per scope: patients found (encounters) and views (access-log rows), for the operator.
    Counting reads nobody's data (no person is named)."""
    encounters = Encounter.objects.filter(scope__isnull=False)
    events = AccessEvent.objects.filter(
        basis=Basis.DISASTER, outcome=Outcome.OK, detail__action=Action.DISASTER_VIEW
    )
    if scope_ids is not None:
        encounters = encounters.filter(scope_id__in=scope_ids)
        events = events.filter(detail__scope__in=list(scope_ids))
    counts: dict[int, dict] = {}
    for scope_id, n in encounters.values_list("scope").annotate(n=Count("pk")).order_by():
        counts.setdefault(scope_id, {"found": 0, "views": 0})["found"] = n
    for detail in events.values_list("detail", flat=True):
        counts.setdefault(detail.get("scope"), {"found": 0, "views": 0})["views"] += 1
    return counts


def emergency_report(institution, *, since=None, limit=500):
    """This institution's emergency searches and views, newest first: who, when, why, what was shown.
    No patient names: the report is about the staff, and reading it reads nobody's data."""
    rows = AccessEvent.objects.filter(institution_code=institution.code, basis=Basis.EMERGENCY)
    if since is not None:
        rows = rows.filter(occurred_at__gte=since)
    return list(rows.order_by("-occurred_at", "-id")[:limit])
