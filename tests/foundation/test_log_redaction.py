"""Console enrolment tokens and telehealth session ids stay out of the logs (issue 13, item 6): the
Django loggers redact them, and the ASGI server the project runs (python -m homeconsent.serve, a
real daphne process here) writes its access log without them."""

import logging
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from homeconsent.logredact import redact

ROOT = Path(__file__).resolve().parents[2]
ENROL_TOKEN = "Xq9enrolSECRETtokenVALUE0123456789abcdefghi"
SESSION_ID = "sessSECRETidVALUE0123456789"


@pytest.mark.parametrize(
    "line,kept",
    [
        (f"GET /console/enrol/{ENROL_TOKEN}/ HTTP/1.1", "/console/enrol/[redacted]/"),
        (f"Not Found: /console/enrol/{ENROL_TOKEN}/", "Not Found: /console/enrol/[redacted]/"),
        (f"/consent/s/{SESSION_ID}/return?x=1", "/consent/s/[redacted]/return?x=1"),
        (f"/consent/s/{SESSION_ID}", "/consent/s/[redacted]"),
        ("/console/enrol/totp/", "/console/enrol/totp/"),  # the step without a token stays readable
    ],
)
def test_tokens_in_paths_are_redacted(line, kept):
    assert kept in redact(line) and ENROL_TOKEN not in redact(line) and SESSION_ID not in redact(line)


def test_djangos_request_log_never_names_the_token(client, db, caplog):
    # when an enrolment link and a telehealth session link are opened (unknown ones: logged as refusals)
    with caplog.at_level(logging.INFO):
        client.get(f"/console/enrol/{ENROL_TOKEN}/")
        client.get(f"/consent/s/{SESSION_ID}/")
        logging.getLogger("django.request").warning("Not Found: %s", f"/console/enrol/{ENROL_TOKEN}/")
    # then no log record holds either secret
    assert caplog.records
    assert ENROL_TOKEN not in caplog.text and SESSION_ID not in caplog.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_servers_access_log_never_names_the_token(tmp_path):
    # given the project's ASGI server as its own process, on a fresh database, access log on stdout
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "homeconsent.settings",
        "HOMECONSENT_VAR_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True, timeout=300
    )
    port = _free_port()
    log = (tmp_path / "access.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeconsent.serve",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "homeconsent.asgi:application",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.1)
        # when the links are opened
        for path in (f"/console/enrol/{ENROL_TOKEN}/", f"/consent/s/{SESSION_ID}/"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30).read()
            except urllib.error.HTTPError:
                pass  # unknown links answer with an error page; what matters is the log
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    # then the access log shows both requests, without the secrets
    text = (tmp_path / "access.log").read_text()
    assert "/console/enrol/[redacted]/" in text and "/consent/s/[redacted]/" in text, text[-2000:]
    assert ENROL_TOKEN not in text and SESSION_ID not in text
