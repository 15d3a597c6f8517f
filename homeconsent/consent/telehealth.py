"""Telehealth-app integration (issue 4 part 5): apps, their consent sessions, and the way back.

A telehealth app (an オンライン診療 system) registered here acts for named institutions. It opens a
consent session for a booked visit, sends its patient to session_url(session) (our consent pages),
and learns the outcome from the webhook and/or GET status; the pages send the patient back to
return_redirect_url(session) with the app's state. See docs/telehealth-app.md.

Secrets: generated here, shown once, stored encrypted with a key derived from SECRET_KEY (the
webhook signer needs them in clear); never logged, never in an access-log entry.
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
import urllib.parse

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import router, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode

from . import outbound, rules
from .models import (
    ConsentKind,
    ConsentSession,
    ConsentSessionStatus,
    ConsentStatus,
    TelehealthApp,
)
from .webhooks import enqueue_webhook

CLIENT_ID_PREFIX = "tha_"
SECRET_PREFIX = "ths_"

APP_URL_INVALID = ErrorCode(
    "telehealth_app_url_invalid",
    "URL「{url}」は使えません。https の URL（試験用には 127.0.0.1 か localhost の http）を指定してください。",
    "URL '{url}' cannot be used: give an https URL (http only for 127.0.0.1 or localhost, for testing).",
)
APP_NAME_MISSING = ErrorCode(
    "telehealth_app_name_missing",
    "アプリの名前を入力してください。",
    "Give the app a name.",
)
APP_NOT_FOR_INSTITUTION = ErrorCode(
    "telehealth_app_not_for_institution",
    "このアプリは医療機関等「{institution}」の代わりに同意を求めることはできません。",
    "This app may not ask for consent on behalf of institution '{institution}'.",
)
INSTITUTION_UNKNOWN = ErrorCode(
    "institution_unknown",
    "医療機関等コード「{institution}」は登録されていません。",
    "Institution code '{institution}' is not registered.",
)
RETURN_URL_NOT_ALLOWED = ErrorCode(
    "return_url_not_allowed",
    "戻り先 URL はアプリに登録されたものだけが使えます。",
    "The return URL must be one registered for the app.",
)
SESSION_UNKNOWN = ErrorCode(
    "consent_session_unknown",
    "この同意の手続きは見つかりませんでした。診療のアプリからもう一度開いてください。",
    "This consent request could not be found. Please open it again from the telehealth app.",
)
SESSION_EXPIRED = ErrorCode(
    "consent_session_expired",
    "この同意の手続きは有効時間を過ぎました。診療のアプリからもう一度開いてください。",
    "This consent request has expired. Please open it again from the telehealth app.",
)
SESSION_COMPLETED = ErrorCode(
    "consent_session_completed",
    "この同意の手続きはすでに終わっています。",
    "This consent request has already been completed.",
)
SESSION_DECLINED = ErrorCode(
    "consent_session_declined",
    "この同意の手続きは中止しました。同意するときは、診療のアプリからもう一度開いてください。",
    "You stopped this consent request. To consent, open it again from the telehealth app.",
)
SESSION_MISMATCH = ErrorCode(
    "consent_session_mismatch",
    "登録した同意（{field}）が、アプリが求めた内容と一致しません。",
    "The consent registered does not match what the app asked for ({field}).",
)


# --- secrets ------------------------------------------------------------------------------------
def _fernet() -> Fernet:
    key = hashlib.sha256(b"homeconsent.telehealth-app-secret\x00" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def app_secret(app: TelehealthApp) -> str:
    """The app's secret in clear, for signing webhooks and checking Basic credentials."""
    try:
        return _fernet().decrypt(app.secret_encrypted.encode()).decode()
    except InvalidToken:
        # SECRET_KEY changed since registration: the app needs a new secret (do_rotate_app_secret).
        raise RuntimeError(f"telehealth app {app.client_id}: stored secret unreadable") from None


def _check_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url or "")
    host = parts.hostname or ""
    if not outbound.local_allowed():  # production: https to a public host only (outbound says why)
        if parts.scheme != "https" or not outbound.is_public_host(host):
            raise outbound.APP_URL_NOT_PUBLIC(url=url)
    loopback = host == "localhost"
    try:
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if parts.scheme == "https" and host or parts.scheme == "http" and loopback:
        if not parts.fragment and not parts.username:
            return url
    raise APP_URL_INVALID(url=url)


def do_register_app(name, *, institutions, allowed_return_urls, webhook_url="", by="operator"):
    """Register an app; returns (app, secret). The secret is shown to the operator once."""
    name = (name or "").strip()
    if not name:
        raise APP_NAME_MISSING()
    urls = [_check_url(url) for url in allowed_return_urls]
    if webhook_url:
        _check_url(webhook_url)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        app = TelehealthApp.objects.create(
            name=name,
            client_id=CLIENT_ID_PREFIX + secrets.token_hex(10),
            secret_encrypted=_fernet().encrypt(secret.encode()).decode(),
            allowed_return_urls=urls,
            webhook_url=webhook_url,
            created_at=now,
        )
        app.institutions.set(institutions)
        for institution in app.institutions.order_by("code"):
            record_access(
                actor_type=ActorType.OPERATOR,
                actor_id=by,
                items=["telehealth_app"],
                basis=Basis.OPERATOR,
                institution_code=institution.code,
                detail={"action": Action.TELEHEALTH_APP_REGISTERED, "client_id": app.client_id, "name": name},
            )
    return app, secret


APP_REVOKED = ErrorCode(
    "telehealth_app_revoked",
    "このアプリは利用停止になっています。秘密鍵は再発行できません。新しく登録してください。",
    "This app has been revoked; its secret cannot be renewed. Register it again instead.",
)


def do_rotate_app_secret(app: TelehealthApp, *, by="operator") -> str:
    """A new secret for an active app (the old one stops working at once); returns it, to be shown
    to the operator once. Logged per institution, as the registration is."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        rotated = TelehealthApp.objects.filter(pk=app.pk, revoked_at__isnull=True).update(
            secret_encrypted=_fernet().encrypt(secret.encode()).decode()
        )
        if not rotated:
            raise APP_REVOKED()
        app.refresh_from_db()
        for institution in app.institutions.order_by("code"):
            record_access(
                actor_type=ActorType.OPERATOR,
                actor_id=by,
                items=["telehealth_app"],
                basis=Basis.OPERATOR,
                institution_code=institution.code,
                detail={"action": Action.TELEHEALTH_APP_SECRET_ROTATED, "client_id": app.client_id},
            )
    return secret


def do_revoke_app(app: TelehealthApp, *, by="operator") -> TelehealthApp:
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        TelehealthApp.objects.filter(pk=app.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        app.refresh_from_db()
        record_access(
            actor_type=ActorType.OPERATOR,
            actor_id=by,
            items=["telehealth_app"],
            basis=Basis.OPERATOR,
            detail={"action": Action.TELEHEALTH_APP_REVOKED, "client_id": app.client_id},
        )
    return app


def authenticate_app(client_id: str, secret: str) -> TelehealthApp | None:
    """The active app with these credentials, or None (unknown, revoked and wrong secret alike)."""
    app = TelehealthApp.objects.filter(client_id=client_id, revoked_at__isnull=True).first()
    if app is None:
        hmac.compare_digest(secret, SECRET_PREFIX + "x" * 43)  # similar time whether or not the id exists
        return None
    return app if hmac.compare_digest(app_secret(app).encode(), secret.encode()) else None


# --- sessions -----------------------------------------------------------------------------------
def _return_url_allowed(app: TelehealthApp, url: str) -> bool:
    """Allowed: an exact registered URL, with any query string of the app's own."""
    parts = urllib.parse.urlsplit(url)
    bare = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return not parts.fragment and (url in app.allowed_return_urls or bare in app.allowed_return_urls)


def do_create_session(
    app, *, institution_code, visit_date, items, return_url, state="", now=None
) -> ConsentSession:
    """Open a telehealth consent session for a booked visit (kind telehealth)."""
    from homeconsent.registry.models import Institution

    now = now or timezone.now()
    institution = Institution.objects.filter(code=str(institution_code)).first()
    if institution is None:
        raise INSTITUTION_UNKNOWN(institution=institution_code)
    if not app.institutions.filter(pk=institution.pk).exists():
        raise APP_NOT_FOR_INSTITUTION(institution=institution.code)
    kind = ConsentKind.TELEHEALTH.value
    visit_date = rules.clean_visit_date(kind, visit_date)
    items = rules.clean_items(kind, items, institution)
    if not _return_url_allowed(app, return_url):
        raise RETURN_URL_NOT_ALLOWED()
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        session = ConsentSession.objects.create(
            session_id=secrets.token_urlsafe(32),
            app=app,
            institution=institution,
            kind=kind,
            visit_date=visit_date,
            items=items,
            return_url=return_url,
            state=state or "",
            created_at=now,
            expires_at=now + settings.CONSENT_SESSION_TTL,
        )
        record_access(
            actor_type=ActorType.INSTITUTION_CLIENT,
            actor_id=f"telehealth:{app.client_id}",
            items=items,
            basis=Basis.CONSENT,
            institution_code=institution.code,
            detail={
                "action": Action.CONSENT_SESSION_CREATED,
                "session": session.pk,
                "visit_date": visit_date.isoformat(),
            },
        )
    return session


def session_by_id(session_id: str, *, app=None) -> ConsentSession:
    """The session named in a URL (for the pages) or by an app (only its own); else session_unknown."""
    if not session_id or len(session_id) > 43:
        raise SESSION_UNKNOWN()
    sessions = ConsentSession.objects.select_related("app", "institution", "consent")
    if app is not None:
        sessions = sessions.filter(app=app)
    session = sessions.filter(session_id=session_id).first()
    if session is None:
        raise SESSION_UNKNOWN()
    return session


def session_status(session: ConsentSession, now=None) -> str:
    """pending, registered, cancelled, declined, or expired (pending past expires_at); computed on read."""
    if session.status == ConsentSessionStatus.PENDING and (now or timezone.now()) >= session.expires_at:
        return ConsentSessionStatus.EXPIRED.value
    return session.status


def session_url(session: ConsentSession, request=None) -> str:
    """Where the patient goes: the consent pages' route for the session (/consent/s/<id>/)."""
    try:
        path = reverse("consent:session", args=[session.session_id])
    except NoReverseMatch:
        path = f"/consent/s/{session.session_id}/"
    return request.build_absolute_uri(path) if request is not None else path


def check_session_open(session: ConsentSession, now=None) -> None:
    """Refuse a session the patient can no longer consent in (pages call this before the card step)."""
    if session.status == ConsentSessionStatus.DECLINED:
        raise SESSION_DECLINED()
    if session.status != ConsentSessionStatus.PENDING:
        raise SESSION_COMPLETED()
    if session_status(session, now) == ConsentSessionStatus.EXPIRED:
        raise SESSION_EXPIRED()
    if not session.app.active:
        raise SESSION_UNKNOWN()


def webhook_data(session: ConsentSession, consent) -> dict:
    """What a webhook tells the app: its own references and the consent's terms, no personal data."""
    return {
        "session_id": session.session_id,
        "state": session.state,
        "status": session.status,
        "institution": session.institution.code,
        "kind": session.kind,
        "visit_date": session.visit_date.isoformat(),
        "consent_id": consent.pk if consent else None,
        "consent_status": consent.effective_status() if consent else None,
        "items": consent.items if consent else session.items,
        "available_until": consent.available_until.isoformat()
        if consent and consent.available_until
        else None,
    }


def complete_session(session: ConsentSession, consent, *, now=None) -> ConsentSession:
    """Link a registered consent to its session and queue the "consent.registered" webhook.

    consent.services.do_register_consent(..., session=session) calls this inside the consent's own
    transaction (preferred: one commit for consent, session and webhook). Called again with the
    same consent it changes nothing.
    """
    now = now or timezone.now()
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        session = (
            ConsentSession.objects.select_for_update().select_related("app", "institution").get(pk=session.pk)
        )
        if session.consent_id == consent.pk:
            return session
        check_session_open(session, now)
        for field, expected, actual in (
            ("institution", session.institution_id, consent.institution_id),
            ("kind", session.kind, consent.kind),
            ("visit_date", session.visit_date, consent.visit_date),
            ("items", sorted(session.items), sorted(consent.items)),
        ):
            if expected != actual:
                raise SESSION_MISMATCH(field=field)
        session.consent = consent
        session.status = ConsentSessionStatus.REGISTERED
        session.completed_at = now
        session.save(update_fields=["consent", "status", "completed_at"])
        enqueue_webhook(
            session.app, "consent.registered", webhook_data(session, consent), session=session, now=now
        )
    return session


def do_decline_session(session: ConsentSession, *, now=None) -> ConsentSession:
    """The patient stopped (中止する) before consenting: the app's status poll says "declined".

    Only a pending session changes; one already registered, declined or expired is returned as it
    is, so the patient's way back names its real status.
    """
    now = now or timezone.now()
    with transaction.atomic(using=router.db_for_write(ConsentSession)):
        session = (
            ConsentSession.objects.select_for_update().select_related("app", "institution").get(pk=session.pk)
        )
        if session_status(session, now) != ConsentSessionStatus.PENDING:
            return session
        session.status = ConsentSessionStatus.DECLINED
        session.completed_at = now
        session.save(update_fields=["status", "completed_at"])
        # The patient has not shown a card: who stopped is known only as the session's holder.
        record_access(
            actor_type=ActorType.PATIENT,
            actor_id=f"session:{session.pk}",
            items=session.items,
            basis=Basis.CONSENT,
            institution_code=session.institution.code,
            detail={
                "action": Action.CONSENT_SESSION_DECLINED,
                "session": session.pk,
                "client_id": session.app.client_id,
            },
        )
        # An app that does not poll learns it too, even if the patient never comes back to it.
        enqueue_webhook(
            session.app, "session.declined", webhook_data(session, None), session=session, now=now
        )
    return session


def session_consent_ended(consent, *, now=None) -> None:
    """Inside a cancellation's transaction: mark the consent's session and queue "consent.cancelled"."""
    session = ConsentSession.objects.select_related("app", "institution").filter(consent=consent).first()
    if session is None or consent.status != ConsentStatus.CANCELLED:
        return
    session.status = ConsentSessionStatus.CANCELLED
    session.save(update_fields=["status"])
    enqueue_webhook(
        session.app, "consent.cancelled", webhook_data(session, consent), session=session, now=now
    )


def return_redirect_url(session: ConsentSession) -> str:
    """The app's return URL with session_id, status and state added to its query string."""
    parts = urllib.parse.urlsplit(session.return_url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in query if k not in {"session_id", "status", "state"}]
    query += [("session_id", session.session_id), ("status", session_status(session))]
    if session.state:
        query.append(("state", session.state))
    return urllib.parse.urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urllib.parse.urlencode(query), "")
    )
