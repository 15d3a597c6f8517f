"""The telehealth apps' API under /consent/api/v1/ (docs/telehealth-app.md).

Views only translate HTTP to consent.telehealth services and back; every refusal is a JSON body
{"code", "message", "message_en"} (HomeConsentError.as_dict()): ours, and DRF's own (malformed JSON,
content type, method, throttling) coded by the institutions' API handler. Moments are Japan time.
"""

import base64
import binascii

from django.conf import settings
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from homeconsent.errors import ErrorCode, HomeConsentError

from . import telehealth
from .models import ConsentItem, TelehealthApp
from .webhooks import api_moment

REALM = 'Basic realm="homeconsent-telehealth", charset="UTF-8"'

APP_UNAUTHENTICATED = ErrorCode(
    "telehealth_app_unauthenticated",
    "アプリの認証に失敗しました（client_id とシークレットを HTTP Basic 認証で送ってください）。",
    "The app could not be authenticated: send client_id and secret with HTTP Basic authentication.",
)
REQUEST_INVALID = ErrorCode(
    "request_invalid",
    "リクエストの内容が正しくありません: {fields}",
    "The request is not valid: {fields}",
)

STATUS_FOR_CODE = {
    telehealth.APP_NOT_FOR_INSTITUTION.code: status.HTTP_403_FORBIDDEN,
    telehealth.SESSION_UNKNOWN.code: status.HTTP_404_NOT_FOUND,
}


class AppPrincipal:
    """request.user for an authenticated app."""

    is_authenticated = True

    def __init__(self, app: TelehealthApp):
        self.app = app


class TelehealthAppBasicAuthentication(BaseAuthentication):
    """Authorization: Basic base64(client_id:secret) (RFC 7617), checked on every request."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        try:
            if len(parts) != 2:
                raise ValueError
            client_id, _, secret = base64.b64decode(parts[1], validate=True).decode("utf-8").partition(":")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise exceptions.AuthenticationFailed() from None
        app = telehealth.authenticate_app(client_id, secret)
        if app is None:
            raise exceptions.AuthenticationFailed()
        return AppPrincipal(app), app

    def authenticate_header(self, request):
        return REALM


class IsTelehealthApp(BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.auth, TelehealthApp)


class SessionRequest(serializers.Serializer):
    institution = serializers.CharField(max_length=10)
    visit_date = serializers.DateField()
    items = serializers.ListField(
        child=serializers.ChoiceField(choices=ConsentItem.values),
        allow_empty=True,
        max_length=len(ConsentItem.values),
    )
    return_url = serializers.URLField(max_length=1000)
    state = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


def session_body(session, request) -> dict:
    consent = session.consent
    return {
        "session_id": session.session_id,
        "status": telehealth.session_status(session),
        "url": telehealth.session_url(session, request),
        "institution": session.institution.code,
        "kind": session.kind,
        "visit_date": session.visit_date.isoformat(),
        "items": session.items,
        "state": session.state,
        "expires_at": api_moment(session.expires_at),
        "consent_id": consent.pk if consent else None,
        "consent_status": consent.effective_status() if consent else None,
        "available_until": api_moment(consent.available_until) if consent else None,
    }


class AppRateThrottle(SimpleRateThrottle):
    """Per telehealth app, keyed by its client id (settings.TELEHEALTH_APP_RATE); shared through the
    cache, so across workers when the cache is Redis."""

    scope = "telehealth-app"

    def get_rate(self):
        return settings.TELEHEALTH_APP_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, TelehealthApp):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.client_id}


class TelehealthApiView(APIView):
    authentication_classes = [TelehealthAppBasicAuthentication]
    permission_classes = [IsTelehealthApp]
    throttle_classes = [AppRateThrottle]

    def handle_exception(self, exc):
        if isinstance(exc, HomeConsentError):
            return Response(exc.as_dict(), status=STATUS_FOR_CODE.get(exc.code, status.HTTP_400_BAD_REQUEST))
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
            response = Response(APP_UNAUTHENTICATED().as_dict(), status=status.HTTP_401_UNAUTHORIZED)
            response["WWW-Authenticate"] = REALM
            return response
        if isinstance(exc, exceptions.ValidationError):
            fields = ", ".join(sorted(exc.detail)) if isinstance(exc.detail, dict) else "body"
            body = REQUEST_INVALID(fields=fields).as_dict() | {"fields": exc.detail}
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        return super().handle_exception(exc)

    # The rest (malformed JSON, content type, method, throttling, 404) goes to the site's
    # REST_FRAMEWORK["EXCEPTION_HANDLER"] (settings.py), coded as in the institutions' API; its
    # Bearer-token codes never apply: authentication is answered above.


class UnknownPathView(TelehealthApiView):
    """Any other path under /consent/api/v1/: a coded 404 rather than Django's HTML page."""

    authentication_classes = []
    permission_classes = []

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise exceptions.NotFound()


class SessionListView(TelehealthApiView):
    def post(self, request):
        data = SessionRequest(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        session = telehealth.do_create_session(
            request.auth,
            institution_code=fields["institution"],
            visit_date=fields["visit_date"],
            items=fields["items"],
            return_url=fields["return_url"],
            state=fields["state"],
        )
        return Response(session_body(session, request), status=status.HTTP_201_CREATED)


class SessionDetailView(TelehealthApiView):
    def get(self, request, session_id):
        session = telehealth.session_by_id(session_id, app=request.auth)
        return Response(session_body(session, request))
