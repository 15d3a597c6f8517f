"""The live board's rows as staff act on them: a consent no longer in force says so and offers no
"open", what was consented is named (no patient's name), and times are Japan time with the zone."""

import re

from django.utils import timezone

from homeconsent.consent.rules import TOKYO
from homeconsent.consent.services import do_cancel_consent


def _row(page, event_id):
    return re.search(
        r'<li class="event[^"]*" data-id="' + re.escape(event_id) + r'".*?</li>', page, re.S
    ).group(0)


def _rows_of(page, consent_id):
    """Every board row of this consent (the board keeps one per consent)."""
    return re.findall(
        r'<li class="event[^"]*" data-id="[^"]*" data-consent="' + str(consent_id) + r'".*?</li>', page, re.S
    )


def test_a_cancelled_consents_registration_row_says_so_and_cannot_be_opened(
    signed_in, patient, institution, register
):
    # given a consent registered and then cancelled today
    consent = register(patient, institution)
    do_cancel_consent(consent, by="patient", actor_id="card:x")

    # when staff open the board
    page = signed_in.get("/console/").content.decode()

    # then its one row is marked ended, says who cancelled, and offers no open button
    (row,) = _rows_of(page, consent.pk)
    assert "event-ended" in row and 'data-ended="cancelled"' in row and "取り消されました" in row
    assert 'data-by="patient"' in row and "患者ご本人" in row
    assert f"/console/patients/{consent.pk}/" not in row


def test_a_replaced_consent_is_marked_on_the_board_and_the_newer_one_opens(
    signed_in, patient, institution, register
):
    # given a patient who registered again, replacing their consent
    old = register(patient, institution)
    new = register(patient, institution, items=("medication", "treatment"))

    # when the board is opened, and when it catches up
    page = signed_in.get("/console/").content.decode()
    events = signed_in.get("/console/events.json").json()["events"]

    # then each consent has one row: the old one says which consent replaced it and offers no open;
    # the new one names the consent it replaces and opens
    (old_row,) = _rows_of(page, old.pk)
    (new_row,) = _rows_of(page, new.pk)
    assert 'data-ended="superseded"' in old_row and f"/console/patients/{old.pk}/" not in old_row
    assert f'data-replaced-by="{new.pk}"' in old_row
    assert f'href="/console/patients/{new.pk}/"' in new_row and f'data-replaces="{old.pk}"' in new_row
    assert f"{old.pk}.superseded" in [e["id"] for e in events]
    # nothing personal: ids, kinds, items, times, and who ended a consent (a role) or which replaced it
    assert all(
        set(e) - {"ended_by", "replaced_by"} == {"id", "event", "consent_id", "kind", "items", "at"}
        for e in events
    )
    assert [e["replaced_by"] for e in events if e["event"] == "superseded"] == [new.pk]


def test_rows_name_what_was_consented_in_japan_time_and_never_the_patient(
    signed_in, patient, institution, register
):
    consent = register(patient, institution, items=("medication", "treatment"))

    page = signed_in.get("/console/").content.decode()

    row = _row(page, f"{consent.pk}.registered")
    given = consent.given_at.astimezone(TOKYO)
    assert (
        f">{given.year}年{given.month}月{given.day}日 {given.hour}:{given:%M} JST</time>" in row
    )  # as the site writes dates
    assert "薬剤情報" in row and "診療情報" in row and "資格情報" in row
    # in the national order, 資格情報 first (stored items are alphabetical)
    assert row.index("資格情報") < row.index("薬剤情報") < row.index("診療情報")
    events = signed_in.get("/console/events.json").json()["events"]
    assert events[-1]["items"] == ["qualification", "medication", "treatment"]
    assert patient.person.name not in page
    assert 'id="board-names-note"' in page


def test_a_board_shows_japan_time_even_when_the_server_zone_differs(
    signed_in, patient, institution, register, settings
):
    # given the server's own zone set to UTC (the board must still say Japan time)
    settings.TIME_ZONE = "UTC"
    consent = register(patient, institution)

    with timezone.override("UTC"):
        page = signed_in.get("/console/").content.decode()

    given = consent.given_at.astimezone(TOKYO)
    assert f">{given.year}年{given.month}月{given.day}日 {given.hour}:{given:%M} JST</time>" in _row(
        page, f"{consent.pk}.registered"
    )
