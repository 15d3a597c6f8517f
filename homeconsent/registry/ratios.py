"""The contribution ratio (一部負担金割合) over a life, as the law sets it by age.

- Preschool (未就学): 2割 until the 31 March after the day the child reaches six (the day before the
  sixth birthday, 年齢計算ニ関スル法律).
- Then 3割 up to 69.
- 70 to 74 (高齢受給者): from the first day of the month after the month the person reaches 70 (the
  birthday month itself when born on the 1st, who reach 70 on the last day of the month before),
  2割, or 3割 for 現役並み所得, shown on a 高齢受給者証. Those born on or before 1 April 1944 kept 1割
  by the special measure that ended for later birth dates (現役並み still 3割).
- From the 75th birthday itself: 後期高齢者医療, a new insurer (from 1 April 2008; before that the
  老人保健 paid with 1割 inside the old insurance).

`ratio_segments` cuts one insurance period at these dates so the registry holds the history and an
eligibility check answers what held on the day asked.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from homeconsent.dates import add_years

from .models import CardClassification, ContributionRatio

KOUKI_START = date(2008, 4, 1)  # 後期高齢者医療制度
ELDERLY_ONE_TENTH_BORN_BY = date(1944, 4, 1)  # 70-74 special measure: 1割 for these birth dates


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def preschool_until(birth: date) -> date:
    """The 31 March after the day before the sixth birthday (未就学: 2割)."""
    reached = add_years(birth, 6) - timedelta(days=1)
    year = reached.year if reached <= date(reached.year, 3, 31) else reached.year + 1
    return date(year, 3, 31)


def elderly_from(birth: date) -> date:
    """高齢受給者証: from the first of the month after the 70th birthday (the birthday month when
    born on the 1st)."""
    seventy = add_years(birth, 70)
    if birth.day == 1:
        return seventy.replace(day=1)
    return date(seventy.year + seventy.month // 12, seventy.month % 12 + 1, 1)


def kouki_from(birth: date) -> date:
    """後期高齢者医療: from the 75th birthday, or from the start of the system for those older."""
    return max(add_years(birth, 75), KOUKI_START)


@dataclass(frozen=True)
class RatioSegment:
    starts: date
    ends: date | None  # first day no longer covered (None: open)
    ratio: str
    preschool: bool = False
    elderly: bool = False  # carries a 高齢受給者証

    @property
    def card_classification(self) -> str:
        return CardClassification.ELDERLY_70 if self.elderly else CardClassification.GENERAL


def ratio_on(birth: date, day: date, *, high_income: bool = False) -> RatioSegment:
    """The ratio of someone outside 後期高齢者医療 on `day`, as the segment that holds it (unbounded)."""
    preschool_end = preschool_until(birth) + timedelta(days=1)
    elderly_start, seventy_five = elderly_from(birth), add_years(birth, 75)
    if day < preschool_end:
        return RatioSegment(birth, preschool_end, ContributionRatio.TWO, preschool=True)
    if day < elderly_start:
        return RatioSegment(preschool_end, elderly_start, ContributionRatio.THREE)
    if day < seventy_five:
        if high_income:
            ratio = ContributionRatio.THREE
        elif birth <= ELDERLY_ONE_TENTH_BORN_BY:
            ratio = ContributionRatio.ONE
        else:
            ratio = ContributionRatio.TWO
        return RatioSegment(elderly_start, seventy_five, ratio, elderly=True)
    return RatioSegment(seventy_five, None, ContributionRatio.ONE)  # 老人保健, before 後期高齢者医療


def ratio_segments(
    birth: date, starts: date, ends: date | None, *, known_until: date, high_income: bool = False
) -> list[RatioSegment]:
    """Cut the period [starts, ends) of a non-後期 insurance where the ratio changes by age. Only
    changes that have begun by `known_until` (the registry's today) are cut; the last segment runs
    to `ends`."""
    out = []
    day = starts
    while True:
        rule = ratio_on(birth, day, high_income=high_income)
        cut = rule.ends
        if cut is not None and (cut > known_until or (ends is not None and cut >= ends)):
            cut = None
        out.append(
            RatioSegment(day, cut if cut is not None else ends, rule.ratio, rule.preschool, rule.elderly)
        )
        if cut is None:
            return out
        day = cut
