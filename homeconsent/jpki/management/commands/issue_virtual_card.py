"""Issue a virtual My Number card for a person, registered for health-insurance use."""

from django.core.management.base import BaseCommand, CommandError

from homeconsent.jpki.card import valid_pin
from homeconsent.jpki.pki import issue_virtual_card
from homeconsent.registry.models import Person


class Command(BaseCommand):
    help = "Issue a virtual card (test PKI certificate, card file, card-certificate linkage); prints the card file."

    def add_arguments(self, parser):
        parser.add_argument("--person-id", type=int, required=True)
        parser.add_argument("--pin", required=True, help="the card's 4-digit PIN (kept on the card only)")
        parser.add_argument("--out", help="card file to write (default: a new file in JPKI_CARDS_DIR)")

    def handle(self, *args, person_id, pin, out, **options):
        if not valid_pin(pin):
            raise CommandError("the PIN must be 4 digits")
        try:
            person = Person.objects.get(pk=person_id)
        except Person.DoesNotExist:
            raise CommandError(f"no person with id {person_id}") from None
        try:
            issued = issue_virtual_card(person, pin, path=out)
        except FileExistsError as error:
            raise CommandError(f"{error} exists already") from None
        self.stdout.write(str(issued.path))
