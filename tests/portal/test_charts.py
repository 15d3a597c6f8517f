"""The server-side SVG of a trend chart."""

import datetime
from decimal import Decimal

from portal.charts import Chart, Series, render_svg


def test_every_point_is_drawn_with_its_value_and_text_is_escaped():
    chart = Chart(
        "x",
        "<b>title</b>",
        "mg/dl",
        [
            Series(
                "<script>alert(1)</script>",
                [(datetime.date(2024, 5, 1), Decimal("120")), (datetime.date(2025, 5, 1), Decimal("135.5"))],
            ),
        ],
    )

    svg = render_svg(chart, title_id="t", desc_id="d", description="a & b")

    assert svg.count('class="chart-point"') == 2
    assert 'data-value="120"' in svg and 'data-value="135.5"' in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a &amp; b" in svg
    assert 'aria-labelledby="t d"' in svg and "style=" not in svg


def test_many_checkups_get_at_most_five_date_labels():
    days = [datetime.date(2020 + i // 2, 1 + 6 * (i % 2), 1) for i in range(10)]
    chart = Chart("bmi", "BMI", "kg/m2", [Series("BMI", [(d, Decimal(22 + i)) for i, d in enumerate(days)])])

    svg = render_svg(chart, title_id="t", desc_id="d", description="")

    assert svg.count('text-anchor="middle"') == 5 and svg.count('class="chart-point"') == 10
