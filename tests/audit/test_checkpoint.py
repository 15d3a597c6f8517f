import io
import json
import stat

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import CommandError, call_command

from homeconsent.audit.canonical import event_hash
from homeconsent.audit.models import AccessEvent, Checkpoint
from homeconsent.audit.services import record_access

from .conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(make_person):
    people = [make_person() for _ in range(3)]
    for _ in range(3):
        for person in people:
            record_access(
                actor_type="patient",
                actor_id=f"person-{person.pk}",
                person=person,
                basis="self",
                items=["qualification"],
            )
    return people


def checkpoint():
    out = io.StringIO()
    call_command("checkpoint_access_log", stdout=out)
    return out.getvalue()


def verify():
    out = io.StringIO()
    call_command("verify_access_log", stdout=out)
    return out.getvalue()


def checkpoint_file(settings):
    (path,) = sorted(settings.AUDIT_CHECKPOINT_DIR.glob("checkpoint-*.json"))
    return path


def test_the_checkpoint_signs_every_chain_head_with_a_private_key_file(log, settings):
    # when a checkpoint is written
    assert checkpoint().startswith(f"checkpoint {Checkpoint.objects.get().pk}: 3 chain heads, 9 events")
    # then the key was generated, readable by its owner only
    key_path = settings.AUDIT_SIGNING_KEY_PATH
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # and the file names every head, signed over the canonical payload (checked here with the
    # published public key, independently of the project's checking code)
    document = json.loads(checkpoint_file(settings).read_text())
    heads = {(h["chain"], h["seq"], h["hash"]) for h in document["payload"]["heads"]}
    expected = {(e.chain, e.seq, e.hash) for e in AccessEvent.objects.filter(seq=3)}
    assert heads == expected
    public_key = serialization.load_pem_public_key(
        (settings.AUDIT_CHECKPOINT_DIR / "signing-key.pub.pem").read_bytes()
    )
    signed = json.dumps(
        document["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    public_key.verify(bytes.fromhex(document["signature"]), signed)
    document["payload"]["heads"][0]["seq"] = 2
    forged = json.dumps(
        document["payload"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    with pytest.raises(InvalidSignature):
        public_key.verify(bytes.fromhex(document["signature"]), forged)
    # and the table holds the same checkpoint
    assert Checkpoint.objects.get().signature == document["signature"]


def test_verify_checks_the_latest_checkpoint(log):
    checkpoint()
    record_access(actor_type="system", actor_id="nightly", basis="operator")
    checkpoint()
    latest = Checkpoint.objects.latest("id")
    output = verify()
    assert output.startswith("OK: 10 events")
    chains = len(set(AccessEvent.objects.values_list("chain", flat=True)))
    assert (
        f"checkpoint {latest.pk} (table) of {latest.payload['created_at']}: signature valid, {chains} heads"
        in output
    )


def test_a_tampered_checkpoint_file_fails(log, settings):
    checkpoint()
    path = checkpoint_file(settings)
    document = json.loads(path.read_text())
    document["payload"]["heads"][0]["seq"] -= 1
    path.write_text(json.dumps(document))
    with pytest.raises(CommandError) as broken:
        verify()
    assert "file" in str(broken.value) and "signature does not verify" in str(broken.value)


def test_a_tampered_checkpoint_row_fails(log):
    checkpoint()
    stored = Checkpoint.objects.get()
    payload = dict(stored.payload, created_at="2000-01-01T00:00:00.000000+00:00")
    tamper("UPDATE audit_checkpoint SET payload = %s WHERE id = %s", [json.dumps(payload), stored.pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"checkpoint {stored.pk} (table): signature does not verify" in str(broken.value)


def test_a_checkpoint_signed_by_another_key_fails(log, settings):
    checkpoint()
    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings.AUDIT_SIGNING_KEY_PATH.write_bytes(other)
    with pytest.raises(CommandError) as broken:
        verify()
    assert "signed by a key other than the trusted signing key" in str(broken.value)


def test_a_truncated_chain_is_caught_by_the_checkpoint(log):
    # given a checkpoint, then the last row of a chain removed and its head wound back to match
    checkpoint()
    last = AccessEvent.objects.filter(person=log[0]).latest("seq")
    tamper("DELETE FROM audit_accessevent WHERE id = %s", [last.pk])
    tamper(
        "UPDATE audit_chainhead SET seq = %s, head_hash = %s WHERE chain = %s",
        [last.seq - 1, last.prev_hash, last.chain],
    )
    # then the chain itself looks whole, but the signed head is missing
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"chain {last.chain} seq {last.seq} is signed but missing from the log" in str(broken.value)


def test_a_consistently_rewritten_chain_is_caught_by_the_checkpoint(log):
    # given a checkpoint, then the last row rewritten with a recomputed hash and head
    checkpoint()
    last = AccessEvent.objects.filter(person=log[1]).latest("seq")
    values = dict(AccessEvent.objects.filter(pk=last.pk).values().get(), outcome="refused")
    forged = event_hash(values)
    tamper("UPDATE audit_accessevent SET outcome = 'refused', hash = %s WHERE id = %s", [forged, last.pk])
    tamper("UPDATE audit_chainhead SET head_hash = %s WHERE chain = %s", [forged, last.chain])
    with pytest.raises(CommandError) as broken:
        verify()
    assert f"chain {last.chain} seq {last.seq} id {last.pk} has hash" in str(broken.value)


def test_removed_checkpoint_rows_are_caught_by_the_file(log):
    checkpoint()
    tamper("DELETE FROM audit_checkpoint")
    with pytest.raises(CommandError) as broken:
        verify()
    assert "does not match the checkpoint table" in str(broken.value)


def test_checkpoints_need_a_trusted_key(log, settings):
    checkpoint()
    settings.AUDIT_SIGNING_KEY_PATH.unlink()
    with pytest.raises(CommandError) as broken:
        verify()
    assert "pass --public-key" in str(broken.value)
    # an auditor passes the published public key instead
    out = io.StringIO()
    call_command(
        "verify_access_log", public_key=settings.AUDIT_CHECKPOINT_DIR / "signing-key.pub.pem", stdout=out
    )
    assert out.getvalue().startswith("OK: 9 events")
