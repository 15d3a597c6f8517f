"""Deploy check: production never trusts the stand-in provider as the authentication app."""

from django.conf import settings
from django.core import checks

from .issuers import is_standin


@checks.register(checks.Tags.security, deploy=True)
def standin_issuer_refused(app_configs, **kwargs):
    issuer = settings.AUTH_APP_ISSUER
    if not issuer:
        return []
    problems = []
    if is_standin(issuer):
        problems.append(
            checks.Error(
                "HOMECONSENT_AUTH_APP_ISSUER names the stand-in provider (or a loopback address).",
                hint="Set it to the Digital Agency's issuer under the contract, or leave it empty to turn the app route off.",
                id="authapp.E001",
            )
        )
    if not issuer.startswith("https://"):
        problems.append(checks.Error("HOMECONSENT_AUTH_APP_ISSUER must be an https URL.", id="authapp.E002"))
    return problems
