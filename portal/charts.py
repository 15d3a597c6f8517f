"""Trend charts of checkup items, drawn on the server as SVG (no script, no chart library).

Each chart is one or two series of (date, value) points. The SVG is decoration for sighted readers
(role="img" with a title and a description); the page always shows the same numbers in a table and
a sentence, so nothing depends on seeing the picture. No style attributes: the page's CSP has no
'unsafe-inline', so colours are presentation attributes.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.translation import pgettext

# Drawn at about the width of a phone: 17-unit tick labels are still >= 14 px when a 390 px screen
# scales the 420-unit drawing down (~360 px wide); large-text mode enlarges them in portal.css (.tick).
WIDTH, HEIGHT = 420, 252
LEFT, RIGHT, TOP, BOTTOM = 62, 34, 14, 48  # two lines of date label under the plot
TICK_FONT = 17
COLOURS = ["#0b5cad", "#a4001d"]
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
        """Table rows: (date, [value or None per series]), oldest first."""
        by_series = [dict(s.points) for s in self.series]
        return [(day, [values.get(day) for values in by_series]) for day in self.dates]


def _bounds(chart: Chart):
    values = [v for s in chart.series for _, v in s.points]
    low, high = min(values), max(values)
    if low == high:
        low, high = low - 1, high + 1
    pad = (high - low) * Decimal("0.1")
    return low - pad, high + pad


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")


def _ticks(low: Decimal, high: Decimal, count=4):
    step = (high - low) / count
    return [low + step * i for i in range(count + 1)]


def render_svg(chart: Chart, *, title_id: str, desc_id: str, description: str) -> str:
    """The chart as an inline <svg> element (a string already escaped)."""
    dates = chart.dates
    if not dates:
        return ""
    low, high = _bounds(chart)
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
    for tick in _ticks(low, high):
        ty = y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d0d0"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 5:.1f}" text-anchor="end" class="tick" font-size="{TICK_FONT}" fill="#4a4a4a">'
            f"{escape(_fmt(tick.quantize(Decimal('0.1'))))}</text>"
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
            label = escape(f"{series.label} {date_format(day)}: {_fmt(value)} {chart.unit}".strip())
            attrs = f'class="chart-point" data-date="{day:%Y-%m-%d}" data-value="{_fmt(value)}" fill="{colour}"'
            if MARKERS[index % len(MARKERS)] == "circle":
                parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" {attrs}><title>{label}</title></circle>')
            else:
                parts.append(
                    f'<rect x="{px - 6:.1f}" y="{py - 6:.1f}" width="12" height="12" {attrs}><title>{label}</title></rect>'
                )
    parts.append("</svg>")
    return "".join(parts)
