"""Admin sign-ins and lockouts are in the access log (issue 13, item 6)."""

from homeconsent.audit.models import AccessEvent

from .test_admin_otp import PASSWORD, _code, _sign_in, device, operator  # noqa: F401 - fixtures


def actions():
    return [
        (e.actor_id, e.detail["action"], e.outcome)
        for e in AccessEvent.objects.order_by("pk")
        if e.detail.get("action", "").startswith("admin_")
    ]


def test_a_sign_in_is_logged_with_its_address(client, operator, device):  # noqa: F811
    assert _sign_in(client, PASSWORD, _code(device)).status_code == 302
    event = AccessEvent.objects.get(detail__action="admin_signin")
    assert (event.actor_type, event.actor_id, event.outcome) == ("operator", "operator", "ok")
    assert event.detail["address"] == "127.0.0.1" and event.items == ["admin_signin"]


def test_failures_the_lock_and_attempts_while_locked_are_logged(client, operator, device, settings):  # noqa: F811
    settings.CONSOLE_LOCKOUT_FAILURES = 3
    # given three wrong passwords (the third locks the account), then the right one during the lock
    for _ in range(3):
        _sign_in(client, "guess")
    _sign_in(client, PASSWORD, _code(device))
    # then each is a refused row of the operator, the lock a row of its own
    assert actions() == [
        ("operator", "admin_signin_failed", "refused"),
        ("operator", "admin_signin_failed", "refused"),
        ("operator", "admin_signin_failed", "refused"),
        ("operator", "admin_account_locked", "refused"),
        ("operator", "admin_signin_while_locked", "refused"),
    ]


def test_a_name_that_is_no_account_is_logged_without_what_was_typed(client, db):
    client.post(
        "/admin/login/?next=/admin/", {"username": "hunter2-password", "password": "x", "otp_token": ""}
    )
    assert actions() == [("unknown", "admin_signin_failed", "refused")]
    assert not AccessEvent.objects.filter(actor_id__contains="hunter2").exists()
