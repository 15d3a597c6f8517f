"""Console accounts: enrolment with a one-time link and TOTP, sign-in in two steps, lockout after
repeated failures, idle expiry, sign-out everywhere."""

import datetime
import io
import re

from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffMembership, StaffRole

from .conftest import PASSWORD, code_for, sign_in


def test_the_command_prints_a_one_time_link_that_enrols_password_and_totp(institution):
    out = io.StringIO()
    call_command(
        "create_institution_admin",
        institution.code,
        "midori-admin",
        "--base-url",
        "https://hc.example",
        stdout=out,
    )
    link = re.search(r"https://hc\.example(/console/enrol/[^/]+/)", out.getvalue()).group(1)
    membership = StaffMembership.objects.get(user__username="midori-admin")
    assert membership.role == StaffRole.INSTITUTION_ADMIN and membership.institution == institution
    assert not membership.user.has_usable_password()

    client = Client()
    page = client.get(link)
    assert page.status_code == 200 and "midori-admin" in page.content.decode()
    response = client.post(link, {"password": PASSWORD, "password_again": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/console/enrol/totp/"
    page = client.get("/console/enrol/totp/").content.decode()
    device = TOTPDevice.objects.get(user=membership.user)
    assert not device.confirmed
    secret = re.search(r'data-secret="([A-Z2-7]+)"', page).group(1)
    assert "<svg" in page and f"secret={secret}" in device.config_url and secret in page
    # The page's "otpauth://" URI is what the QR code encodes; the secret text matches the device key.
    import base64

    assert base64.b32decode(secret + "=" * (-len(secret) % 8)) == device.bin_key

    wrong = client.post(
        "/console/enrol/totp/", {"code": "000000" if code_for(device) != "000000" else "111111"}
    )
    assert wrong.status_code == 400 and "console_enrolment_code_wrong" in wrong.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    done = client.post("/console/enrol/totp/", {"code": code_for(device)})
    assert done.status_code == 302 and done["Location"] == "/console/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/console/").status_code == 200
    # The link worked once.
    assert Client().get(link).status_code == 404


def test_a_password_alone_never_opens_the_console(admin):
    client = Client()
    response = client.post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    assert response["Location"] == "/console/signin/code/"
    assert client.get("/console/")["Location"] == "/console/signin/"
    forced = Client()
    forced.force_login(admin.membership.user)  # an authenticated user without an OTP device verified
    assert forced.get("/console/")["Location"] == "/console/signin/"


def test_an_unenrolled_account_cannot_sign_in(institution):
    membership, token = accounts.do_create_staff(institution, "new-nurse", by="test")
    accounts.do_start_enrolment(accounts.enrolment_link(token), PASSWORD, PASSWORD)  # TOTP never confirmed
    response = Client().post("/console/signin/", {"username": "new-nurse", "password": PASSWORD})
    assert response.status_code == 400 and "console_totp_not_enrolled" in response.content.decode()


def test_five_failures_lock_the_account_for_fifteen_minutes(admin, settings):
    client = Client()
    for _ in range(3):
        response = client.post(
            "/console/signin/", {"username": admin.username, "password": "wrong password!"}
        )
        assert "console_signin_failed" in response.content.decode()
    # TOTP failures count against the same account.
    client.post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    response = client.post("/console/signin/code/", {"code": "12345x"})
    assert "console_signin_failed" in response.content.decode()
    response = client.post(
        "/console/signin/code/", {"code": "000000" if admin.next_code() != "000000" else "111111"}
    )
    assert response.status_code == 400 and "console_account_locked" in response.content.decode()
    assert "15" in response.content.decode()
    membership = StaffMembership.objects.get(pk=admin.membership.pk)
    assert membership.locked_until > timezone.now() + datetime.timedelta(minutes=14)

    # Locked: even the right password and code are refused.
    response = Client().post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    assert response.status_code == 400 and "console_account_locked" in response.content.decode()

    # Once the lock has passed, the right password and code work again.
    StaffMembership.objects.filter(pk=membership.pk).update(
        locked_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    client = sign_in(Client(), admin)
    assert client.get("/console/").status_code == 200


def test_unknown_user_names_get_the_same_answer_as_wrong_passwords(admin):
    unknown = Client().post("/console/signin/", {"username": "nobody", "password": PASSWORD})
    wrong = Client().post("/console/signin/", {"username": admin.username, "password": "not the password"})
    assert unknown.status_code == wrong.status_code == 400
    assert 'data-code="console_signin_failed"' in unknown.content.decode()
    assert 'data-code="console_signin_failed"' in wrong.content.decode()


def test_an_idle_session_ends_after_thirty_minutes(signed_in):
    assert signed_in.get("/console/").status_code == 200
    session = signed_in.session
    state = session[accounts.SESSION_KEY]
    state["seen"] = (timezone.now() - datetime.timedelta(minutes=30, seconds=1)).isoformat()
    session[accounts.SESSION_KEY] = state
    session.save()
    response = signed_in.get("/console/patients/")
    assert response["Location"] == "/console/signin/"
    page = signed_in.get("/console/signin/").content.decode()
    assert 'data-code="idle"' in page
    assert signed_in.get("/console/")["Location"] == "/console/signin/"


def test_activity_keeps_the_session_alive(signed_in):
    session = signed_in.session
    state = session[accounts.SESSION_KEY]
    state["seen"] = (timezone.now() - datetime.timedelta(minutes=29)).isoformat()
    session[accounts.SESSION_KEY] = state
    session.save()
    assert signed_in.get("/console/").status_code == 200
    assert signed_in.get("/console/patients/").status_code == 200


def test_sign_out_everywhere_ends_every_session_of_the_account(admin, make_staff, institution):
    phone, desk = sign_in(Client(), admin), sign_in(Client(), admin)
    colleague = sign_in(Client(), make_staff(institution, "midori-nurse", StaffRole.STAFF))
    response = phone.post("/console/signout/everywhere/")
    assert response["Location"] == "/console/signin/"
    assert desk.get("/console/")["Location"] == "/console/signin/"
    assert 'data-code="signed_out"' in desk.get("/console/signin/").content.decode()
    assert colleague.get("/console/").status_code == 200  # other accounts are untouched
    assert sign_in(Client(), admin).get("/console/").status_code == 200


def test_signing_out_here_ends_this_session_only(admin):
    here, there = sign_in(Client(), admin), sign_in(Client(), admin)
    here.post("/console/signout/")
    assert here.get("/console/")["Location"] == "/console/signin/"
    assert there.get("/console/").status_code == 200


def test_a_new_enrolment_link_replaces_the_old_device(admin):
    old_device = admin.device
    token = accounts.do_issue_enrolment_link(admin.membership, by="test")
    accounts.do_start_enrolment(accounts.enrolment_link(token), PASSWORD, PASSWORD)
    assert not TOTPDevice.objects.filter(pk=old_device.pk).exists()
    response = Client().post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    assert "console_totp_not_enrolled" in response.content.decode()


def test_a_weak_or_mistyped_password_is_refused_at_enrolment(institution):
    _, token = accounts.do_create_staff(institution, "weak", by="test")
    client = Client()
    short = client.post(f"/console/enrol/{token}/", {"password": "short", "password_again": "short"})
    assert short.status_code == 400 and "console_password_weak" in short.content.decode()
    differ = client.post(f"/console/enrol/{token}/", {"password": PASSWORD, "password_again": PASSWORD + "x"})
    assert differ.status_code == 400 and "console_passwords_differ" in differ.content.decode()
    assert accounts.enrolment_link(token) is not None  # not spent by a refusal


def test_sign_in_attempts_past_the_per_address_limit_answer_429_before_any_account_is_checked(
    admin, settings
):
    settings.CONSOLE_SIGNIN_RATE_LIMITS = {"ip": 3, "global": 0}
    client, elsewhere = Client(REMOTE_ADDR="203.0.113.7"), Client(REMOTE_ADDR="203.0.113.8")

    # given three wrong guesses on different accounts from one address
    for name in ("a", "b", "c"):
        assert client.post("/console/signin/", {"username": name, "password": "guess"}).status_code == 400

    # then the fourth attempt, even with the right password, and the code step are refused
    refused = client.post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    assert (
        refused.status_code == 429 and 'data-code="console_signin_rate_limited"' in refused.content.decode()
    )
    assert int(refused["Retry-After"]) == int(settings.CONSOLE_SIGNIN_RATE_WINDOW.total_seconds())
    assert StaffMembership.objects.get(pk=admin.membership.pk).failed_attempts == 0
    # another address is not held back
    assert (
        elsewhere.post("/console/signin/", {"username": admin.username, "password": PASSWORD}).status_code
        == 302
    )


def test_sign_in_attempts_past_the_global_limit_answer_429_from_any_address(admin, settings):
    settings.CONSOLE_SIGNIN_RATE_LIMITS = {"ip": 0, "global": 2}
    for n in range(2):
        Client(REMOTE_ADDR=f"198.51.100.{n}").post("/console/signin/", {"username": "x", "password": "guess"})

    refused = Client(REMOTE_ADDR="198.51.100.9").post(
        "/console/signin/", {"username": admin.username, "password": PASSWORD}
    )

    assert refused.status_code == 429


class CountingHasher(MD5PasswordHasher):
    """The tests' hasher, counting how often a password is checked (the slow step in production)."""

    checks = 0

    def verify(self, password, encoded):
        CountingHasher.checks += 1
        return super().verify(password, encoded)


def test_a_locked_account_hashes_the_password_like_a_wrong_password_does(admin, settings):
    settings.PASSWORD_HASHERS = ["tests.console.test_accounts.CountingHasher"]  # same "md5" algorithm
    StaffMembership.objects.filter(pk=admin.membership.pk).update(
        locked_until=timezone.now() + datetime.timedelta(minutes=5)
    )
    CountingHasher.checks = 0

    response = Client().post("/console/signin/", {"username": admin.username, "password": "wrong password!"})

    assert 'data-code="console_account_locked"' in response.content.decode()
    assert CountingHasher.checks == 1
