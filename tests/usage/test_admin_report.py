"""The operator's usage page and CSV in the admin; refused to anyone else."""

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from homeconsent.usage.rollup import do_rollup_usage
from tests.operators import sign_in_verified

from .test_rollup import direct_count

pytestmark = pytest.mark.django_db
URL = "admin:usage_report"


@pytest.fixture
def rolled_up(generate_log):
    generate_log(300, [(2026, 4), (2026, 5)], seed=7)
    do_rollup_usage()


def test_the_operator_sees_tables_and_charts_of_the_month_range(admin_client, admin_user, rolled_up):
    sign_in_verified(admin_client, admin_user)
    page = admin_client.get(reverse(URL), {"from": "2026-04", "to": "2026-05"}, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    april = direct_count(2026, 4)
    html = page.text
    for key in ("method", "facility_type", "prefecture", "consents"):
        assert f'id="usage-{key}"' in html and f'data-chart="{key}"' in html  # a table and its SVG
    assert "<script" not in html.split('id="content"')[1]  # drawn on the server: no chart script
    row = html.split('<th scope="row">2026-04</th>')[1].split("</tr>")[0]  # first table: by method
    cells = [int(c.split("</td>")[0]) for c in row.split("<td>")[1:]]
    methods = [
        "reader",
        "app",
        "requery",
        "batch",
        "emergency",
        "disaster",
        "qualification_only",
        "paper_certificate",
    ]
    assert cells == [april[("read", m)] for m in methods] + [sum(april[("read", m)] for m in methods)]
    assert "Card reader route" in html and "Consents cancelled" in html


def test_the_page_is_japanese_by_default(admin_client, admin_user, rolled_up):
    sign_in_verified(admin_client, admin_user)
    page = admin_client.get(reverse(URL), {"from": "2026-04", "to": "2026-05"}, HTTP_ACCEPT_LANGUAGE="ja")
    assert "利用状況" in page.text and "カードリーダー" in page.text and "同意の取消" in page.text


def test_the_csv_holds_the_same_counts_with_formulas_neutralised(admin_client, admin_user, rolled_up):
    sign_in_verified(admin_client, admin_user)
    response = admin_client.get(reverse(URL), {"from": "2026-04", "to": "2026-05", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="usage-2026-04-2026-05.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    got = {(r[0], r[1], r[2]): int(r[4]) for r in rows[1:]}
    may = direct_count(2026, 5)
    assert got[("method", "2026-05", "emergency")] == may[("read", "emergency")]
    assert got[("consents", "2026-05", "consent_registered")] == may[("consent_registered", "")]
    assert got[("prefecture", "2026-05", "13")] == may[("prefecture", "13")]
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)


def test_a_month_that_is_no_month_gets_a_coded_error(admin_client, admin_user):
    sign_in_verified(admin_client, admin_user)
    bad = admin_client.get(reverse(URL), {"from": "2026-13"}, HTTP_ACCEPT_LANGUAGE="en")
    assert bad.status_code == 400 and "usage_month_invalid" in bad.text and "2026-04" in bad.text
    reversed_ = admin_client.get(reverse(URL), {"from": "2026-05", "to": "2026-01"})
    assert reversed_.status_code == 400 and "usage_range_reversed" in reversed_.text
    assert admin_client.get(reverse(URL), {"from": "2026-13", "format": "csv"}).status_code == 400


def test_refused_without_totp_or_to_a_non_operator(client, admin_client, rolled_up):
    # Signed in with the password only: sent to the sign-in page, no counts shown.
    password_only = admin_client.get(reverse(URL))
    assert password_only.status_code == 302 and "/login/" in password_only["Location"]
    # A user who is not staff, even with a verified device.
    someone = get_user_model().objects.create_user("patient-ish", password="x" * 12)
    sign_in_verified(client, someone)
    for params in ({}, {"format": "csv"}):
        refused = client.get(reverse(URL), params)
        assert refused.status_code == 302 and "/login/" in refused["Location"]
    assert client.get("/admin/usage/", {"format": "csv"}).get("Content-Type", "").startswith("text/html")


def test_the_admin_home_links_to_the_usage_page(admin_client, admin_user):
    sign_in_verified(admin_client, admin_user)
    home = admin_client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="ja")
    assert home.status_code == 200 and f'href="{reverse(URL)}"' in home.text and "利用状況" in home.text
