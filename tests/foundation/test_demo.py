"""The demo command prepares data, cards and accounts, and prints what a person needs to try it."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from clinicapi.models import ApiClient
from homeconsent.registry.models import CardCertificate, Person


@pytest.mark.django_db
def test_demo_prints_urls_cards_and_pins_and_the_cards_are_registered():
    # given an empty registry
    out = StringIO()
    # when the demo prepares itself
    call_command("demo", no_server=True, persons=20, stdout=out)
    # then it seeded persons, printed the site and bridge and a PIN per card
    text = out.getvalue()
    assert Person.objects.count() >= 20
    assert "http://localhost:8000/" in text and "reader bridge: ws://127.0.0.1:" in text
    assert "/portal/" in text and "/api/v1/docs" in text
    # and an entry URL per demo institution that opens its entry page
    entry_urls = [line.split()[1] for line in text.splitlines() if line.strip().startswith("entry:")]
    assert len(entry_urls) == 3
    page = Client().get(entry_urls[0].removeprefix("http://localhost:8000"))
    assert page.status_code == 200
    # and a one-use console enrolment link per demo institution that opens the enrolment page
    console_links = [line.split()[1] for line in text.splitlines() if line.strip().startswith("console:")]
    assert len(console_links) == 3
    assert Client().get(console_links[0].removeprefix("http://localhost:8000")).status_code == 200
    # and a registered clinic system with the reference client's command line
    assert "-m clinicapi.client patients --base http://localhost:8000/api/v1 --client-id " in text
    assert ApiClient.objects.filter(name="demo clinic system", revoked_at__isnull=True).count() == 1
    card_lines = [line for line in text.splitlines() if line.strip().startswith("[") and "PIN" in line]
    assert len(card_lines) == 5
    # and, with no keyboard (pytest reads no terminal), how to place another card without one
    assert "start again with --card N" in text and "type the number and Enter" not in text
    # and every demo card's certificate is linked to its person for health-insurance use
    linked = CardCertificate.objects.filter(registered_for_insurance_use=True, status="active")
    assert linked.count() == 5
    for line in card_lines:
        name = line.split("]")[1].split("PIN")[0].strip()
        assert linked.filter(person__name=name).exists()


@pytest.mark.django_db
def test_demo_is_idempotent_and_keeps_its_cards():
    call_command("demo", no_server=True, persons=10, stdout=StringIO())
    first = set(CardCertificate.objects.values_list("serial", flat=True))
    out = StringIO()
    call_command("demo", no_server=True, persons=10, stdout=out)
    assert set(CardCertificate.objects.values_list("serial", flat=True)) == first
    assert "password shown on first run" in out.getvalue()
