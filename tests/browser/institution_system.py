"""An institution's own system calling the real API of the live server over HTTP: a client registered
with an EC key, a private_key_jwt token from the token URL, then bearer reads."""

import json
import time
import uuid
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from clinicapi.auth import do_register_client
from clinicapi.patients import patient_id_for


class InstitutionSystem:
    """The institution's own system on the real API: private_key_jwt token, then bearer reads."""

    def __init__(self, base, institution, scopes=("medication.read",)):
        self.base, self.institution = base, institution
        self.key = ec.generate_private_key(ec.SECP256R1())
        jwk = {**jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": "k1"}
        self.client = do_register_client(institution, "電子カルテ", {"keys": [jwk]}, list(scopes))
        now = int(time.time())
        assertion = jwt.encode(
            {
                "iss": self.client.client_id,
                "sub": self.client.client_id,
                "aud": base + "/api/v1/auth/token",
                "exp": now + 240,
                "iat": now,
                "jti": str(uuid.uuid4()),
            },
            self.key,
            algorithm="ES256",
            headers={"kid": "k1"},
        )
        body = urlencode(
            {
                "grant_type": "client_credentials",
                "client_assertion": assertion,
                "scope": " ".join(scopes),
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            }
        )
        with urlopen(
            Request(base + "/api/v1/auth/token", body.encode(), method="POST"), timeout=10
        ) as response:
            self.token = json.load(response)["access_token"]

    def patient_id(self, person) -> str:
        return patient_id_for(self.institution.code, person.pk)

    def get(self, path):
        """(status, JSON body) of a GET under /api/v1/."""
        request = Request(f"{self.base}/api/v1/{path}", headers={"Authorization": f"Bearer {self.token}"})
        try:
            with urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def read_medication(self, person):
        return self.get(f"patients/{self.patient_id(person)}/medication")
