"""Which issuers are the stand-in (read by the production settings: no Django imports here)."""

import urllib.parse

STANDIN_REALM = "/realms/standin"


def is_standin(issuer: str) -> bool:
    parts = urllib.parse.urlsplit(issuer)
    return parts.path.rstrip("/").endswith(STANDIN_REALM) or parts.hostname in (
        "127.0.0.1",
        "localhost",
        "::1",
    )
