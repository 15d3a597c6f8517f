"""The operator's usage page in Chromium at 390x844: the whole page fits the width, charts drawn, no CSP error."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from homeconsent.audit.services import record_access
from homeconsent.registry.models import Person
from homeconsent.usage.rollup import do_rollup_usage
from tests.operators import sign_in_verified

from .conftest import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_usage_page_is_usable_on_a_phone(live_server, open_page):
    person = Person.objects.create(
        name="試験 太郎", name_kana="シケン タロウ", sex="1", birth_date=datetime.date(1960, 1, 1)
    )
    operator = get_user_model().objects.create_superuser("operator-390", password="p" * 16)
    for basis, detail in [("consent", {"read": "eligibility"}), ("requery", {}), ("emergency", {})]:
        record_access(
            actor_type="institution_client", actor_id="c", institution_code="1310000011", person=person,
            items=["qualification"], basis=basis, detail=detail,
        )  # fmt: skip
    record_access(actor_type="patient", actor_id="p", basis="self", detail={"action": "consent_registered"})
    do_rollup_usage()
    session = sign_in_verified(Client(), operator).cookies["sessionid"].value
    page, _recorder, shoot = open_page(viewport=PHONE, locale="ja-JP")
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page.goto(f"{live_server.url}/admin/usage/")
    page.wait_for_selector('svg[data-chart="consents"]')
    shoot("usage")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    chart = page.locator('svg[data-chart="consents"]').bounding_box()
    assert chart["x"] >= 0 and chart["x"] + chart["width"] <= PHONE["width"]
    assert page.locator("h2", has_text="同意の登録・取消件数").is_visible()
    assert page.locator("text=CSVをダウンロード").bounding_box()["height"] >= 44  # a large touch target
    assert page.locator('svg[data-chart="method"] rect.bar').count() == 3  # reader, re-query, emergency
    assert not page.csp_errors
