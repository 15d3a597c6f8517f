"""CSV downloads that a spreadsheet opens as data, never as formulas (OWASP CSV injection).

A text cell that begins with = + - @, a tab, a carriage return or a line feed (or the full-width
＝ ＋ － ＠ that a Japanese spreadsheet may read the same way) gets a leading apostrophe, so Excel and
LibreOffice show it as text; every cell is quoted and inner quotes doubled. Numbers we computed
ourselves stay numbers. Institution names, drug names and actor names come from outside (insurers,
institutions' own registrations) and are treated as hostile.
"""

import csv
import io
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def neutralised(cell):
    """The cell as it is safe to write: numbers as they are, text that would start a formula quoted."""
    if isinstance(cell, (int, float, Decimal)) and not isinstance(cell, bool):
        return cell
    text = "" if cell is None else str(cell)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header, rows) -> str:
    """The whole file (CRLF lines, the dialect Excel expects) with every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([neutralised(cell) for cell in header])
    writer.writerows([neutralised(cell) for cell in row] for row in rows)
    return buffer.getvalue()
