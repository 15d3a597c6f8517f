"""Write an Ed25519-signed checkpoint of every access-log chain head."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from homeconsent.audit.checkpoints import write_checkpoint
from homeconsent.errors import HomeConsentError


class Command(BaseCommand):
    help = (
        "Sign every chain head (chain, seq, hash, time) with the access-log key, store the checkpoint "
        "and write it as JSON under AUDIT_CHECKPOINT_DIR. Run it periodically (e.g. from cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--checkpoint-dir", type=Path, default=None, help="default: AUDIT_CHECKPOINT_DIR")

    def handle(self, *args, checkpoint_dir, **options):
        try:
            checkpoint, path = write_checkpoint(checkpoint_dir)
        except HomeConsentError as error:
            raise CommandError(str(error)) from error
        heads = checkpoint.payload["heads"]
        self.stdout.write(
            f"checkpoint {checkpoint.pk}: {len(heads)} chain heads, {sum(h['seq'] for h in heads)} events, "
            f"written to {path}"
        )
