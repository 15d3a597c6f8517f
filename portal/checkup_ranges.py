"""Reference values of the specific health checkup (特定健診) items the portal charts, and the fixed
axis ranges the charts are drawn on.

Source: 厚生労働省「標準的な健診・保健指導プログラム（令和6年度版）」, the judgement values used for
every 特定健診 result: 保健指導判定値 (from here on, guidance on lifestyle is offered) and
受診勧奨判定値 (from here on, seeing a doctor is advised). A value below the 保健指導判定値 (above it
for HDL cholesterol) is inside the reference range. Waist depends on sex (85 cm men, 90 cm women).

The axes are fixed, clinically sensible spans (widened only when a value falls outside), so a
change from 4.9 to 5.0 looks as small as it is.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy

SOURCE = gettext_lazy(
    "Reference values: Ministry of Health, Labour and Welfare, “Standard health checkup and guidance "
    "programme (FY2024)” (標準的な健診・保健指導プログラム 令和6年度版): 保健指導判定値 and 受診勧奨判定値."
)

GUIDANCE = "guidance"  # at or past the 保健指導判定値
REFERRAL = "referral"  # at or past the 受診勧奨判定値


@dataclass(frozen=True)
class ReferenceRange:
    """higher_is_worse: values at or above `guidance` are out of range (below it for HDL)."""

    guidance: Decimal
    referral: Decimal | None = None
    higher_is_worse: bool = True

    def flag(self, value: Decimal) -> str | None:
        """None inside the reference range; GUIDANCE or REFERRAL past the judgement values."""
        if self.higher_is_worse:
            if self.referral is not None and value >= self.referral:
                return REFERRAL
            return GUIDANCE if value >= self.guidance else None
        if self.referral is not None and value < self.referral:
            return REFERRAL
        return GUIDANCE if value < self.guidance else None


D = Decimal
# 受診勧奨判定値 of HDL is "34 以下" (below 35); 保健指導判定値 "39 以下" (below 40).
RANGES = {
    "bmi": ReferenceRange(D("25")),
    "sbp": ReferenceRange(D("130"), D("140")),
    "dbp": ReferenceRange(D("85"), D("90")),
    "fbg": ReferenceRange(D("100"), D("126")),
    "hba1c": ReferenceRange(D("5.6"), D("6.5")),
    "tg": ReferenceRange(D("150"), D("300")),
    "hdl": ReferenceRange(D("40"), D("35"), higher_is_worse=False),
    "ldl": ReferenceRange(D("120"), D("140")),
    "ast": ReferenceRange(D("31"), D("51")),
    "alt": ReferenceRange(D("31"), D("51")),
    "ggt": ReferenceRange(D("51"), D("101")),
}
WAIST = {"1": ReferenceRange(D("85")), "2": ReferenceRange(D("90"))}  # by sex: 1 male, 2 female

# (low, high, step) of each chart's value axis.
AXES = {
    "bmi": (D("15"), D("40"), D("5")),
    "blood_pressure": (D("40"), D("200"), D("40")),
    "hba1c": (D("4"), D("10"), D("1")),
    "fbg": (D("60"), D("220"), D("40")),
    "ldl": (D("40"), D("240"), D("40")),
    "hdl": (D("20"), D("120"), D("20")),
    "tg": (D("0"), D("500"), D("100")),
    "waist": (D("60"), D("120"), D("10")),
}


def reference_for(item_key: str, sex: str = "") -> ReferenceRange | None:
    if item_key == "waist":
        return WAIST.get(sex)
    return RANGES.get(item_key)


def axis_for(chart_key: str, values) -> tuple[Decimal, Decimal, Decimal]:
    """The chart's fixed span, widened by whole steps to take in any value outside it."""
    low, high, step = AXES.get(chart_key, (None, None, None))
    values = list(values)
    if low is None:  # an item without a fixed span: round steps around the data
        lowest, highest = min(values), max(values)
        step = max(D("1"), ((highest - lowest) / 4).quantize(D("1")))
        low, high = (lowest // step) * step - step, (highest // step) * step + 2 * step
        return low, high, step
    while values and min(values) < low:
        low -= step
    while values and max(values) > high:
        high += step
    return low, high, step
