"""An operator signed in to the admin as after password and TOTP code (the admin refuses less)."""

from django_otp import DEVICE_ID_SESSION_KEY

from homeconsent.admin_site import create_operator_device


def sign_in_verified(client, user):
    """client signed in as user with a confirmed TOTP device verified, as django_otp.login leaves it."""
    device = create_operator_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
