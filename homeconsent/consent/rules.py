"""The rules of a consent's content: kinds, items, and until when it holds (reference/domain.md).

Shared by the consent services and the telehealth-app sessions, so both refuse the same things
with the same codes.
"""

import datetime
import zoneinfo

from django.utils import timezone

from homeconsent.dates import add_years
from homeconsent.errors import ErrorCode

from .models import ConsentItem, ConsentKind

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
MEDICAL_ITEMS = frozenset(
    {ConsentItem.MEDICATION, ConsentItem.TREATMENT, ConsentItem.CHECKUP, ConsentItem.OPERATION}
)
# What a qualification-only consent (資格確認限定型) may carry: eligibility, never medical information.
QUALIFICATION_ONLY_ITEMS = frozenset({ConsentItem.QUALIFICATION, ConsentItem.LIMIT_CERTIFICATE})
# A telehealth consent holds from when it is given to the end of the visit date: keep that short.
VISIT_DATE_HORIZON = datetime.timedelta(days=90)
# How far ahead a consent's end date may lie: the patient choosing it on the consent pages and the
# institution setting it later are held to the same limit here.
END_DATE_HORIZON_YEARS = 5

CONSENT_KIND_UNKNOWN = ErrorCode(
    "consent_kind_unknown",
    "同意の種類「{kind}」はありません。",
    "There is no consent kind '{kind}'.",
)
CONSENT_ITEM_UNKNOWN = ErrorCode(
    "consent_item_unknown",
    "同意できる情報の種類に「{item}」はありません。",
    "'{item}' is not a kind of information one can consent to.",
)
CONSENT_ITEMS_MEDICAL_NOT_ALLOWED = ErrorCode(
    "consent_items_medical_not_allowed",
    "資格確認のみを行う施設（柔道整復・あはき施術所、健診機関）や資格確認のみの同意では、薬剤・診療・健診・手術の"
    "情報は共有できません。共有できるのは健康保険の資格情報（と限度額の情報）だけです。",
    "A qualification-only institution (judo therapy, acupuncture and massage clinics, health-check "
    "centres) or consent cannot receive medication, treatment, checkup or operation information: only "
    "health insurance status (and the limit on medical costs) can be shared.",
)
VISIT_DATE_REQUIRED = ErrorCode(
    "visit_date_required",
    "オンライン診療の日を選んでください。",
    "Choose the date of your telehealth visit.",
)
VISIT_DATE_UNREADABLE = ErrorCode(
    "visit_date_invalid",
    "診療予定日が日付として読み取れません。カレンダーから日付を選んでください。",
    "The visit date could not be read as a date. Choose a day from the calendar.",
)
VISIT_DATE_PAST = ErrorCode(
    "visit_date_past",
    "診療予定日（{visit_date_ja}）はすでに過ぎています。今日から後の予定日を選んでください。",
    "The visit date ({visit_date_en}) has already passed. Choose the day of the visit, today or later.",
)
VISIT_DATE_TOO_FAR = ErrorCode(
    "visit_date_too_far",
    "診療予定日（{visit_date_ja}）が先すぎます。今日から90日以内の予定日を選んでください。",
    "The visit date ({visit_date_en}) is too far ahead: choose a day within 90 days from today.",
)
VISIT_DATE_NOT_FOR_KIND = ErrorCode(
    "visit_date_not_for_kind",
    "診療予定日はオンライン診療の同意にだけ指定できます。",
    "A visit date can only be given for a telehealth consent.",
)
AVAILABLE_UNTIL_NOT_FOR_KIND = ErrorCode(
    "available_until_not_for_kind",
    "オンライン診療の同意の期限は診療予定日で決まるため、別に指定できません。",
    "A telehealth consent lasts until the end of the visit date; no other end can be given.",
)
AVAILABLE_UNTIL_UNREADABLE = ErrorCode(
    "consent_end_date_invalid",
    "終了日が日付として読み取れません。今日から{latest_ja}までの日付を選んでください。",
    "The end date could not be read as a date. Choose a day from today up to {latest_en}.",
)
AVAILABLE_UNTIL_PAST = ErrorCode(
    "available_until_past",
    "同意の終了日はこれから先の日付にしてください。",
    "The end of the consent must lie in the future.",
)
AVAILABLE_UNTIL_TOO_FAR = ErrorCode(
    "available_until_too_far",
    "同意の終了日は5年先まで、{latest_ja}までの日付にしてください。",
    "The end of the consent can be at most five years ahead: choose a date up to {latest_en}.",
)


def today() -> datetime.date:
    return timezone.now().astimezone(TOKYO).date()


def start_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of a Tokyo day, as an aware datetime."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=TOKYO)


def last_day(available_until: datetime.datetime | None) -> datetime.date | None:
    """The last Tokyo day a consent holds: available_until is the exclusive end (midnight after
    that day), so a visit on 30 November reads 30 November, not 1 December. None: open-ended."""
    if available_until is None:
        return None
    return (available_until.astimezone(TOKYO) - datetime.timedelta(microseconds=1)).date()


def latest_end_date(on: datetime.date | None = None) -> datetime.date:
    """The last day a consent's end date may be set to: five years from `on` (default today, Tokyo)."""
    return add_years(on or today(), END_DATE_HORIZON_YEARS)


def _day_params(name: str, day: datetime.date) -> dict:
    return {
        name: day.isoformat(),
        f"{name}_ja": f"{day.year}年{day.month}月{day.day}日",
        f"{name}_en": f"{day.day} {day:%b} {day.year}",
    }


def latest_end_date_params(on: datetime.date | None = None) -> dict:
    """The latest end date, written for the messages that name it."""
    return _day_params("latest", latest_end_date(on))


def clean_kind(kind) -> str:
    try:
        return ConsentKind(kind).value
    except ValueError:
        raise CONSENT_KIND_UNKNOWN(kind=kind) from None


def clean_item(item) -> str:
    try:
        return ConsentItem(item).value
    except ValueError:
        raise CONSENT_ITEM_UNKNOWN(item=item) from None


def clean_items(kind: str, items, institution=None) -> list[str]:
    """Sorted, unique, always with qualification; medical items refused where they may not go."""
    if isinstance(items, str):
        items = [items]
    cleaned = {clean_item(item) for item in items} | {ConsentItem.QUALIFICATION.value}
    qualification_only = kind == ConsentKind.QUALIFICATION_ONLY or (
        institution is not None and institution.qualification_only
    )
    if qualification_only and not cleaned <= QUALIFICATION_ONLY_ITEMS:
        raise CONSENT_ITEMS_MEDICAL_NOT_ALLOWED()
    return sorted(cleaned)


def clean_visit_date(kind: str, visit_date, *, on: datetime.date | None = None):
    """The visit date of a telehealth consent (a date or YYYY-MM-DD), today or later; None otherwise."""
    if kind != ConsentKind.TELEHEALTH:
        if visit_date:
            raise VISIT_DATE_NOT_FOR_KIND()
        return None
    if not visit_date:
        raise VISIT_DATE_REQUIRED()
    if isinstance(visit_date, str):
        try:
            visit_date = datetime.date.fromisoformat(visit_date)
        except ValueError:
            raise VISIT_DATE_UNREADABLE() from None
    if isinstance(visit_date, datetime.datetime):
        visit_date = visit_date.astimezone(TOKYO).date()
    on = on or today()
    if visit_date < on:
        raise VISIT_DATE_PAST(**_day_params("visit_date", visit_date))
    if visit_date > on + VISIT_DATE_HORIZON:
        raise VISIT_DATE_TOO_FAR(**_day_params("visit_date", visit_date))
    return visit_date


def consent_until(kind: str, *, visit_date=None, available_until=None, now=None):
    """When a consent stops holding (exclusive), or None for open-ended.

    Telehealth: the end of the visit date (next midnight, Asia/Tokyo). Others: open-ended unless
    an end is given: a date means "through that Tokyo day", a datetime is taken as is. An end
    must lie ahead, and at most END_DATE_HORIZON_YEARS ahead (latest_end_date).
    """
    now = now or timezone.now()
    if kind == ConsentKind.TELEHEALTH:
        if available_until is not None:
            raise AVAILABLE_UNTIL_NOT_FOR_KIND()
        return start_of_day(visit_date + datetime.timedelta(days=1))
    if available_until is None:
        return None
    if isinstance(available_until, str):
        available_until = (
            datetime.date.fromisoformat(available_until)
            if len(available_until) == 10
            else datetime.datetime.fromisoformat(available_until)
        )
    if isinstance(available_until, datetime.datetime):
        until = (
            available_until if timezone.is_aware(available_until) else available_until.replace(tzinfo=TOKYO)
        )
    else:
        until = start_of_day(available_until + datetime.timedelta(days=1))
    if until <= now:
        raise AVAILABLE_UNTIL_PAST()
    latest = latest_end_date(now.astimezone(TOKYO).date())
    if until > start_of_day(latest + datetime.timedelta(days=1)):
        raise AVAILABLE_UNTIL_TOO_FAR(**latest_end_date_params(now.astimezone(TOKYO).date()))
    return until.astimezone(datetime.UTC).replace(microsecond=0)


def in_force_window(on=None) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of what `on` means: a moment (datetime, default now) or a whole Tokyo day (date)."""
    if on is None:
        on = timezone.now()
    if isinstance(on, datetime.datetime):
        return on, on
    return start_of_day(on), start_of_day(on + datetime.timedelta(days=1))
