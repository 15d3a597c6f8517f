"""Staff accounts of the institution console: enrolment, sign-in with password and TOTP, lockout,
idle expiry and sign-out everywhere.

Stable API:
    do_create_staff(institution, username, role, *, by) -> (StaffMembership, enrolment token)
    do_issue_enrolment_link(membership, *, by) -> token           (a new account, or a reset TOTP)
    enrolment_link(token) -> EnrolmentLink | None               (valid, unused, unexpired)
    do_start_enrolment(link, password, password_again) -> TOTPDevice (unconfirmed)
    do_confirm_enrolment(device, code) -> StaffMembership
    check_signin_rate(client_ip)                                (before each sign-in step)
    check_password(username, password) -> StaffMembership      (step 1 of signing in)
    check_code(membership, code) -> TOTPDevice                 (step 2)
    sign_in(request, membership, device) / staff_for(user, session, now, touch) / sign_out(request)
    do_sign_out_everywhere(membership)
    clean_new_username(username) / check_new_password(user, p, p2) / clean_totp_code(code, digits)
                                                                (the rules, for the console's forms)

Failures of either step count against the account (StaffMembership.failed_attempts, in the
database so every worker agrees); CONSOLE_LOCKOUT_FAILURES in a row lock it for CONSOLE_LOCKOUT.
A locked account is refused before its password is even checked, so guessing stops too.
"""

import datetime
import hashlib
import secrets

from django.conf import settings
from django.contrib import auth
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice

from homeconsent import channel_publish, ratelimit
from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode

from .models import EnrolmentLink, StaffMembership, StaffRole

SESSION_KEY = "console.staff"
PENDING_KEY = "console.pending"
ENROL_KEY = "console.enrol"
# Between the password and the code: this long at most.
PENDING_LIFETIME = datetime.timedelta(minutes=5)

# One refusal, worded for the step it answers: no confirmation code is mentioned before one was asked.
SIGNIN_FAILED = ErrorCode(
    "console_signin_failed",
    "ユーザー名またはパスワードが正しくありません。",
    "The user name or password is not correct.",
)
SIGNIN_CODE_FAILED = ErrorCode(
    "console_signin_failed",
    "確認コードが正しくありません。認証アプリに今表示されている6桁の数字を入力してください。",
    "The verification code is not correct. Enter the 6 digits your authenticator app shows now.",
)
ACCOUNT_LOCKED = ErrorCode(
    "console_account_locked",
    "サインインの失敗が続いたため、このアカウントは{minutes}分間ロックされています。しばらくしてからお試しください。",
    "Too many failed sign-ins: this account is locked for {minutes} minutes. Please try again later.",
)
SIGNIN_RATE_LIMITED = ErrorCode(
    "console_signin_rate_limited",
    "サインインの試行が多すぎます。{minutes}分ほど待ってからお試しください。",
    "Too many sign-in attempts. Please wait about {minutes} minutes and try again.",
)
SIGNIN_RATE_KEY_PREFIX = "homeconsent:console-signin-rate"
TOTP_NOT_ENROLLED = ErrorCode(
    "console_totp_not_enrolled",
    "確認コード（TOTP）の登録が済んでいません。管理者に登録用リンクの発行を依頼してください。",
    "No verification-code (TOTP) device is enrolled. Ask your administrator for an enrolment link.",
)
SIGNIN_EXPIRED = ErrorCode(
    "console_signin_expired",
    "時間が経ちすぎました。もう一度ユーザー名とパスワードを入力してください。",
    "That took too long. Please enter your user name and password again.",
)
ENROLMENT_PASSWORDS_DIFFER = ErrorCode(
    "console_passwords_differ",
    "2回入力したパスワードが一致しません。",
    "The two passwords are not the same.",
)
ENROLMENT_PASSWORD_WEAK = ErrorCode(
    "console_password_weak",
    "このパスワードは使えません：{reasons}",
    "This password cannot be used: {reasons}",
)
ENROLMENT_CODE_WRONG = ErrorCode(
    "console_enrolment_code_wrong",
    "確認コードが正しくありません。アプリに表示されている6桁の数字を入力してください。",
    "The verification code is not correct. Enter the 6 digits your app shows.",
)
USERNAME_TAKEN = ErrorCode(
    "console_username_taken",
    "ユーザー名「{username}」はすでに使われています。",
    "The user name '{username}' is already taken.",
)
USERNAME_INVALID = ErrorCode(
    "console_username_invalid",
    "ユーザー名は半角英数字と @ . + - _ で150文字以内です。",
    "A user name is up to 150 letters, digits and @ . + - _.",
)
ENROLMENT_LINK_INVALID = ErrorCode(
    "console_enrolment_link_invalid",
    "この登録用リンクは使えません（使用済み・期限切れ・新しいリンクの発行のいずれか）。管理者に新しいリンクの発行を依頼してください。",
    "This enrolment link cannot be used: it was already used, has expired, or was replaced. Ask your "
    "administrator for a new link.",
)
ADMIN_ONLY = ErrorCode(
    "console_admin_only",
    "この操作は施設の管理者だけができます。管理者に依頼してください。",
    "Only an administrator of this institution can do this. Ask your administrator.",
)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _log(membership: StaffMembership, by: str, action: str, **detail) -> None:
    # Who can see an institution's patients is part of the record the institution can trust.
    record_access(
        actor_type=ActorType.INSTITUTION_STAFF,
        actor_id=by,
        items=["console_staff"],
        basis=Basis.OPERATOR,
        institution_code=membership.institution.code,
        detail={"action": action, "staff": membership.user.get_username(), **detail},
    )


# --- the rules of a new account ---------------------------------------------------------------------
def clean_new_username(username: str) -> str:
    """The user name of a new account, stripped; refuses console_username_invalid or _taken."""
    User = get_user_model()
    username = (username or "").strip()
    try:
        User.username_validator(username)
    except ValidationError:
        raise USERNAME_INVALID() from None
    if not username or len(username) > 150:
        raise USERNAME_INVALID()
    if User.objects.filter(username=username).exists():
        raise USERNAME_TAKEN(username=username)
    return username


def check_new_password(user, password: str, password_again: str) -> None:
    """A password an account may take: typed the same twice and passing Django's validators."""
    if password != password_again:
        raise ENROLMENT_PASSWORDS_DIFFER()
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ENROLMENT_PASSWORD_WEAK(reasons=" ".join(exc.messages)) from None


def clean_totp_code(code: str, digits: int) -> str:
    """A code as an authenticator app shows it (only digits, the device's length), stripped."""
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == digits):
        raise ENROLMENT_CODE_WRONG()
    return code


# --- accounts and enrolment ------------------------------------------------------------------------
def do_create_staff(
    institution, username: str, role: str = StaffRole.STAFF, *, by: str
) -> tuple[StaffMembership, str]:
    """A new staff account without a password, and the one-time link that sets it up."""
    username = clean_new_username(username)
    role = StaffRole(role)
    with transaction.atomic():
        clean_new_username(username)  # again inside the transaction: taken meanwhile?
        user = get_user_model()(username=username)
        user.set_unusable_password()
        user.save()
        membership = StaffMembership.objects.create(
            user=user, institution=institution, role=role, created_at=timezone.now()
        )
        _log(membership, by, Action.CONSOLE_STAFF_CREATED, role=str(role))
        token = do_issue_enrolment_link(membership, by=by)
    return membership, token


def do_issue_enrolment_link(membership: StaffMembership, *, by: str) -> str:
    """A one-time enrolment link token; earlier unused links of this account stop working."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        membership.enrolment_links.filter(used_at__isnull=True).update(used_at=now)
        EnrolmentLink.objects.create(
            membership=membership,
            token_hash=_token_hash(token),
            created_at=now,
            expires_at=now + settings.CONSOLE_ENROLMENT_TTL,
            created_by=by,
        )
        _log(membership, by, Action.CONSOLE_ENROLMENT_LINK_ISSUED)
    return token


def enrolment_link(token: str) -> EnrolmentLink | None:
    if not token or len(token) > 64:
        return None
    return (
        EnrolmentLink.objects.select_related("membership__user", "membership__institution")
        .filter(token_hash=_token_hash(token), used_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )


def do_start_enrolment(link: EnrolmentLink, password: str, password_again: str) -> TOTPDevice:
    """Set the password and make a new, unconfirmed TOTP device; the link is spent. Earlier devices
    and every session of the account end here (a reset TOTP must not leave the old phone working)."""
    membership = link.membership
    user = membership.user
    check_new_password(user, password, password_again)
    with transaction.atomic():
        spent = EnrolmentLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=timezone.now())
        if not spent:
            raise SIGNIN_EXPIRED()
        user.set_password(password)
        user.save(update_fields=["password"])
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name="console", confirmed=False)
        StaffMembership.objects.filter(pk=membership.pk).update(
            session_generation=F("session_generation") + 1, failed_attempts=0, locked_until=None
        )
    return device


def do_confirm_enrolment(device: TOTPDevice, code: str) -> StaffMembership:
    """The first code from the app confirms the device; until then it cannot sign anybody in."""
    code = clean_totp_code(code, device.digits)
    if not device.verify_token(code):
        raise ENROLMENT_CODE_WRONG()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    membership = StaffMembership.objects.select_related("institution", "user").get(user_id=device.user_id)
    with transaction.atomic():
        _log(membership, membership.user.get_username(), Action.CONSOLE_TOTP_ENROLLED)
    return membership


# --- signing in -------------------------------------------------------------------------------------
def lock_minutes(locked_until, now) -> int:
    """Whole minutes left of a lock, at least 1: what the locked message says."""
    return max(1, int((locked_until - now).total_seconds() + 59) // 60)


def count_signin_failure(model, now, **lookup):
    """Count one failed sign-in on the row of `model` (failed_attempts, locked_until) found or made by
    `lookup`; the last allowed failure locks it for CONSOLE_LOCKOUT. Returns the lock's end, if locked.
    Shared by console staff (StaffMembership) and admin operators (OperatorSignin)."""
    with transaction.atomic():
        row, _ = model.objects.select_for_update().get_or_create(**lookup)
        row.failed_attempts += 1
        if row.failed_attempts >= settings.CONSOLE_LOCKOUT_FAILURES:
            row.failed_attempts = 0
            row.locked_until = now + settings.CONSOLE_LOCKOUT
        row.save(update_fields=["failed_attempts", "locked_until"])
    return row.locked_until if row.locked_until is not None and row.locked_until > now else None


def _locked_error(membership, now):
    return ACCOUNT_LOCKED(minutes=lock_minutes(membership.locked_until, now))


def _refuse_if_locked(membership, now):
    if membership.locked_until is not None and membership.locked_until > now:
        raise _locked_error(membership, now)


def _fail(membership: StaffMembership, now, refusal=SIGNIN_FAILED):
    """Count one failure; the last allowed one locks the account. Returns the error to show."""
    locked_until = count_signin_failure(StaffMembership, now, pk=membership.pk)
    if locked_until is not None:
        return ACCOUNT_LOCKED(minutes=lock_minutes(locked_until, now))
    return refusal()


def _membership_by_username(username):
    return (
        StaffMembership.objects.select_related("user", "institution")
        .filter(user__username=(username or "").strip()[:150], user__is_active=True)
        .first()
    )


def check_signin_rate(client_ip: str) -> None:
    """Count one sign-in attempt, per client address and in all; past settings.CONSOLE_SIGNIN_RATE_LIMITS
    raises console_signin_rate_limited (params carry retry_after, seconds). This brakes guessing
    across many accounts, which the per-account lockout alone does not."""
    window = max(1, int(settings.CONSOLE_SIGNIN_RATE_WINDOW.total_seconds()))
    limits = settings.CONSOLE_SIGNIN_RATE_LIMITS
    counted = {"ip": (client_ip, limits.get("ip", 0)), "global": ("all", limits.get("global", 0))}
    if ratelimit.count_and_check(SIGNIN_RATE_KEY_PREFIX, counted, window):
        raise SIGNIN_RATE_LIMITED(minutes=max(1, -(-window // 60)), retry_after=window)


def check_password(username: str, password: str, *, now=None) -> StaffMembership:
    now = now or timezone.now()
    membership = _membership_by_username(username)
    if membership is None:
        # Hash anyway, so an unknown name takes as long as a wrong password.
        get_user_model()().set_password(password or "")
        raise SIGNIN_FAILED()
    if membership.locked_until is not None and membership.locked_until > now:
        # Hash anyway, so a locked account takes as long as a wrong password.
        membership.user.check_password(password or "")
        raise _locked_error(membership, now)
    if not membership.user.check_password(password or ""):
        raise _fail(membership, now)
    if not TOTPDevice.objects.filter(user=membership.user, confirmed=True).exists():
        raise TOTP_NOT_ENROLLED()
    return membership


def check_code(membership: StaffMembership, code: str, *, now=None) -> TOTPDevice:
    now = now or timezone.now()
    membership.refresh_from_db(fields=["failed_attempts", "locked_until"])
    _refuse_if_locked(membership, now)
    device = TOTPDevice.objects.filter(user=membership.user, confirmed=True).first()
    if device is None:
        raise TOTP_NOT_ENROLLED()
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == device.digits) or not device.verify_token(code):
        raise _fail(membership, now, SIGNIN_CODE_FAILED)
    StaffMembership.objects.filter(pk=membership.pk).update(failed_attempts=0, locked_until=None)
    return device


def remember_password_step(request, membership) -> None:
    request.session[PENDING_KEY] = {"membership": membership.pk, "at": timezone.now().isoformat()}


def pending_membership(request) -> StaffMembership | None:
    state = request.session.get(PENDING_KEY)
    if not state:
        return None
    if timezone.now() - datetime.datetime.fromisoformat(state["at"]) > PENDING_LIFETIME:
        request.session.pop(PENDING_KEY, None)
        return None
    return (
        StaffMembership.objects.select_related("user", "institution").filter(pk=state["membership"]).first()
    )


def sign_in(request, membership: StaffMembership, device: TOTPDevice) -> None:
    """Password and code both passed: a new session (no fixation) bound to the account's generation."""
    request.session.pop(PENDING_KEY, None)
    request.session.pop(ENROL_KEY, None)
    auth.login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    membership.refresh_from_db(fields=["session_generation"])
    request.session[SESSION_KEY] = {
        "membership": membership.pk,
        "generation": membership.session_generation,
        "seen": timezone.now().isoformat(),
    }


def sign_out(request) -> None:
    auth.logout(request)  # flushes the session, OTP device included


def staff_group(membership_id) -> str:
    """The Channels group of one account's open live boards (closed by sign-out everywhere)."""
    return f"console.staff.{membership_id}"


def do_sign_out_everywhere(membership: StaffMembership) -> None:
    """Every session of this account ends: pages at their next request, live boards at once."""
    with transaction.atomic():
        StaffMembership.objects.filter(pk=membership.pk).update(
            session_generation=F("session_generation") + 1
        )
        group = staff_group(membership.pk)

        def close_boards():
            channel_publish.group_send(group, {"type": "console.signed_out"})

        transaction.on_commit(close_boards, robust=True)


# --- the session check made by every page and socket -----------------------------------------------
def verified_device(user, session):
    """The confirmed OTP device this session verified with, or None (the OTPMiddleware check, for sockets)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY)
    if not persistent_id or not getattr(user, "is_authenticated", False):
        return None
    device = Device.from_persistent_id(persistent_id)
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    return device


def staff_for(user, session, *, now=None, touch=True) -> StaffMembership | None:
    """The staff member of a signed-in, OTP-verified, current, non-idle session; or None.

    An idle or outdated (signed out everywhere) session is marked so the sign-in page can say why.
    """
    state = session.get(SESSION_KEY)
    if not state or not getattr(user, "is_authenticated", False):
        return None
    now = now or timezone.now()
    membership = (
        StaffMembership.objects.select_related("institution", "user")
        .filter(pk=state["membership"], user_id=user.pk, user__is_active=True)
        .first()
    )
    if membership is None or membership.session_generation != state["generation"]:
        session.pop(SESSION_KEY, None)
        session["console.ended"] = "signed_out"
        return None
    if now - datetime.datetime.fromisoformat(state["seen"]) >= settings.CONSOLE_SESSION_IDLE:
        session.pop(SESSION_KEY, None)
        session["console.ended"] = "idle"
        return None
    if touch:
        state["seen"] = now.isoformat()
        session[SESSION_KEY] = state
    return membership


def idle_deadline(session) -> datetime.datetime | None:
    state = session.get(SESSION_KEY)
    if not state:
        return None
    return datetime.datetime.fromisoformat(state["seen"]) + settings.CONSOLE_SESSION_IDLE
