"""Secrets in URL paths never reach a log: console enrolment links and telehealth session ids.

A staff member's one-time enrolment link (/console/enrol/<token>/) sets the account's password, and a
telehealth app's consent session (/consent/s/<session id>/...) is what the patient's link opens; a
log line with either would let a reader of the logs take the account or the session. Their path
segment is replaced by "[redacted]" in every log record that passes RedactSecrets (settings.LOGGING:
the console handler, django.request, django.server, uvicorn.access) and in the access log of the
ASGI server started with `python -m homeconsent.serve` (daphne, whose access log is not Python logging).
"""

import logging
import re

REDACTED = "[redacted]"
SECRET_PATHS = [
    re.compile(r"(/console/enrol/)(?!totp/)[^/?#\s\"']+"),
    re.compile(r"(/consent/s/)[^/?#\s\"']+"),
]


def redact(text: str) -> str:
    for pattern in SECRET_PATHS:
        text = pattern.sub(r"\g<1>" + REDACTED, text)
    return text


def _redacted(value):
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrites the message and its string arguments; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redacted(value) for key, value in record.args.items()}
        return True
