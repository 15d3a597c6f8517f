"""Site-wide error pages: coded, in the visitor's language, with a way on; the API keeps JSON."""

import re

import pytest
from django.test import Client
from django.urls import include, path

from homeconsent import views as site_views


def boom(request):
    raise RuntimeError("a bug")


# This module doubles as a URLconf for the server-error test: the site plus one failing view.
urlpatterns = [path("boom/", boom), path("", include("homeconsent.urls"))]
handler500 = "homeconsent.views.server_error"


@pytest.mark.parametrize("url", ["/nothing/", "/portal/nothing/", "/console/patients/abc/"])
def test_an_unknown_page_is_coded_japanese_and_leads_home(db, url):
    response = Client().get(url)

    page = response.content.decode()
    assert response.status_code == 404
    assert 'data-code="page_not_found"' in page and "data-error-code>page_not_found</span>" in page
    assert "ページが見つかりません" in page and "このページは見つかりません" in page and 'href="/"' in page


def test_an_unknown_page_speaks_english_when_asked(db):
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get("/nothing/").content.decode()

    assert '<html lang="en">' in page and "This page does not exist" in page and "Code for enquiries" in page


def test_the_api_keeps_answering_in_json(db):
    response = Client().get("/api/v1/nothing")

    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_a_form_without_its_token_gets_a_page_to_act_on(db):
    # given a browser whose CSRF cookie is gone (cookies cleared, or the page open too long)
    response = Client(enforce_csrf_checks=True).post("/i18n/setlang/", {"language": "en"})

    page = response.content.decode()
    assert response.status_code == 403
    assert 'data-code="form_expired"' in page and "再読み込み" in page and "DEBUG" not in page


@pytest.mark.urls(__name__)
def test_a_server_error_is_coded_with_the_time_to_quote(db):
    response = Client(raise_request_exception=False).get("/boom/")

    page = response.content.decode()
    assert response.status_code == 500
    assert 'data-code="server_error"' in page and "<time datetime=" in page and "a bug" not in page


def test_the_error_page_itself_never_fails(rf, monkeypatch):
    # given a template engine that cannot render (for example, the database is down under it)
    def broken(*args, **kwargs):
        raise RuntimeError("no database")

    monkeypatch.setattr(site_views, "render", broken)

    response = site_views.server_error(rf.get("/x"))

    assert response.status_code == 500 and b"server_error" in response.content


def test_the_favicon_is_served(db):
    response = Client().get("/favicon.ico")

    assert response.status_code == 302 and response["Location"].endswith("favicon.svg")


# --- the header every page shares ------------------------------------------------------------------
def test_larger_text_holds_on_every_page_not_only_the_portal(db):
    # given a patient who chose larger text (on the portal, or on the consent pages)
    client = Client()
    client.post("/text-size/", {"large": "1", "next": "/"})

    # then the start page, an error page and a consent page are larger too, with the switch back
    for url in ["/", "/nothing/", "/consent/e/not-a-token/"]:
        page = client.get(url).content.decode()
        assert "large-text" in page.split("<body", 1)[1].split(">", 1)[0]
        # on the root element too, so every rem (headings, labels, help) grows, not only body text
        assert '<html lang="ja" class="large-text">' in page
        assert 'name="large" value="0"' in page


def test_the_language_switch_names_english_in_english_on_a_japanese_page(db):
    page = Client().get("/").content.decode()

    assert 'value="en" lang="en">English</button>' in page and "英語" not in page


@pytest.mark.parametrize("url", ["/", "/nothing/", "/admin/login/"])
def test_pages_without_a_policy_of_their_own_get_the_strict_default(db, url):
    response = Client().get(url)

    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    )
    assert "ws://" not in policy  # only the pages that use the reader bridge may reach it


def test_the_api_and_the_consent_pages_keep_their_own_answers(db):
    assert "Content-Security-Policy" not in Client().get("/api/v1/nothing")  # JSON: no page to protect
    consent_policy = Client().get("/consent/e/not-a-token/")["Content-Security-Policy"]
    assert "connect-src 'self' ws://" in consent_policy


def test_every_page_starts_with_a_way_past_the_header_to_its_content(db):
    page = Client().get("/").content.decode()

    first_link = re.search(r"<a [^>]*>", page).group(0)
    assert 'class="skip-link" href="#main"' in first_link and '<main id="main"' in page
