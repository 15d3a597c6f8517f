"""Re-verifying a consent's stored proof offline (manage.py verify_consent_evidence ID).

Reader route: the card's signature over the challenge message, with the certificate chain to the
trusted roots, checked as of the moment the consent was given (a certificate that has expired since
still proves what it signed then). App route: the ID token's signature with the provider key stored
beside it, its issuer and audience, and that its nonce is the one derived from the consent's challenge
(so the token was made for exactly this consent's terms).
"""

import json
from dataclasses import dataclass

from django.conf import settings
from joserfc import jws
from joserfc.errors import JoseError

from homeconsent.authapp.relying_party import verify_stored
from homeconsent.errors import HomeConsentError
from homeconsent.jpki.verification import verify_signed_message

from .models import Consent
from .proof import Authenticator, nonce_for


def _claimed_issuer(id_token: str) -> str:
    """The iss the token names (unverified here; verify_stored then checks the signature over it)."""
    try:
        return json.loads(jws.extract_compact(id_token.encode()).payload)["iss"]
    except (JoseError, ValueError, KeyError, TypeError):
        return ""


@dataclass(frozen=True)
class EvidenceCheck:
    ok: bool
    authenticator: str
    says: str  # what the evidence proves, or why it does not


def check_evidence(consent: Consent) -> EvidenceCheck:
    challenge = consent.challenge
    if challenge is None:
        return EvidenceCheck(False, consent.authenticator, "no challenge is stored with this consent")
    terms = f"purpose {challenge.purpose}, institution {consent.institution.code}, kind {challenge.kind}, items {challenge.items}, details {challenge.details}"
    if consent.authenticator == Authenticator.APP:
        try:
            claims = verify_stored(
                consent.id_token,
                consent.provider_key,
                issuer=_claimed_issuer(consent.id_token),
                audience=settings.AUTH_APP_CLIENT_ID,
            )
        except (JoseError, ValueError, KeyError) as error:
            return EvidenceCheck(
                False, "app", f"the ID token does not verify with the stored provider key: {error}"
            )
        if claims.get("nonce") != nonce_for(challenge):
            return EvidenceCheck(
                False, "app", "the ID token's nonce is not the one derived from this consent's challenge"
            )
        return EvidenceCheck(
            True,
            "app",
            f"the authentication app at {claims['iss']} proved subject {claims['sub']} (card and PIN) for exactly: {terms}",
        )
    if consent.card_certificate is None or not consent.signature:
        return EvidenceCheck(False, "reader", "no card certificate or signature is stored")
    try:
        verify_signed_message(
            challenge.message(),
            bytes(consent.card_certificate.certificate_der),
            consent.signature_bytes,
            now=consent.given_at,
        )
    except HomeConsentError as error:
        return EvidenceCheck(False, "reader", f"the card signature does not verify: {error.code}")
    return EvidenceCheck(
        True,
        "reader",
        f"the card with certificate serial {consent.card_certificate.serial} ({consent.card_certificate.issuer}) "
        f"signed, with its PIN, exactly: {terms}",
    )
