"""`python -m homeconsent.serve [daphne options] homeconsent.asgi:application`: daphne, with its access
log passed through homeconsent.logredact so enrolment tokens and session ids never reach it."""

from daphne import cli
from daphne.access import AccessLogGenerator

from homeconsent.logredact import redact


class RedactedAccessLog(AccessLogGenerator):
    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None):
        super().write_entry(host, date, redact(request), status=status, length=length, ident=ident, user=user)


def main():
    cli.AccessLogGenerator = RedactedAccessLog  # the one the command line builds its access log with
    cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
