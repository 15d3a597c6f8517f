"""Stacked monthly bar charts of the usage tables, drawn on the server as SVG (no script, no library).

Like portal/charts.py: presentation attributes only (the CSP has no 'unsafe-inline'), role="img"
with a title, and the same numbers always in the table beside it. Drawn 420 units wide so a 390 px
screen shows it whole.
"""

from django.utils.html import escape

WIDTH, HEIGHT = 420, 240
LEFT, RIGHT, TOP, BOTTOM = 58, 10, 12, 44
TICK_FONT = 15
COLOURS = ["#0b5cad", "#6b3fa0", "#b35900", "#2e7d32", "#a4001d", "#00707a", "#5c5c5c", "#8a6d00"]


def _nice_top(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above value: the axis' top."""
    top = 1
    for _ in range(40):  # bounded: 10**40 exceeds any count
        for factor in (1, 2, 5):
            if top * factor >= value:
                return top * factor
        top *= 10
    return value


def colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def render_stacked(table, *, title_id: str) -> str:
    """The table as stacked bars, one bar a month, one colour a column (legend: the table's headers)."""
    if not table.rows:
        return ""
    high = _nice_top(max(total for _m, _c, total in table.rows) or 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(table.rows)
    bar = max(2.0, slot * 0.7)
    parts = [
        f'<svg class="usage-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{title_id}" '
        f'xmlns="http://www.w3.org/2000/svg" data-chart="{escape(table.key)}">',
        f'<title id="{title_id}">{escape(table.title)}</title>',
    ]
    for tick in (0, high // 2, high):
        ty = TOP + plot_h * (1 - tick / high)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#d0d0d0"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{ty + 5:.1f}" text-anchor="end" font-size="{TICK_FONT}" fill="#4a4a4a">{tick:,}</text>'
        )
    label_every = -(-len(table.rows) // 6)
    for i, (month, counts, _total) in enumerate(table.rows):
        x = LEFT + slot * i + (slot - bar) / 2
        base = TOP + plot_h
        for index, ((_key, label), n) in enumerate(zip(table.columns, counts)):
            if not n:
                continue
            h = plot_h * n / high
            base -= h
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{colour(index)}" '
                f'data-month="{month:%Y-%m}" data-count="{n}"><title>{escape(label)} {month:%Y-%m}: {n:,}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle" font-size="{TICK_FONT}" '
                f'fill="#4a4a4a">{month:%Y}</text><text x="{x + bar / 2:.1f}" y="{TOP + plot_h + 36}" '
                f'text-anchor="middle" font-size="{TICK_FONT}" fill="#4a4a4a">{month.month}</text>'
            )
    parts.append(
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#767676"/>'
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{TOP + plot_h}" y2="{TOP + plot_h}" stroke="#767676"/></svg>'
    )
    return "".join(parts)
