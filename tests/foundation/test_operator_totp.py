"""An operator made with createsuperuser gets a TOTP device from one command, and can then sign in."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def test_the_command_gives_a_device_that_signs_in_to_the_admin(db, client):
    # given an operator made with createsuperuser (no device yet)
    get_user_model().objects.create_superuser("ops-sato", "ops@example.invalid", "pw-ops-sato-123")
    out = StringIO()

    # when the command gives a device
    call_command("operator_totp", "ops-sato", stdout=out)

    # then it printed the URL and secret once, and a code from that secret signs in
    text = out.getvalue()
    assert "otpauth://totp/" in text and "secret (base32" in text
    device = TOTPDevice.objects.get(user__username="ops-sato")
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    response = client.post(
        "/admin/login/", {"username": "ops-sato", "password": "pw-ops-sato-123", "otp_token": code}
    )
    assert response.status_code == 302 and client.get("/admin/").status_code == 200


def test_an_unknown_operator_is_named_in_the_refusal(db):
    with pytest.raises(CommandError, match="operator_unknown"):
        call_command("operator_totp", "nobody")
