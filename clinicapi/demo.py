"""The institution side's part of `manage.py demo`: a clinic system of the demo clinic, registered
once with the scopes of the commands printed (the reference client asks for each command's scope
itself), its key kept in var/. Reached through ClinicapiConfig.demo_lines, so the site core that
runs the demo imports nothing of clinicapi."""

import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from .auth import do_register_client, do_revoke_client
from .models import ApiClient
from .patients import patient_id_for

DEMO_CLIENT_SCOPES = ("consent.read", "qualification.read", "medication.read")


def demo_lines(site, clinic, patient: dict, card: int, *, python=None, show_path=str) -> list[str]:
    """The lines the demo prints for a clinic system of `clinic`: how to list its consented
    patients, and how to read `patient` (the demo person on card number `card`) once he consents."""
    folder = settings.VAR_DIR / "demo-api-client"
    index = folder / "client.json"
    if index.exists() and not _keep_demo_client(json.loads(index.read_text())["client_id"]):
        index.unlink()  # an earlier demo's client without these scopes (or revoked): register anew
    if not index.exists():
        key = ec.generate_private_key(ec.SECP384R1())
        folder.mkdir(parents=True, exist_ok=True)
        key_path = folder / "private_key.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        key_path.chmod(0o600)
        public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
        client = do_register_client(
            clinic, "demo clinic system", public_pem, list(DEMO_CLIENT_SCOPES), by="operator:demo"
        )
        index.write_text(json.dumps({"client_id": client.client_id, "institution": clinic.code}))
    client_id = json.loads(index.read_text())["client_id"]
    python = python or sys.executable
    connection_flags = (
        f"--base {site}/api/v1 --client-id {client_id} --key {show_path(folder / 'private_key.pem')}"
    )
    # A patient id is the person's at this clinic, whatever the consent: known before he consents.
    patient_id = patient_id_for(clinic.code, patient["person_id"])
    lines = [
        f"  clinic system: {python} -m clinicapi.client patients {connection_flags}",
        f"    once {patient['name']} (card [{card}]) consents at {clinic.name}'s entry above "
        "(qualification and medication):",
    ]
    for command in (f"eligibility {patient_id}", f"medication {patient_id}"):
        lines.append(f"                 {python} -m clinicapi.client {command} {connection_flags}")
    return lines


def _keep_demo_client(client_id) -> bool:
    """Whether the registered demo client serves the printed commands; one lacking their scopes
    (registered by an earlier demo) is revoked."""
    client = ApiClient.objects.filter(client_id=client_id, revoked_at__isnull=True).first()
    if client is not None and not set(DEMO_CLIENT_SCOPES) <= set(client.scopes):
        do_revoke_client(client, by="operator:demo")
        return False
    return client is not None
