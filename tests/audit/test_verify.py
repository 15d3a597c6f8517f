import io
import json

import pytest
from django.core.management import CommandError, call_command

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access
from homeconsent.audit.verification import verify_log

from .conftest import tamper

pytestmark = pytest.mark.django_db


@pytest.fixture
def log(make_person):
    """Twelve events over three people (three chains) and one system event in chain 0."""
    people = [make_person() for _ in range(3)]
    for round_ in range(4):
        for person in people:
            record_access(
                actor_type="institution_client",
                actor_id="client-1",
                person=person,
                items=["qualification"],
                basis="consent",
                institution_code="1312345678",
                detail={"round": round_},
            )
    record_access(actor_type="system", actor_id="nightly", basis="operator")
    return people


def verify(**options):
    out = io.StringIO()
    call_command("verify_access_log", stdout=out, **options)
    return out.getvalue()


def middle_event(person):
    return AccessEvent.objects.get(person=person, seq=2)


def test_an_untouched_log_verifies_with_counts_per_chain(log):
    output = verify()
    assert output.startswith("OK: 13 events in ")
    for person in log:
        assert f"chain {person.pk % 4:3d}: " in output
    chains = {}
    for chain in AccessEvent.objects.values_list("chain", flat=True):
        chains[chain] = chains.get(chain, 0) + 1
    for chain, count in chains.items():
        assert f"chain {chain:3d}: {count} events, head seq {count} " in output
    assert "no checkpoint yet" in output


def test_verification_streams_in_small_chunks(log):
    report = verify_log(chunk_size=2)
    assert report.ok and report.total == 13


@pytest.mark.parametrize(
    "column, value",
    [
        ("items", json.dumps(["qualification", "medication"])),
        ("outcome", "refused"),
        ("actor_id", "someone-else"),
    ],
)
def test_a_row_edited_by_raw_sql_is_named(log, column, value):
    # given one row changed behind the application's back
    victim = middle_event(log[1])
    tamper(f"UPDATE audit_accessevent SET {column} = %s WHERE id = %s", [value, victim.pk])
    # when the log is verified, then that row is reported by chain, sequence and id
    with pytest.raises(CommandError) as broken:
        verify()
    assert str(broken.value).startswith(f"BROKEN chain {victim.chain} seq 2 id {victim.pk}: content_hash")


def test_a_row_deleted_by_raw_sql_breaks_the_sequence_at_the_next_row(log):
    victim = middle_event(log[0])
    following = AccessEvent.objects.get(chain=victim.chain, seq=3)
    tamper("DELETE FROM audit_accessevent WHERE id = %s", [victim.pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert str(broken.value).startswith(f"BROKEN chain {victim.chain} seq 3 id {following.pk}: sequence")


def test_a_relinked_row_is_caught(log):
    # renumbering the rest of the chain hides the gap, but not the broken link
    victim = middle_event(log[2])
    tamper("DELETE FROM audit_accessevent WHERE id = %s", [victim.pk])
    tamper("UPDATE audit_accessevent SET seq = seq - 1 WHERE chain = %s AND seq > 2", [victim.chain])
    tamper("UPDATE audit_chainhead SET seq = seq - 1 WHERE chain = %s", [victim.chain])
    moved = AccessEvent.objects.get(chain=victim.chain, seq=2)
    with pytest.raises(CommandError) as broken:
        verify()
    assert str(broken.value).startswith(f"BROKEN chain {victim.chain} seq 2 id {moved.pk}: prev_hash")


def test_removing_the_last_rows_is_caught_by_the_chain_head(log):
    last = AccessEvent.objects.filter(chain=log[0].pk % 4).latest("seq")
    tamper("DELETE FROM audit_accessevent WHERE id = %s", [last.pk])
    with pytest.raises(CommandError) as broken:
        verify()
    assert str(broken.value).startswith(f"BROKEN chain {last.chain} seq {last.seq}: head")
