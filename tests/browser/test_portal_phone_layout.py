"""The portal on a 390 px phone, in English with larger text (the widest case): wide tables scroll inside
their own box, never the whole page; the nav shows the current page."""

import pytest

from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution
from tests.portal.records import add_records

from .conftest import PHONE
from .test_portal import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_wide_tables_scroll_in_their_box_not_the_page_on_a_phone(world, reader, card_for, open_page):
    # given a patient with records of every kind, reading in English with larger text on a phone
    pharmacy = Institution.objects.create(code=with_check_digit("134765432"), name="さくら薬局")
    add_records(world.person, world.institution, pharmacy, "")
    reader(card_for())
    page, _recorder, shoot = open_page(PHONE)
    sign_in(page, world.base)
    page.click("form.text-size button")
    page.click("form.language-switch button[value=en]")
    assert "large-text" in page.get_attribute("body", "class")

    for path in ("expenses", "treatment", "checkups", "access"):
        # when they open a page with tables (the checkups' number tables opened too)
        page.goto(f"{world.base}/portal/{path}/")
        for summary in page.locator("main details:not(.technical) summary").all():
            summary.click()

        # then the page itself does not scroll sideways; every table is in a keyboard-focusable region
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
        assert (
            page.locator(".table-scroll[tabindex='0'][role=region] > table.data").count()
            == page.locator("table.data").count()
            > 0
        )
        assert page.locator(f".portal-nav a[aria-current=page][href='/portal/{path}/']").count() == 1
        shoot(f"{path}-en-large")
    assert not page.csp_errors, page.csp_errors
