"""Input of the data endpoints (query parameters and bodies), as DRF serializers so the OpenAPI
schema describes them. Validation only; what a read may return is decided in clinicapi.reads."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from homeconsent.consent.models import ConsentKind
from homeconsent.dates import QUERY_MAX, QUERY_MIN, query_date, query_month
from homeconsent.errors import ErrorCode, HomeConsentError
from homeconsent.registry.models import MedicationSource

from .errors import RANGE_FROM_AFTER_TO

# What the schema says of dates and months, and what the fields below check: the form, and years
# QUERY_MIN..QUERY_MAX (1900-2999), so no date near the calendar's ends reaches a computation.
DATE_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
MONTH_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})-(0[1-9]|1[0-2])$"
INSURER_NUMBER_PATTERN = r"^([0-9]{6}|[0-9]{8})$"
BRANCH_PATTERN = r"^[0-9]{2}$"
# DRF refuses NUL in every text field (PostgreSQL cannot store it): the schema says so of each one,
# by one of these patterns or by its own (ApiAutoSchema gives NO_NUL to a text field stating none).
NO_NUL = r"^[^\u0000]*$"
NOT_BLANK = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"  # some character that is not a space
CARD_NUMBER_PATTERN = NOT_BLANK  # 番号: any characters, not blank (stored NFKC-normalised, up to 38)
VALUE_EMPTY = ErrorCode(
    "value_empty",
    "値が空です。指定しない場合はパラメータごと省いてください。",
    "The value is empty; to leave it out, omit the parameter.",
)


def _reversed(start: str, end: str) -> serializers.ValidationError:
    error = RANGE_FROM_AFTER_TO(start=start, end=end)
    return serializers.ValidationError({start: error.message()}, code=error.code)


def _refused(error: HomeConsentError) -> serializers.ValidationError:
    # In the active language: the views validate once in Japanese and once in English.
    return serializers.ValidationError(error.message(), code=error.code)


class _NotEmpty:
    """A query parameter given with an empty value is refused (value_empty), not read as absent:
    the schema does not allow an empty value, so `?on=` is a mistake worth saying."""

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist") and dictionary.get(self.field_name, None) == "":
            return ""
        return super().get_value(dictionary)

    def run_validation(self, data=empty):
        if data == "":
            raise _refused(VALUE_EMPTY())
        return super().run_validation(data)


@extend_schema_field(
    {
        "type": "string",
        "format": "date",
        "pattern": DATE_PATTERN,
        "description": f"YYYY-MM-DD, {QUERY_MIN} to {QUERY_MAX}",
    }
)
class DateField(_NotEmpty, serializers.Field):
    """YYYY-MM-DD (exactly that form), a real day from QUERY_MIN to QUERY_MAX; coded refusals."""

    def to_internal_value(self, data):
        try:
            return query_date(str(data), self.field_name)
        except HomeConsentError as exc:
            raise _refused(exc) from None

    def to_representation(self, value):
        return value.isoformat()


@extend_schema_field(
    {"type": "string", "pattern": MONTH_PATTERN, "description": "YYYY-MM, 1900-01 to 2999-12"}
)
class MonthField(_NotEmpty, serializers.Field):
    """YYYY-MM, read as the first day of that month."""

    def to_internal_value(self, data):
        try:
            return query_month(str(data), self.field_name)
        except HomeConsentError as exc:
            raise _refused(exc) from None

    def to_representation(self, value):
        return f"{value:%Y-%m}"


# The next page's position, as GET /patients hands it out (data_views._encode_cursor).
CURSOR_PATTERN = r"^[0-9]{1,16}\.[0-9]{1,18}$"


@extend_schema_field(
    {"type": "string", "pattern": CURSOR_PATTERN, "description": "next_cursor of the previous page"}
)
class CursorField(_NotEmpty, serializers.CharField):
    """Read by the view (cursor_invalid when it names no position)."""


class ChoiceField(_NotEmpty, serializers.ChoiceField):
    pass


class CharField(_NotEmpty, serializers.CharField):
    pass


class IntegerField(_NotEmpty, serializers.IntegerField):
    pass


class ConsentedPatientsQuery(serializers.Serializer):
    kind = ChoiceField(choices=[ConsentKind.HOME_VISIT, ConsentKind.TELEHEALTH], required=False)
    consented_from = DateField(
        required=False, help_text="consent given on or after (Tokyo day); not after consented_to"
    )
    consented_to = DateField(required=False, help_text="consent given on or before (Tokyo day)")
    visit_from = DateField(required=False, help_text="telehealth visit date on or after; not after visit_to")
    visit_to = DateField(required=False, help_text="telehealth visit date on or before")
    status = ChoiceField(choices=["in_force", "ended", "all"], default="in_force")
    cursor = CursorField(required=False, max_length=40)
    page_size = IntegerField(min_value=1, max_value=500, default=100)


class EligibilityQuery(serializers.Serializer):
    on = DateField(
        required=False, help_text="reference date (default: today, Asia/Tokyo), at most a year ahead"
    )


# The search keys' forms, stated in the schema; registry.validation checks them (and the check digit,
# the day, the date window) with its own codes, so the serializer leaves them as strings.
@extend_schema_field({"type": "string", "pattern": INSURER_NUMBER_PATTERN})
class InsurerNumberField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "pattern": CARD_NUMBER_PATTERN, "minLength": 1, "maxLength": 38})
class CardNumberField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "pattern": BRANCH_PATTERN})
class BranchField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "format": "date", "pattern": DATE_PATTERN})
class BirthDateField(serializers.CharField):
    pass


class SearchKeysInput(serializers.Serializer):
    """The national search keys: InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber,
    InsuredBranchNumber, Birthdate. Checked by registry.validation (check digits, formats)."""

    insurer_number = InsurerNumberField(
        max_length=8,
        help_text=(
            "InsurerNumber (保険者番号): 8 digits, or 6 for 国民健康保険; the last is the check digit"
        ),
    )
    symbol = serializers.CharField(
        max_length=38,
        allow_blank=True,
        default="",
        trim_whitespace=False,
        help_text="InsuredCardSymbol (記号)",
    )
    number = CardNumberField(
        max_length=38, trim_whitespace=False, help_text="InsuredIdentificationNumber (番号)"
    )
    branch = BranchField(max_length=2, help_text="InsuredBranchNumber (枝番, two digits)")
    birth_date = BirthDateField(
        max_length=10, help_text="Birthdate, YYYY-MM-DD: a real day from 1900, not in the future"
    )


class RequeryInput(SearchKeysInput):
    on = DateField(
        required=False, help_text="reference date (default: today, Asia/Tokyo), at most a year ahead"
    )


class MedicationQuery(serializers.Serializer):
    month_from = MonthField(
        required=False,
        help_text="first dispensing month, YYYY-MM (default: 2 months ago); not after month_to",
    )
    month_to = MonthField(required=False, help_text="last dispensing month, YYYY-MM (default: this month)")
    source = ChoiceField(choices=MedicationSource.choices, required=False)

    def validate(self, attrs):
        if attrs.get("month_from") and attrs.get("month_to") and attrs["month_from"] > attrs["month_to"]:
            raise _reversed("month_from", "month_to")
        return attrs


class DateRangeQuery(serializers.Serializer):
    date_from = DateField(required=False, help_text="first day (inclusive); not after date_to")
    date_to = DateField(required=False, help_text="last day (inclusive)")

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise _reversed("date_from", "date_to")
        return attrs


class CancelInput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ConsentKind.choices,
        required=False,
        help_text="only this kind; absent: every consent in force here",
    )


class BatchInput(serializers.Serializer):
    """Validated by clinicapi.batch entry by entry (one bad entry is an error row, not a failed batch)."""

    on = DateField(
        required=False, help_text="reference date (default: today, Asia/Tokyo), at most a year ahead"
    )
    entries = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        help_text="1 to 10,000 search keys (more: 413), each an object {insurer_number, symbol, number, "
        "branch, birth_date} of strings; an entry that is not one is answered as its own error row "
        "(entry_not_object), not refused with the batch",
    )


class BatchPageQuery(serializers.Serializer):
    offset = IntegerField(min_value=0, default=0)
    limit = IntegerField(min_value=1, max_value=1000, default=1000)
