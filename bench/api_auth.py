# Token grants and bearer-token checks per second on the configured database back end:
#   .venv/bin/python bench/api_auth.py --count 300
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/homeconsent .venv/bin/python bench/api_auth.py
# Measures, single-threaded: (1) do_grant_token (parse, signature check, claims, jti insert, token insert)
# for RS384, ES384 and ES256 assertions; (2) authenticate_token (the per-request check of a bearer
# token); (3) whole GET /api/v1/whoami requests through Django's test client (middleware, DRF,
# throttle, JSON). Assertions are signed with PyJWT (the `test` extra) outside the timed part.
# Runs in a scratch database (SQLite: a temporary file; PostgreSQL: bench_api_<pid>) dropped after.
"""Benchmark: API token grants and bearer-token checks per second."""

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HOMECONSENT_VAR_DIR", tempfile.mkdtemp(prefix="homeconsent-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "homeconsent.settings")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="operations per measurement")
    options = parser.parse_args()

    import django

    django.setup()
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    db = settings.DATABASES["default"]
    scratch = tempfile.mkdtemp(prefix="bench-api-")
    db.setdefault("TEST", {})["NAME"] = (
        os.path.join(scratch, "bench.sqlite3")
        if db["ENGINE"].endswith("sqlite3")
        else f"bench_api_{os.getpid()}"
    )
    settings.CLINICAPI_THROTTLE_RATES = {"client": "1000000/min", "token": "1000000/min"}
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from clinicapi.auth import (
            authenticate_token,
            do_grant_token,
            do_issue_access_token,
            do_register_client,
        )
        from homeconsent.registry.models import Institution

        institution = Institution.objects.create(code="0110113719", name="bench")
        keys = {
            "RS384": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES384": ec.generate_private_key(ec.SECP384R1()),
            "ES256": ec.generate_private_key(ec.SECP256R1()),
        }
        jwks = {"keys": []}
        for alg, key in keys.items():
            algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
            jwks["keys"].append({**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": alg})
        client = do_register_client(institution, "bench", jwks, ["qualification.read"])
        audience = "http://testserver/api/v1/auth/token"

        print(f"database: {connection.vendor}, {options.count} operations each")
        for alg, key in keys.items():
            now = int(time.time())
            assertions = [
                jwt.encode(
                    {
                        "iss": client.client_id,
                        "sub": client.client_id,
                        "aud": audience,
                        "exp": now + 240,
                        "jti": str(uuid.uuid4()),
                    },
                    key,
                    algorithm=alg,
                    headers={"kid": alg},
                )
                for _ in range(options.count)
            ]
            start = time.perf_counter()
            for signed in assertions:
                do_grant_token(
                    grant_type="client_credentials",
                    client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    client_assertion=signed,
                    scope="qualification.read",
                    audience=audience,
                )
            elapsed = time.perf_counter() - start
            print(
                f"do_grant_token {alg}: {options.count / elapsed:8.0f}/s  ({elapsed / options.count * 1000:.2f} ms each)"
            )

        token, _ = do_issue_access_token(client, ["qualification.read"])
        start = time.perf_counter()
        for _ in range(options.count):
            authenticate_token(token)
        elapsed = time.perf_counter() - start
        print(
            f"authenticate_token: {options.count / elapsed:8.0f}/s  ({elapsed / options.count * 1000:.2f} ms each)"
        )

        http = Client()
        start = time.perf_counter()
        for _ in range(options.count):
            response = http.get("/api/v1/whoami", HTTP_AUTHORIZATION=f"Bearer {token}")
            assert response.status_code == 200, response.content
        elapsed = time.perf_counter() - start
        print(
            f"GET /api/v1/whoami: {options.count / elapsed:8.0f}/s  ({elapsed / options.count * 1000:.2f} ms each)"
        )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
