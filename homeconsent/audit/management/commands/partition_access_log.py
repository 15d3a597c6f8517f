"""Keep the access log's months: partitions ahead, seals of ended months, retention."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from homeconsent.audit import checkpoints, months, partitions, seals
from homeconsent.audit.models import AccessEvent
from homeconsent.errors import HomeConsentError


class Command(BaseCommand):
    help = (
        "Create the access log's month partitions ahead (PostgreSQL) and drain the DEFAULT partition, "
        "seal every ended month, and with --expire drop the months whose retention "
        "(AUDIT_RETENTION_YEARS) is over once each is checked against its seal. Run it daily."
    )

    def add_arguments(self, parser):
        parser.add_argument("--ahead", type=int, default=None, help="default: AUDIT_PARTITION_MONTHS_AHEAD")
        parser.add_argument("--checkpoint-dir", type=Path, default=None, help="default: AUDIT_CHECKPOINT_DIR")
        parser.add_argument(
            "--expire", action="store_true", help="detach and drop expired, sealed and verified months"
        )

    def handle(self, *args, ahead, checkpoint_dir, expire, **options):
        created = partitions.ensure_partitions(ahead=ahead)
        for month in created:
            self.stdout.write(f"partition {partitions.partition_name(month)} created")
        try:
            sealed = seals.seal_ended_months(directory=checkpoint_dir)
        except (HomeConsentError, ValueError) as error:
            raise CommandError(str(error)) from error
        for seal in sealed:
            self.stdout.write(
                f"{months.label(seal.month)} sealed: {sum(e['rows'] for e in seal.payload['chains'])} events "
                f"in {len(seal.payload['chains'])} chains"
            )
        if expire:
            self._expire()

    def _expire(self):
        using = router.db_for_write(AccessEvent)
        connection = connections[using]
        if not partitions.is_partitioned(connection):
            raise CommandError("--expire needs the partitioned log (PostgreSQL)")
        for month, name in sorted(partitions.month_partitions(connection).items()):
            if not months.expired(month):
                break
            key = checkpoints.load_signing_key()
            if key is None:
                raise CommandError("no signing key to check the seals with (AUDIT_SIGNING_KEY_PATH)")
            check = seals.verify_month(month, key.public_key(), using=using)
            if not check.ok:
                raise CommandError(f"{months.label(month)} is not dropped: {check.broken}")
            partitions.drop_month(month, using=using)
            self.stdout.write(
                f"{months.label(month)} expired: {check.total} events checked against its seal, {name} dropped"
            )
