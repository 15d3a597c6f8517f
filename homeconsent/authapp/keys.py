"""The service's own client key for private_key_jwt (ES256), and the JWKS the provider fetches.

The key is made on first use and kept in settings.AUTH_APP_CLIENT_KEY_FILE (mode 0600), never in the
repository; its public half is published at /authapp/jwks.json.
"""

import os
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from joserfc.jwk import ECKey


@lru_cache(maxsize=4)
def _load(path: str) -> ECKey:
    file = Path(path)
    if not file.exists():
        private = ec.generate_private_key(ec.SECP256R1())
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        os.replace(temporary, file)
    key = ECKey.import_key(file.read_bytes())
    key.ensure_kid()
    return key


def client_key() -> ECKey:
    return _load(str(settings.AUTH_APP_CLIENT_KEY_FILE))


def client_jwks() -> dict:
    public = client_key().as_dict(private=False)
    return {"keys": [{**public, "use": "sig", "alg": "ES256"}]}
