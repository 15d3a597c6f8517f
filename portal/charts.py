"""Trend charts of checkup items, drawn on the server as SVG (no script, no chart library).

Each chart is one or two series of (date, value) points, drawn on a fixed clinical axis
(checkup_ranges.AXES) with each series' reference range shaded and values outside it ringed and
marked "!". The SVG is decoration for sighted readers
(role="img" with a title and a description); the page always shows the same numbers in a table and
a sentence, so nothing depends on seeing the picture. No style attributes: the page's CSP has no
'unsafe-inline', so colours are presentation attributes.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import pgettext, pgettext_lazy

from .checkup_ranges import GUIDANCE, REFERRAL, ReferenceRange, axis_for

# Drawn at about the width of a phone: 17-unit tick labels are still >= 14 px when a 390 px screen
# scales the 420-unit drawing down (~360 px wide); large-text mode enlarges them in portal.css (.tick).
WIDTH, HEIGHT = 420, 252
LEFT, RIGHT, TOP, BOTTOM = 62, 34, 14, 48  # two lines of date label under the plot
TICK_FONT = 17
COLOURS = ["#0b5cad", "#6b3fa0"]
BANDS = ["#dcefe0", "#e8e1f2"]  # light tints: the reference range behind the lines
FLAG_COLOUR = "#a4001d"
FLAG_LABELS = {
    GUIDANCE: pgettext_lazy("checkup", "at or past the guidance value (保健指導判定値)"),
    REFERRAL: pgettext_lazy("checkup", "at or past the see-a-doctor value (受診勧奨判定値)"),
}
MARKERS = ["circle", "square"]
MAX_DATE_LABELS = 5


def month_label(day) -> list[str]:
    """An axis label in the page's language, on two lines (2024年 / 5月, May / 2024): on one line
    the localized month is too wide for five labels side by side on a phone."""
    fmt = pgettext("chart axis: a Django date format, two lines separated by |", "M|Y")
    return [date_format(day, part) for part in fmt.split("|")]


@dataclass
class Series:
    label: str
    points: list  # [(date, Decimal)], oldest first
    reference: ReferenceRange | None = None  # 特定健診 judgement values of the item (checkup_ranges)

    def flag(self, value):
        """None inside the reference range, else GUIDANCE or REFERRAL (checkup_ranges)."""
        return self.reference.flag(value) if self.reference is not None and value is not None else None


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    series: list = field(default_factory=list)

    @property
    def dates(self):
        return sorted({day for s in self.series for day, _ in s.points})

    def rows(self):
        """Table rows: (date, [(value or None, flag) per series]), oldest first."""
        by_series = [dict(s.points) for s in self.series]
        return [
            (day, [(values.get(day), s.flag(values.get(day))) for s, values in zip(self.series, by_series)])
            for day in self.dates
        ]

    def axis(self):
        """(low, high, step): the chart's fixed clinical span, never zoomed to the data."""
        return axis_for(self.key, [v for s in self.series for _, v in s.points])


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def _ticks(low: Decimal, high: Decimal, step: Decimal):
    count = int((high - low) / step)
    return [low + step * i for i in range(count + 1)]


def _band(reference: ReferenceRange, low: Decimal, high: Decimal):
    """The reference range inside the axis: (from, to) values."""
    if reference.higher_is_worse:
        return low, min(max(reference.guidance, low), high)
    return max(min(reference.guidance, high), low), high


def render_svg(chart: Chart, *, title_id: str, desc_id: str, description: str) -> str:
    """The chart as an inline <svg> element (a string already escaped)."""
    dates = chart.dates
    if not dates:
        return ""
    low, high, step = chart.axis()
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day):
        if len(dates) == 1:
            return LEFT + plot_w / 2
        return LEFT + plot_w * dates.index(day) / (len(dates) - 1)

    def y(value):
        return TOP + plot_h * float((high - value) / (high - low))

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" xmlns="http://www.w3.org/2000/svg" data-chart="{escape(chart.key)}">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
    ]
    # The reference range of each series, shaded in its colour (source named under the chart).
    for index, series in enumerate(chart.series):
        if series.reference is None:
            continue
        start, end = _band(series.reference, low, high)
        top, bottom = y(end), y(start)
        parts.append(
            f'<rect class="reference-band" data-series="{index}" x="{LEFT}" y="{top:.1f}" width="{plot_w}" '
            f'height="{bottom - top:.1f}" fill="{BANDS[index % len(BANDS)]}"/>'
        )
        referral = series.reference.referral
        if referral is not None and low < referral < high:
            ry = y(referral)
            parts.append(
                f'<line class="referral-line" data-series="{index}" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ry:.1f}" '
                f'y2="{ry:.1f}" stroke="{COLOURS[index % len(COLOURS)]}" stroke-dasharray="6 4" stroke-width="1.5"/>'
            )
    for tick in _ticks(low, high, step):
        ty = y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d0d0"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 5:.1f}" text-anchor="end" class="tick" font-size="{TICK_FONT}" fill="#4a4a4a">'
            f"{escape(_fmt(tick))}</text>"
        )
    label_every = -(-len(dates) // MAX_DATE_LABELS)  # so they never overlap
    for day in dates[::-1][::label_every]:
        lines = "".join(
            f'<tspan x="{x(day):.1f}" y="{TOP + plot_h + 20 + 20 * i}">{escape(line)}</tspan>'
            for i, line in enumerate(month_label(day))
        )
        parts.append(
            f'<text text-anchor="middle" class="tick date" font-size="{TICK_FONT}" fill="#4a4a4a">{lines}</text>'
        )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#767676"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#767676"/>'
    )
    for index, series in enumerate(chart.series):
        colour = COLOURS[index % len(COLOURS)]
        coords = [(x(day), y(value), day, value) for day, value in series.points]
        if len(coords) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in coords)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="3"/>')
        for px, py, day, value in coords:
            flag = series.flag(value)
            text = f"{series.label} {date_format(day)}: {_fmt(value)} {chart.unit}".strip()
            label = escape(f"{text} ({FLAG_LABELS[flag]})" if flag else text)
            attrs = (
                f'class="chart-point" data-date="{day:%Y-%m-%d}" data-value="{_fmt(value)}" fill="{colour}"'
            )
            if flag:
                # Out of range: a ring and a "!" beside the point, so it shows without colour too.
                attrs += f' data-flag="{flag}"'
                parts.append(
                    f'<circle class="flag-ring" cx="{px:.1f}" cy="{py:.1f}" r="11" fill="none" stroke="{FLAG_COLOUR}" '
                    f'stroke-width="2.5"/><text class="flag-mark" x="{px + 12:.1f}" y="{py - 8:.1f}" font-size="{TICK_FONT}" '
                    f'font-weight="700" fill="{FLAG_COLOUR}">!</text>'
                )
            if MARKERS[index % len(MARKERS)] == "circle":
                parts.append(
                    f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" {attrs}><title>{label}</title></circle>'
                )
            else:
                parts.append(
                    f'<rect x="{px - 6:.1f}" y="{py - 6:.1f}" width="12" height="12" {attrs}><title>{label}</title></rect>'
                )
    parts.append("</svg>")
    return "".join(parts)
