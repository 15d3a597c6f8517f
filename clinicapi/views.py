"""Endpoints of the institutions' API: the token URL, and the base every protected endpoint uses."""

from rest_framework.exceptions import NotFound
from rest_framework.parsers import FormParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from . import errors, presenters
from .auth import do_grant_token, token_audience
from .authentication import (
    BearerTokenAuthentication,
    ClientRateThrottle,
    HasScopes,
    IsApiClient,
    TokenEndpointThrottle,
)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ApiView(APIView):
    """Base of the protected endpoints: bearer token, scopes from `required_scopes`, per-client rate."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsApiClient, HasScopes]
    throttle_classes = [ClientRateThrottle]
    renderer_classes = [JSONRenderer]
    required_scopes = ()
    # The query parameters this endpoint reads (a serializer's fields, or none); any other is refused
    # with unknown_parameter, as the schema allows no other. `format` is always known; None: not checked
    # here (the FHIR views read FHIR search parameters of their own).
    query_fields: tuple | None = ()

    def get_exception_handler(self):
        return errors.api_exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.query_fields is None:
            return
        # _include: a FHIR answer of a data path may include the Patient (fhir.wants_patient_included).
        known = set(self.query_fields) | {api_settings.URL_FORMAT_OVERRIDE, "_include"}
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise errors.FieldProblems(
                {name[:40]: [errors.UNKNOWN_PARAMETER(name=name[:40]).as_dict()] for name in unknown[:10]}
            )

    def perform_content_negotiation(self, request, force=False):
        # An empty ?format= names no format: 404, as an unknown one (DRF would ignore it).
        if not force and request.query_params.get(api_settings.URL_FORMAT_OVERRIDE) == "":
            raise NotFound()
        return super().perform_content_negotiation(request, force)


class TokenView(APIView):
    """POST /api/v1/auth/token — client_credentials with a private_key_jwt assertion (RFC 7523)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [TokenEndpointThrottle]
    parser_classes = [FormParser]
    renderer_classes = [JSONRenderer]

    FIELDS = ("grant_type", "client_assertion_type", "client_assertion", "scope", "client_id")

    def get_exception_handler(self):
        return errors.api_exception_handler

    def post(self, request):
        if request.content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise errors.TOKEN_REQUEST_NOT_FORM()
        if request.META.get("HTTP_AUTHORIZATION"):
            raise errors.TOKEN_REQUEST_TWO_CLIENT_AUTHS()
        params = {}
        for name in self.FIELDS:
            values = request.data.getlist(name)
            if len(values) > 1:
                raise errors.TOKEN_REQUEST_PARAMETER_REPEATED(name=name)
            params[name] = values[0] if values else None
        issued = do_grant_token(
            grant_type=params["grant_type"],
            client_assertion_type=params["client_assertion_type"],
            client_assertion=params["client_assertion"],
            scope=params["scope"],
            client_id=params["client_id"],
            audience=token_audience(request),
        )
        return Response(issued.as_response(), headers=NO_STORE)


class WhoAmIView(ApiView):
    """GET /api/v1/whoami — which client and institution this token speaks for, with its scopes."""

    def get(self, request):
        access = request.auth
        return Response(
            {
                "institution_code": access.institution_code,
                "client_id": access.client_id,
                "scopes": sorted(access.scopes),
                "expires_at": presenters.iso(access.expires_at),
            }
        )
