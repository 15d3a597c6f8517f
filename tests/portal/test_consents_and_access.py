"""Consents: list, cancel one or all with a fresh card proof; access history with its filters, CSV
and the log check; health-insurance-use registration."""

import csv
import datetime
import io

import pytest
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import record_access
from homeconsent.consent.models import CardAuthChallenge, ConsentStatus
from homeconsent.consent.services import consent_for_read

from .conftest import answer_card, give_consent


def test_consents_page_lists_in_force_and_ended_with_items_and_institutions(
    signed_in, me, other, clinic, pharmacy
):
    kept = give_consent(me, clinic)
    ended = give_consent(me, pharmacy, items=("medication",))
    ended.status, ended.ended_at, ended.ended_by = ConsentStatus.CANCELLED, timezone.now(), "institution"
    ended.save()
    give_consent(other, clinic)

    body = signed_in.get("/portal/consents/").content.decode()

    in_force, past = body.split("</h2>", 2)[1], body.split("</h2>", 2)[2]
    assert f'data-consent="{kept.pk}"' in in_force and clinic.code in in_force
    assert f'data-consent="{ended.pk}"' in past and pharmacy.name in past
    assert body.count('class="record consent') == 2  # the other person's consent is not listed


def test_cancelling_one_consent_needs_a_fresh_card_proof_and_stops_the_next_read(
    signed_in, me, clinic, pharmacy
):
    target = give_consent(me, clinic)
    kept = give_consent(me, pharmacy)
    assert consent_for_read(clinic.code, me.person, "medication") is not None

    confirm = signed_in.get(f"/portal/consents/{target.pk}/cancel/")
    response = answer_card(signed_in, "cancel", me.key, me.certificate)

    assert confirm.status_code == 200 and 'id="card-flow"' in confirm.content.decode()
    assert response.json() == {"next": "/portal/consents/"}
    challenge = CardAuthChallenge.objects.filter(kind="consent_cancel").get()
    assert challenge.details == {"cancel": str(target.pk)}  # the signature covered what was cancelled
    target.refresh_from_db()
    assert (target.status, target.ended_by) == (ConsentStatus.CANCELLED, "patient")
    assert consent_for_read(clinic.code, me.person, "medication") is None
    assert consent_for_read(pharmacy.code, me.person, "medication") == kept
    assert "1" in signed_in.get("/portal/consents/").content.decode().split('id="cancelled"')[1][:80]


def test_cancel_all_cancels_every_consent_in_force(signed_in, me, clinic, pharmacy):
    give_consent(me, clinic)
    give_consent(me, pharmacy)

    signed_in.get("/portal/consents/all/cancel/")
    answer_card(signed_in, "cancel", me.key, me.certificate)

    assert consent_for_read(clinic.code, me.person, "medication") is None
    assert consent_for_read(pharmacy.code, me.person, "medication") is None


def test_cancel_proved_by_another_persons_card_is_refused(signed_in, me, other, clinic):
    target = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{target.pk}/cancel/")

    response = answer_card(signed_in, "cancel", other.key, other.certificate)

    assert response.json()["problem"] == "portal_not_your_card"
    assert consent_for_read(clinic.code, me.person, "medication") == target


def test_another_persons_consent_cannot_be_opened_for_cancelling(signed_in, other, clinic):
    theirs = give_consent(other, clinic)

    assert signed_in.get(f"/portal/consents/{theirs.pk}/cancel/").status_code == 404


def test_a_sign_in_proof_cannot_be_used_to_cancel(signed_in, me, clinic):
    target = give_consent(me, clinic)
    signed_in.get(f"/portal/consents/{target.pk}/cancel/")
    issued = signed_in.post("/portal/card/signin/challenge").json()

    response = signed_in.post(
        "/portal/card/cancel/answer",
        {"challenge": issued["challenge"], "certificate": "AA==", "signature": "AA=="},
        content_type="application/json",
    )

    assert response.json()["problem"] == "session_expired"
    assert consent_for_read(clinic.code, me.person, "medication") == target


def test_access_history_shows_institution_reads_with_name_code_items_and_basis(signed_in, me, other, clinic):
    consent = give_consent(me, clinic)
    record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=me.person,
        items=["medication"],
        basis="consent",
        institution_code=clinic.code,
        consent_id=consent.pk,
    )
    record_access(
        actor_type="institution_staff",
        actor_id="staff-9",
        person=me.person,
        items=["checkup"],
        basis="disaster",
        institution_code=clinic.code,
    )
    record_access(
        actor_type="institution_client",
        actor_id="client-1",
        person=other.person,
        items=["treatment"],
        basis="consent",
        institution_code=clinic.code,
    )

    body = signed_in.get("/portal/access/", {"own": "1"}).content.decode()
    only_disaster = signed_in.get("/portal/access/", {"basis": "disaster"}).content.decode()

    assert clinic.name in body and clinic.code in body
    assert body.count('data-basis="consent"') >= 2  # the read and the consent registration
    assert 'data-basis="disaster"' in body and 'data-basis="self"' in body
    assert only_disaster.count("<tr data-basis=") == 1
    assert "治療" not in body and "client-1" not in body


def test_access_history_filters_by_date_range_and_institution(signed_in, me, clinic, pharmacy):
    record_access(
        actor_type="institution_client",
        actor_id="c",
        person=me.person,
        items=["medication"],
        basis="consent",
        institution_code=pharmacy.code,
    )
    today = timezone.localdate()

    at_pharmacy = signed_in.get("/portal/access/", {"institution": pharmacy.code}).content.decode()
    tomorrow = signed_in.get("/portal/access/", {"from": (today + datetime.timedelta(days=1)).isoformat()})
    yesterday = signed_in.get("/portal/access/", {"to": (today - datetime.timedelta(days=1)).isoformat()})

    assert at_pharmacy.count("<tr data-basis=") == 1
    assert "<tr data-basis=" not in tomorrow.content.decode()
    assert "<tr data-basis=" not in yesterday.content.decode()


def test_access_history_csv_parses_and_matches_the_rows(signed_in, me, clinic):
    record_access(
        actor_type="institution_client",
        actor_id="c",
        person=me.person,
        items=["medication"],
        basis="requery",
        institution_code=clinic.code,
    )

    response = signed_in.get("/portal/access.csv", {"institution": clinic.code})

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["日時", "医療機関等コード", "医療機関等名称"]
    assert (
        rows[1][1:3] == [clinic.code, clinic.name]
        and rows[1][5] == "再照会（訪問診療・訪問看護の同意による）"
        and len(rows) == 2
    )


def test_the_page_says_the_log_verified_and_what_was_checked(signed_in, me):
    from homeconsent.audit.services import chain_for

    in_chain = AccessEvent.objects.filter(chain=chain_for(me.person.pk)).count()
    body = signed_in.get("/portal/access/").content.decode()

    assert 'class="verification ok"' in body
    assert f"（系列 {chain_for(me.person.pk)}）の全 {in_chain} 件を検証しました" in body


def test_a_tampered_row_of_the_persons_chain_is_reported(signed_in, me):
    from django.db import connection

    if connection.vendor == "postgresql":
        pytest.skip("the append-only trigger refuses the UPDATE on PostgreSQL")
    event = AccessEvent.objects.filter(person=me.person).first()
    with connection.cursor() as cursor:  # a database administrator editing a row behind the log's back
        cursor.execute("UPDATE audit_accessevent SET items = %s WHERE id = %s", ['["nothing"]', event.pk])

    body = signed_in.get("/portal/access/").content.decode()

    assert 'class="verification broken"' in body and "altered" in body


def test_the_bounded_check_covers_the_newest_rows_and_the_latest_checkpoint(
    signed_in, me, settings, tmp_path
):
    from homeconsent.audit.checkpoints import write_checkpoint
    from portal.services import verify_my_chain
    from portal.session import Viewer

    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_PATH = tmp_path / "signing-key.pem"
    write_checkpoint()
    viewer = Viewer(me.person.pk, me.card.pk, me.card.serial, timezone.now())
    for _ in range(3):
        record_access(
            actor_type="patient", actor_id="x", person=me.person, items=["medication"], basis="self"
        )

    whole = verify_my_chain(viewer)
    bounded = verify_my_chain(viewer, bound=2)

    assert whole.ok and whole.whole_chain and whole.checkpoint_row_matches
    assert bounded.ok and not bounded.whole_chain and bounded.checked == 2
    assert bounded.last_seq == whole.last_seq and bounded.first_seq == whole.last_seq - 1


def test_access_csv_labels_items_like_the_page_in_the_consent_pages_order(signed_in, me, clinic):
    record_access(
        actor_type="institution_client",
        actor_id="c",
        person=me.person,
        items=["medication", "qualification"],
        basis="consent",
        institution_code=clinic.code,
    )
    csv_text = signed_in.get("/portal/access.csv", {"own": "1"}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(csv_text)))
    clinic_row = next(r for r in rows[1:] if r[1] == clinic.code)
    assert clinic_row[4] == "健康保険の資格（加入している保険・負担割合）、薬剤情報（お薬）"
    self_rows = [r for r in rows[1:] if r[5] == "ご本人による閲覧"]
    assert self_rows and {r[3] for r in self_rows} == {"ご本人"}  # the page's one label for "self"
    assert 'class="who">ご本人<' in signed_in.get("/portal/access/", {"own": "1"}).content.decode()


def test_consents_list_items_insurance_first_joined_by_the_languages_separator(signed_in, me, clinic):
    give_consent(me, clinic, items=("treatment", "medication", "checkup"))
    body = signed_in.get("/portal/consents/").content.decode()
    shown = body.split('class="summary"', 1)[1].split("<ul>", 1)[1].split("</ul>", 1)[0]
    assert shown.index("健康保険の資格") < shown.index("薬") < shown.index("診療")
