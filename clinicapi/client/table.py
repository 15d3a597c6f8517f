"""Aligned text tables whose columns line up in a terminal with Japanese text (full-width = 2 cells)."""

import unicodedata


def cell_width(text: str) -> int:
    width = 0
    for ch in text:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int, align: str = "<") -> str:
    gap = " " * max(0, width - cell_width(text))
    return gap + text if align == ">" else text + gap


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    return str(value).replace("\n", " ")


def render(rows, columns) -> str:
    """rows: dicts; columns: (key or callable, header) pairs. Numbers align right."""
    header = [title for _, title in columns]
    body = []
    numeric = [True] * len(columns)
    for row in rows:
        cells = []
        for i, (key, _) in enumerate(columns):
            value = key(row) if callable(key) else row.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                if value not in (None, ""):
                    numeric[i] = False
            cells.append(_text(value))
        body.append(cells)
    widths = [max([cell_width(h)] + [cell_width(r[i]) for r in body]) for i, h in enumerate(header)]
    lines = [
        "  ".join(pad(h, widths[i]) for i, h in enumerate(header)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    for cells in body:
        lines.append(
            "  ".join(pad(c, widths[i], ">" if numeric[i] else "<") for i, c in enumerate(cells)).rstrip()
        )
    return "\n".join(lines)


def render_pairs(pairs) -> str:
    """A two-column label / value listing."""
    pairs = [(label, _text(value)) for label, value in pairs]
    width = max((cell_width(label) for label, _ in pairs), default=0)
    return "\n".join(f"{pad(label, width)}  {value}".rstrip() for label, value in pairs)
