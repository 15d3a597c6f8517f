"""Site-wide error pages: coded, in the visitor's language, with a way on; the API keeps JSON."""

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

    assert '<html lang="en">' in page and "This page does not exist" in page and "Error code" in page


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
