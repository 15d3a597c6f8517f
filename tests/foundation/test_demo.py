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
    assert "password and TOTP secret shown on first run" in out.getvalue()


# --- the demo clinic system ----------------------------------------------------------------------------
# What the reference client asks for each command it is printed with (clinicapi/client/__main__.py).
COMMAND_SCOPE = {
    "patients": "consent.read",
    "eligibility": "qualification.read",
    "medication": "medication.read",
}


def printed_client_commands(text) -> list[list[str]]:
    return [
        line.split(" -m clinicapi.client ", 1)[1].split()
        for line in text.splitlines()
        if " -m clinicapi.client " in line
    ]


def api_path(argv) -> str:
    command, rest = argv[0], argv[1:]
    return "/api/v1/patients" if command == "patients" else f"/api/v1/patients/{rest[0]}/{command}"


@pytest.mark.django_db
def test_the_printed_clinic_commands_run_with_the_scopes_the_demo_client_has(settings):
    from urllib.parse import urlencode

    from clinicapi.client.__main__ import build_parser
    from clinicapi.client.core import load_private_key, sign_assertion
    from clinicapi.patients import patient_id_for

    # given the demo prepared
    out = StringIO()
    call_command("demo", no_server=True, persons=10, stdout=out)
    commands = printed_client_commands(out.getvalue())

    # then it prints the patients, eligibility and medication commands, for 鈴木 一郎 at the demo clinic
    assert [c[0] for c in commands] == ["patients", "eligibility", "medication"]
    for argv in commands:
        build_parser().parse_args(argv)  # each is a command line the reference client takes
    client = ApiClient.objects.get(name="demo clinic system", revoked_at__isnull=True)
    suzuki = Person.objects.filter(name="鈴木 一郎", qualifications__symbol="9999").distinct().get()
    assert commands[1][1] == commands[2][1] == patient_id_for(client.institution.code, suzuki.pk)
    # and the client holds the scope each command asks for, and no more
    assert set(client.scopes) == set(COMMAND_SCOPE.values())

    # and each command's token request and read pass (404 until he consents, never 403 for a scope)
    http = Client()
    for argv in commands:
        flags = dict(zip(argv, argv[1:]))
        key = load_private_key(flags["--key"])
        assertion = sign_assertion(flags["--client-id"], "http://testserver/api/v1/auth/token", key)
        token = http.post(
            "/api/v1/auth/token",
            urlencode(
                {
                    "grant_type": "client_credentials",
                    "scope": COMMAND_SCOPE[argv[0]],
                    "client_assertion": assertion,
                    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                }
            ),
            content_type="application/x-www-form-urlencoded",
        )
        assert token.status_code == 200, token.json()
        read = http.get(api_path(argv), HTTP_AUTHORIZATION=f"Bearer {token.json()['access_token']}")
        assert read.status_code == (200 if argv[0] == "patients" else 404), read.json()


@pytest.mark.django_db
def test_a_demo_client_from_an_earlier_demo_without_these_scopes_is_replaced():
    # given a demo whose clinic system was registered with consent.read only (an earlier demo)
    call_command("demo", no_server=True, persons=10, stdout=StringIO())
    old = ApiClient.objects.get(name="demo clinic system")
    old.scopes = ["consent.read"]
    old.save(update_fields=["scopes"])

    # when the demo starts again
    out = StringIO()
    call_command("demo", no_server=True, persons=10, stdout=out)

    # then the old client is revoked and the printed commands name a new one with the scopes they need
    old.refresh_from_db()
    new = ApiClient.objects.get(name="demo clinic system", revoked_at__isnull=True)
    assert old.revoked_at is not None and new.pk != old.pk
    assert set(new.scopes) == set(COMMAND_SCOPE.values())
    assert all(f"--client-id {new.client_id}" in " ".join(c) for c in printed_client_commands(out.getvalue()))


@pytest.mark.django_db
def test_card_files_kept_over_a_fresh_database_are_issued_again(tmp_path, settings):
    # given the demo's card files from an earlier run, and a database that no longer knows them
    settings.JPKI_CARDS_DIR = tmp_path / "cards"
    call_command("demo", no_server=True, persons=20, stdout=StringIO())
    CardCertificate.objects.all().delete()

    # when the demo starts again
    out = StringIO()
    call_command("demo", no_server=True, persons=20, stdout=out)

    # then every demo card's certificate is known again for its holder
    assert CardCertificate.objects.filter(registered_for_insurance_use=True, status="active").count() == 5


@pytest.mark.django_db
def test_the_readme_sample_output_is_what_the_demo_prints(settings):
    # Given the README's sample of bin/demo's output, where … and <…> stand for what differs per run
    import re
    from pathlib import Path

    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    sample = readme.split("```text\n", 1)[1].split("```", 1)[0]
    # When the demo prepares itself (it prints the commands relative to the checkout, like the README)
    out = StringIO()
    call_command("demo", no_server=True, persons=20, stdout=out)
    printed = out.getvalue().replace(str(settings.VAR_DIR), "var").splitlines()  # tests keep var/ elsewhere
    # Then every sample line but the keyboard hint (the demo run here has no keyboard) is a printed line
    for line in sample.splitlines():
        if not line.strip() or line.strip() == "…" or "type the number and Enter" in line:
            continue
        pattern = re.escape(line.rstrip()).replace(re.escape("…"), ".*")
        pattern = re.sub(r"<[^>]*>", ".*", pattern.replace(re.escape("<"), "<").replace(re.escape(">"), ">"))
        assert any(re.fullmatch(pattern, p.rstrip()) for p in printed), f"README line not printed: {line!r}"
