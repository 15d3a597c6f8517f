"""Operator eligibility check: `manage.py check_eligibility --insurer-number N --symbol S --number N
--branch BB --birth-date YYYY-MM-DD [--on YYYY-MM-DD]`. Prints JSON with a top-level `validity`; every
lookup is written to the access log as an operator read, in the same transaction."""

import getpass
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.registry.eligibility import Validity, resolve_by_keys
from homeconsent.registry.validation import RegistryValidationError

OUTCOMES = {
    Validity.VALID: "ok",
    Validity.LOST: "ok",
    Validity.LOST_WITH_NEWER: "ok",
    Validity.NONE: "not_found",
    Validity.SEVERAL: "not_found",  # nothing is shown when several persons match
}


class Command(BaseCommand):
    help = "Resolve eligibility from insurance-card search keys and print the result as JSON."

    def add_arguments(self, parser):
        parser.add_argument("--insurer-number", required=True)
        parser.add_argument("--symbol", default="")
        parser.add_argument("--number", required=True)
        parser.add_argument("--branch", required=True)
        parser.add_argument("--birth-date", required=True)
        parser.add_argument("--on", help="the day to check (YYYY-MM-DD; default today)")
        parser.add_argument("--operator", help="who asks (default: the OS user)")

    def handle(self, *args, **o):
        operator = o["operator"] or getpass.getuser()
        try:
            with transaction.atomic():
                result = resolve_by_keys(
                    o["insurer_number"], o["symbol"], o["number"], o["branch"], o["birth_date"], o["on"]
                )
                record_access(
                    actor_type=ActorType.OPERATOR,
                    actor_id=operator,
                    person=result.person,
                    items=["qualification"],
                    basis=Basis.OPERATOR,
                    outcome=OUTCOMES[result.validity],
                    detail={
                        "action": Action.CHECK_ELIGIBILITY,
                        "validity": int(result.validity),
                        "on": result.on.isoformat(),
                    },
                )
        except RegistryValidationError as exc:
            self.stdout.write(
                json.dumps({"errors": [e.as_dict() for e in exc.errors]}, ensure_ascii=False, indent=2)
            )
            raise CommandError("invalid search keys", returncode=2) from exc
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
