"""Operators register telehealth apps from the admin, see the secret once, renew it and revoke the
app (issue 13, item 7). The credentials shown are the ones the app's API accepts."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.models import TelehealthApp
from homeconsent.consent.telehealth import APP_URL_INVALID, authenticate_app
from tests.operators import sign_in_verified


@pytest.fixture
def operator_client(db):
    user = get_user_model().objects.create_superuser("op", "op@example.invalid", "x" * 16)
    return sign_in_verified(Client(), user)


def shown(response, field) -> str:
    return re.search(rf'data-field="{field}">([^<]+)<', response.content.decode()).group(1)


def register(operator_client, institution, **changes):
    form = {
        "name": "みらいオンライン診療",
        "institutions": institution.code,
        "return_urls": "https://app.example.jp/return\nhttp://127.0.0.1:9000/back",
        "webhook_url": "",
        **changes,
    }
    return operator_client.post("/admin/consent/telehealthapp/register/", form)


def test_an_operator_registers_an_app_and_sees_its_secret_once(operator_client, institution):
    # when an operator registers an app in the admin
    response = register(operator_client, institution)
    # then the page shows the client id and secret, is not cached, and those credentials work
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    client_id, secret = shown(response, "client_id"), shown(response, "secret")
    app = TelehealthApp.objects.get(client_id=client_id)
    assert authenticate_app(client_id, secret) == app
    assert list(app.institutions.all()) == [institution]
    assert app.allowed_return_urls == ["https://app.example.jp/return", "http://127.0.0.1:9000/back"]
    # and it is logged, and the app's page never shows the secret again
    assert AccessEvent.objects.filter(
        detail__action="telehealth_app_registered", actor_id="admin:op"
    ).exists()
    page = operator_client.get(f"/admin/consent/telehealthapp/{app.pk}/change/").content.decode()
    assert secret not in page and app.secret_encrypted not in page and "rotate/" in page


def test_a_bad_registration_is_refused_with_a_code_and_nothing_is_stored(operator_client, institution):
    bad_url = register(operator_client, institution, return_urls="http://app.example.jp/return")
    unknown = register(operator_client, institution, institutions="9999999999")
    assert bad_url.status_code == 400 and f'data-code="{APP_URL_INVALID.code}"' in bad_url.content.decode()
    assert unknown.status_code == 400 and "9999999999" in unknown.content.decode()
    assert not TelehealthApp.objects.exists()


def test_renewing_the_secret_shows_a_new_one_once_and_the_old_one_stops_working(operator_client, institution):
    # given a registered app
    first = register(operator_client, institution)
    client_id, old = shown(first, "client_id"), shown(first, "secret")
    app = TelehealthApp.objects.get(client_id=client_id)
    # when the operator confirms the renewal
    confirm = operator_client.get(f"/admin/consent/telehealthapp/{app.pk}/rotate/")
    renewed = operator_client.post(f"/admin/consent/telehealthapp/{app.pk}/rotate/")
    # then the new secret is shown once and works; the old one does not
    new = shown(renewed, "secret")
    assert confirm.status_code == 200 and old not in confirm.content.decode()
    assert new != old and "no-store" in renewed["Cache-Control"]
    assert authenticate_app(client_id, new) == app and authenticate_app(client_id, old) is None
    assert AccessEvent.objects.filter(
        detail__action="telehealth_app_secret_rotated", institution_code=institution.code
    ).exists()


def test_a_revoked_app_gets_no_new_secret(operator_client, institution):
    app = TelehealthApp.objects.get(client_id=shown(register(operator_client, institution), "client_id"))
    operator_client.post(f"/admin/consent/telehealthapp/{app.pk}/revoke/")
    refused = operator_client.post(f"/admin/consent/telehealthapp/{app.pk}/rotate/", follow=True)
    app.refresh_from_db()
    assert app.revoked_at is not None
    assert "telehealth_app_revoked" in refused.content.decode().lower()  # the admin capitalises messages


def test_only_a_verified_operator_reaches_the_registration(client, institution, db):
    response = client.get("/admin/consent/telehealthapp/register/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
