"""Verify the access log: hashes, links, sequences, heads and the latest signed checkpoint."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from homeconsent.audit.verification import verify_log


class Command(BaseCommand):
    help = (
        "Recompute every access-log hash and link, check sequences, chain heads, month seals and the "
        "latest signed checkpoint. Prints OK with counts per chain, or the first broken row and exits non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=None, help="database alias (default: the router's choice)")
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows fetched per round trip")
        parser.add_argument(
            "--public-key",
            type=Path,
            default=None,
            help="PEM Ed25519 key trusted for checkpoints (default: the configured signing key)",
        )
        parser.add_argument("--checkpoint-dir", type=Path, default=None, help="default: AUDIT_CHECKPOINT_DIR")

    def handle(self, *args, database, chunk_size, public_key, checkpoint_dir, **options):
        report = verify_log(
            using=database, chunk_size=chunk_size, public_key_path=public_key, checkpoint_dir=checkpoint_dir
        )
        if not report.ok:
            raise CommandError(str(report.broken))
        self.stdout.write(f"OK: {report.total} events in {len(report.chains)} chains")
        for chain, summary in sorted(report.chains.items()):
            self.stdout.write(
                f"  chain {chain:3d}: {summary.count} events, head seq {summary.head_seq} {summary.head_hash[:16]}…"
                + (f" ({summary.expired} expired, anchored by seals)" if summary.expired else "")
            )
        for note in report.checkpoint_notes:
            self.stdout.write(f"  {note}")
