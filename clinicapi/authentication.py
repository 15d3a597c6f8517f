"""The DRF pieces every protected endpoint of the institutions' API uses.

BearerTokenAuthentication checks the token in the database on every request (expiry, revocation,
the client's revocation); HasScopes reads `required_scopes` from the view; ClientRateThrottle
limits each client. clinicapi.views.ApiView puts them together for the endpoints.
"""

from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from homeconsent.consent.challenges import client_ip
from homeconsent.errors import HomeConsentError

from . import errors
from .auth import ApiAccess, authenticate_token
from .scopes import MEDICAL_SCOPES


class BearerTokenAuthentication(BaseAuthentication):
    """Authorization: Bearer <token> (RFC 6750 §2.1). request.user is the ApiClient, request.auth an ApiAccess."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise errors.InvalidToken(errors.TOKEN_INVALID())
        try:
            return authenticate_token(parts[1].decode("ascii"))
        except UnicodeDecodeError:
            raise errors.InvalidToken(errors.TOKEN_INVALID()) from None
        except HomeConsentError as exc:
            raise errors.InvalidToken(exc) from None

    def authenticate_header(self, request):
        return errors.BEARER_REALM


class IsApiClient(BasePermission):
    """The caller presented a valid bearer token."""

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiAccess)


class HasScopes(BasePermission):
    """The token holds every scope in view.required_scopes (an iterable, or a dict by HTTP method)."""

    def has_permission(self, request, view):
        required = getattr(view, "required_scopes", ())
        if isinstance(required, dict):
            required = required.get(request.method, ())
        if not required:
            return True
        if not isinstance(request.auth, ApiAccess):
            return False  # IsApiClient answers 401 first
        missing = set(required) - request.auth.scopes
        if not missing:
            return True
        # A qualification-only site is never granted medical scopes: a medical view refuses it with
        # the reason, and logs it (data_views.MedicalDataView), rather than a bare missing scope.
        qualification_only = request.user.institution.qualification_only
        if getattr(view, "medical_item", "") and missing <= MEDICAL_SCOPES and qualification_only:
            return True
        raise errors.InsufficientScope(required)


class _SettingsRateThrottle(SimpleRateThrottle):
    """Rates from settings.CLINICAPI_THROTTLE_RATES, read when the throttle is made."""

    def get_rate(self):
        return settings.CLINICAPI_THROTTLE_RATES.get(self.scope)


class ClientRateThrottle(_SettingsRateThrottle):
    """Per API client, keyed by client id, on the protected endpoints."""

    scope = "client"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiAccess):
            return None
        return self.cache_format % {"scope": "clinicapi-" + self.scope, "ident": request.auth.client_id}


class TokenEndpointThrottle(_SettingsRateThrottle):
    """Per client address on the token URL, where no client is authenticated yet. The address is
    the project's client_ip (settings.CLIENT_IP_PROXY_COUNT), not DRF's get_ident: without
    NUM_PROXIES that trusts a raw X-Forwarded-For, and a new header would be a new budget."""

    scope = "token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": "clinicapi-" + self.scope, "ident": client_ip(request)}
