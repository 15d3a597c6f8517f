"""Input of the data endpoints (query parameters and bodies), as DRF serializers so the OpenAPI
schema describes them. Validation only; what a read may return is decided in clinicapi.reads."""

import datetime
import re

from rest_framework import serializers

from homeconsent.consent.models import ConsentKind
from homeconsent.registry.models import MedicationSource

from .errors import MONTH_INVALID, RANGE_FROM_AFTER_TO

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _reversed(start: str, end: str) -> serializers.ValidationError:
    error = RANGE_FROM_AFTER_TO(start=start, end=end)
    return serializers.ValidationError({start: error.message()}, code=error.code)


class MonthField(serializers.CharField):
    """YYYY-MM, read as the first day of that month."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _MONTH.match(value):
            # In the active language: the views validate once in Japanese and once in English.
            raise serializers.ValidationError(MONTH_INVALID().message(), code=MONTH_INVALID.code)
        return datetime.date(int(value[:4]), int(value[5:]), 1)


class ConsentedPatientsQuery(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[ConsentKind.HOME_VISIT, ConsentKind.TELEHEALTH], required=False)
    consented_from = serializers.DateField(required=False, help_text="consent given on or after (Tokyo day)")
    consented_to = serializers.DateField(required=False, help_text="consent given on or before (Tokyo day)")
    visit_from = serializers.DateField(required=False, help_text="telehealth visit date on or after")
    visit_to = serializers.DateField(required=False, help_text="telehealth visit date on or before")
    status = serializers.ChoiceField(choices=["in_force", "ended", "all"], default="in_force")
    cursor = serializers.CharField(required=False, max_length=200)
    page_size = serializers.IntegerField(min_value=1, max_value=500, default=100)


class EligibilityQuery(serializers.Serializer):
    on = serializers.DateField(required=False, help_text="reference date (default: today, Asia/Tokyo)")


class SearchKeysInput(serializers.Serializer):
    """The national search keys: InsurerNumber, InsuredCardSymbol, InsuredIdentificationNumber,
    InsuredBranchNumber, Birthdate. Checked by registry.validation (check digits, formats)."""

    insurer_number = serializers.CharField(max_length=8, help_text="InsurerNumber (保険者番号)")
    symbol = serializers.CharField(max_length=38, allow_blank=True, default="", trim_whitespace=False,
                                   help_text="InsuredCardSymbol (記号)")  # fmt: skip
    number = serializers.CharField(max_length=38, trim_whitespace=False, help_text="InsuredIdentificationNumber (番号)")
    branch = serializers.CharField(max_length=2, help_text="InsuredBranchNumber (枝番, two digits)")
    birth_date = serializers.CharField(max_length=10, help_text="Birthdate, YYYY-MM-DD")


class RequeryInput(SearchKeysInput):
    on = serializers.DateField(required=False, help_text="reference date (default: today, Asia/Tokyo)")


class MedicationQuery(serializers.Serializer):
    month_from = MonthField(required=False, help_text="first dispensing month, YYYY-MM (default: 2 months ago)")
    month_to = MonthField(required=False, help_text="last dispensing month, YYYY-MM (default: this month)")
    source = serializers.ChoiceField(choices=MedicationSource.choices, required=False)

    def validate(self, attrs):
        if attrs.get("month_from") and attrs.get("month_to") and attrs["month_from"] > attrs["month_to"]:
            raise _reversed("month_from", "month_to")
        return attrs


class DateRangeQuery(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise _reversed("date_from", "date_to")
        return attrs


class CancelInput(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=ConsentKind.choices, required=False, help_text="only this kind; absent: every consent in force here"
    )


class BatchInput(serializers.Serializer):
    """Validated by clinicapi.batch entry by entry (one bad entry is an error row, not a failed batch)."""

    on = serializers.DateField(required=False, help_text="reference date (default: today, Asia/Tokyo)")
    entries = serializers.ListField(child=serializers.DictField(), help_text="up to 10,000 search keys")


class BatchPageQuery(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=1000)
