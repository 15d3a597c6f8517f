"""revoke_api_client: revoke an API client; its tokens stop working at their next request."""

from django.core.management.base import BaseCommand, CommandError

from clinicapi.auth import do_revoke_client
from clinicapi.models import ApiClient


class Command(BaseCommand):
    help = "Revoke an API client and every access token it holds."

    def add_arguments(self, parser):
        parser.add_argument("client_id")

    def handle(self, *args, client_id, **options):
        client = ApiClient.objects.filter(client_id=client_id).first()
        if client is None:
            raise CommandError(f"クライアント {client_id} は登録されていません / no client {client_id}")
        client = do_revoke_client(client, by="manage.py revoke_api_client")
        self.stdout.write(f"revoked {client.client_id} at {client.revoked_at.isoformat()}")
