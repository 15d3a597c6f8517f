"""Reference client of the HomeConsent institutions' API, for institution systems and shells.

Uses only the standard library and `cryptography`: an institution can copy this package (or install
it) without Django. `python -m clinicapi.client --help` lists the commands; `client.Client` is the
same thing as a library:

    from clinicapi.client import Client, load_private_key
    api = Client("https://homeconsent.example/api/v1", client_id, load_private_key("key/private_key.pem"))
    api.get("/patients")
"""

from .core import ApiError, Client, generate_key, jwk_thumbprint, load_private_key, public_jwk, sign_assertion

__all__ = [
    "ApiError",
    "Client",
    "generate_key",
    "jwk_thumbprint",
    "load_private_key",
    "public_jwk",
    "sign_assertion",
]
