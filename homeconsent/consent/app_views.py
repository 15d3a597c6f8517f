"""The app route's shared pages: the provider's callback, its refusal page, and this service's JWKS.

Each page that offers the app route (consent flows, inquiry, portal sign-in and cancellation) starts
it with proof.begin_with_app and finishes in its own view with proof.answer_with_app; between them the
provider sends the browser here (one redirect URI for the whole service).
"""

from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from homeconsent import csp
from homeconsent.authapp.keys import client_jwks
from homeconsent.authapp.relying_party import AppRefusal

from . import proof


def app_problem(request, refused: AppRefusal, status=403):
    """A refusal of the app route, with its code and the ways out: the card reader, or start again."""
    response = render(
        request,
        "consent/app_problem.html",
        {
            "message": refused.error.message((translation.get_language() or "ja")[:2]),
            "code": refused.error.code,
            "back_url": refused.back_url or "/",
        },
        status=status,
    )
    response["Content-Security-Policy"] = csp.policy()
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "same-origin"
    return response


@never_cache
@require_GET
def app_callback(request):
    try:
        return redirect(proof.finish_with_app(request))
    except AppRefusal as refused:
        return app_problem(request, refused)


@require_GET
def client_jwks_view(request):
    """The service's public key for private_key_jwt: the provider verifies our token requests with it."""
    response = JsonResponse(client_jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response
