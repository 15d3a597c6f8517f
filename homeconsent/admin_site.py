"""The operator admin (/admin/): password and a verified TOTP code, with the console's lockout.

Every admin page needs a session verified by a confirmed TOTP device (django-otp's OTPAdminSite); a
password-only session is sent to the sign-in page. Sign-in attempts pass the console's per-address
brake (accounts.check_signin_rate), and failures of an account are counted by the console's counter
(accounts.count_signin_failure: CONSOLE_LOCKOUT_FAILURES in a row lock it for CONSOLE_LOCKOUT); a
locked account is refused before its password is checked. One message for a wrong name, password or code, so a reply never tells which.
Every attempt is an access-log row (operator actor, item admin_signin), written in the transaction
that changes the account's counter: a sign-in, a failure, the failure that locks the account, a
refusal while locked, a refusal by the address brake. A name that is no account is logged as
"unknown" (what was typed may be a password).

Stable API:
    OperatorAdminSite                 (admin.site, via admin_apps.OperatorAdminConfig)
    do_record_failed_signin(user, now) -> locked_until | None
    do_clear_failed_signins(user)
    create_operator_device(user) -> TOTPDevice  (confirmed; its config_url is the otpauth:// URL)
"""

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice

from homeconsent.accounts import services as accounts
from homeconsent.audit.models import Action, ActorType, Basis, Outcome
from homeconsent.audit.services import record_access
from homeconsent.consent.challenges import client_ip
from homeconsent.errors import ErrorCode, HomeConsentError

from .models import OperatorSignin

ADMIN_SIGNIN_FAILED = ErrorCode(
    "admin_signin_failed",
    "ユーザー名・パスワード・確認コード（TOTP）のいずれかが正しくありません。認証アプリの6桁の数字も入力してください。",
    "The user name, password or verification code (TOTP) is not correct. Enter the 6 digits your "
    "authenticator app shows as well.",
)
ADMIN_ACCOUNT_LOCKED = ErrorCode(
    "admin_account_locked",
    "サインインの失敗が続いたため、このアカウントは{minutes}分間ロックされています。しばらくしてからお試しください。",
    "Too many failed sign-ins: this account is locked for {minutes} minutes. Please try again later.",
)


def _coded(error: HomeConsentError) -> forms.ValidationError:
    # The admin's login page prints messages only: the code goes into the text.
    return forms.ValidationError(f"{error.message()} ({error.code})", code=error.code)


def _locked(locked_until, now) -> HomeConsentError:
    return ADMIN_ACCOUNT_LOCKED(minutes=accounts.lock_minutes(locked_until, now))


def _log_attempt(user, action: str, outcome: str, address: str = "", **detail) -> None:
    record_access(
        actor_type=ActorType.OPERATOR,
        actor_id=user.get_username() if user else "unknown",
        items=["admin_signin"],
        basis=Basis.OPERATOR,
        outcome=outcome,
        detail={"action": action, "address": address, **detail},
    )


def do_record_failed_signin(user, now, *, address: str = "") -> "timezone.datetime | None":
    """Count one failure; the last allowed one locks the account. Returns the lock's end, if locked.
    Logged (a failure, and the lock if this one locked), in the counter's transaction."""
    with transaction.atomic():
        locked_until = accounts.count_signin_failure(OperatorSignin, now, user=user) if user else None
        _log_attempt(user, Action.ADMIN_SIGNIN_FAILED, Outcome.REFUSED, address)
        if locked_until:
            _log_attempt(
                user, Action.ADMIN_ACCOUNT_LOCKED, Outcome.REFUSED, address, until=locked_until.isoformat()
            )
    return locked_until


def do_clear_failed_signins(user, *, address: str = "") -> None:
    """A sign-in (password and TOTP code verified): the failure count starts again; logged."""
    with transaction.atomic():
        OperatorSignin.objects.filter(user=user).update(failed_attempts=0, locked_until=None)
        _log_attempt(user, Action.ADMIN_SIGNIN, Outcome.OK, address)


def create_operator_device(user) -> TOTPDevice:
    """A new confirmed TOTP device for an operator; earlier devices stop working."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        return TOTPDevice.objects.create(user=user, name="admin", confirmed=True)


class OperatorLoginForm(OTPAdminAuthenticationForm):
    def clean(self):
        now = timezone.now()
        address = client_ip(self.request) if self.request is not None else ""
        username = (self.data.get("username") or "").strip()[:150]
        user = get_user_model().objects.filter(username=username).first() if username else None
        if self.request is not None:
            try:
                accounts.check_signin_rate(address)
            except HomeConsentError as exc:
                _log_attempt(user, Action.ADMIN_SIGNIN_RATE_LIMITED, Outcome.REFUSED, address)
                raise _coded(exc) from None
        signin = OperatorSignin.objects.filter(user=user).first() if user else None
        if signin and signin.locked_until and signin.locked_until > now:
            # Hash anyway, so a locked account takes as long as a wrong password.
            user.check_password(self.data.get("password") or "")
            _log_attempt(user, Action.ADMIN_SIGNIN_WHILE_LOCKED, Outcome.REFUSED, address)
            raise _coded(_locked(signin.locked_until, now))
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            locked_until = do_record_failed_signin(user, now, address=address)
            raise _coded(_locked(locked_until, now) if locked_until else ADMIN_SIGNIN_FAILED()) from None
        do_clear_failed_signins(self.get_user(), address=address)
        return cleaned

    def _chosen_device(self, user):
        # One TOTP device per operator: no need to pick it in a first round trip.
        return super()._chosen_device(user) or TOTPDevice.objects.filter(user=user, confirmed=True).first()


class OperatorAdminSite(OTPAdminSite):
    """admin.site: every page needs a session verified with the operator's TOTP device."""

    login_form = OperatorLoginForm

    def __init__(self, name="admin"):
        super().__init__(name)

    def get_urls(self):
        from django.urls import path

        from homeconsent.usage.views import usage_report

        # The usage statistics (counts only), behind the same TOTP-verified staff check as the rest.
        usage = path(
            "usage/", self.admin_view(lambda request: usage_report(request, self)), name="usage_report"
        )
        return [usage, *super().get_urls()]
