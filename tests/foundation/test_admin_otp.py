"""The operator admin needs a password and a TOTP code; wrong guesses lock the account."""

import base64

import pytest
from django.contrib.auth import get_user_model
from django_otp.oath import totp

from homeconsent.admin_site import create_operator_device
from homeconsent.models import OperatorSignin

PASSWORD = "correct-horse-battery-9"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "operator@example.invalid", PASSWORD)


@pytest.fixture
def device(operator):
    return create_operator_device(operator)


def _code(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def _sign_in(client, password, code=""):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "operator", "password": password, "otp_token": code},
    )


def test_a_password_only_session_is_refused(client, operator, device):
    # given a session signed in with the password alone (no verified device)
    client.force_login(operator)
    # when it opens the admin and a person's medication
    index = client.get("/admin/")
    medication = client.get("/admin/registry/medicationrecord/")
    # then both send it to the sign-in page
    assert index.status_code == 302 and index["Location"].startswith("/admin/login/")
    assert medication.status_code == 302 and medication["Location"].startswith("/admin/login/")


def test_the_password_without_a_code_does_not_sign_in(client, operator, device):
    response = _sign_in(client, PASSWORD)
    assert response.status_code == 200
    assert "admin_signin_failed" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_password_and_a_valid_totp_code_open_the_admin(client, operator, device):
    # when the operator signs in with the password and the code the app shows
    response = _sign_in(client, PASSWORD, _code(device))
    # then the admin opens
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/registry/medicationrecord/").status_code == 200


def test_a_wrong_code_reads_like_a_wrong_password(client, operator, device):
    wrong_code = _sign_in(client, PASSWORD, "000000" if _code(device) != "000000" else "111111")
    wrong_password = _sign_in(client, "not-the-password", _code(device))
    # one message for both, so a reply never tells the password was right
    for response in (wrong_code, wrong_password):
        assert response.status_code == 200
        assert "admin_signin_failed" in response.content.decode()


def test_repeated_wrong_passwords_lock_the_account_and_the_right_one_does_not_get_in(
    client, operator, device, settings
):
    settings.CONSOLE_LOCKOUT_FAILURES = 5
    # given four wrong passwords, each refused as such
    for _ in range(4):
        assert "admin_signin_failed" in _sign_in(client, "guess").content.decode()
    # when the fifth is wrong too
    fifth = _sign_in(client, "guess").content.decode()
    # then the account is locked, with a coded message
    assert "admin_account_locked" in fifth
    assert OperatorSignin.objects.get(user=operator).locked_until is not None
    # and the right password and code during the lock do not get in
    during = _sign_in(client, PASSWORD, _code(device))
    assert during.status_code == 200
    assert "admin_account_locked" in during.content.decode()
    assert client.get("/admin/").status_code == 302


def test_the_lock_ends_and_a_success_clears_the_count(client, operator, device, settings):
    settings.CONSOLE_LOCKOUT_FAILURES = 3
    for _ in range(3):
        _sign_in(client, "guess")
    # given the lock has run out
    OperatorSignin.objects.filter(user=operator).update(locked_until="2000-01-01T00:00:00Z")
    # when the operator signs in properly
    assert _sign_in(client, PASSWORD, _code(device)).status_code == 302
    # then earlier failures no longer count
    assert OperatorSignin.objects.get(user=operator).failed_attempts == 0


def test_the_sign_in_page_asks_for_the_code(client, db):
    body = client.get("/admin/login/").content.decode()
    assert 'name="otp_token"' in body


def test_the_demo_prints_what_signs_the_operator_in(client, db):
    from io import StringIO
    from urllib.parse import parse_qs, urlparse

    from django.core.management import call_command
    from django_otp.plugins.otp_totp.models import TOTPDevice

    # given the demo's first run
    out = StringIO()
    call_command("demo", no_server=True, persons=10, stdout=out)
    text = out.getvalue()
    password = text.split("password:", 1)[1].split()[0]
    otpauth = text.split("TOTP:", 1)[1].split()[0]
    secret = parse_qs(urlparse(otpauth).query)["secret"][0]
    assert urlparse(otpauth).scheme == "otpauth" and f"secret {secret}" in text
    # when the operator signs in with the printed password and a code from the printed secret
    device = TOTPDevice.objects.get(user__username="operator")
    assert base64.b32encode(device.bin_key).decode().rstrip("=") == secret
    response = _sign_in(client, password, _code(device))
    # then the admin opens
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
