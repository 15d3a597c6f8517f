"""Every admin page that shows a person's data (consents, their sessions, the access log) writes the
operator's read to the access log, shown to that person; headings are Japanese; a consent's end reads
as its last day."""

import datetime
import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.audit.services import events_for_person, record_access
from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentSession, TelehealthApp, WebhookDelivery
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import CardCertificate, Institution, Insurer, Person, Qualification
from tests.operators import sign_in_verified

VISIT = datetime.date(2026, 11, 30)


@pytest.fixture
def operator(client, db):
    user = get_user_model().objects.create_superuser("ops-tanaka", "ops@example.invalid", "x" * 16)
    return sign_in_verified(client, user)


@pytest.fixture
def institution(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


def _person(name, number):
    person = Person.objects.create(
        name=name, name_kana="シケン", sex="1", birth_date=datetime.date(1948, 4, 2)
    )
    card = CardCertificate.objects.create(
        person=person,
        issuer="CN=Test JPKI",
        serial=f"0a1b{number}",
        fingerprint_sha256=f"{number:02d}" * 32,
        not_before=timezone.now(),
        not_after=timezone.now() + datetime.timedelta(days=365),
        certificate_der=b"x",
    )
    return person, card


@pytest.fixture
def telehealth_consent(institution):
    """A telehealth consent for a visit on 30 November: it holds until midnight after that day."""
    person, card = _person("佐藤 花子", 1)
    return Consent.objects.create(
        person=person,
        institution=institution,
        kind="telehealth",
        items=["medication", "qualification"],
        given_at=timezone.now(),
        visit_date=VISIT,
        available_until=rules.start_of_day(VISIT + datetime.timedelta(days=1)),
        card_certificate=card,
        signature="c2lnbmF0dXJl",
    )


@pytest.fixture
def home_visit_consent(institution):
    person, card = _person("鈴木 一郎", 2)
    return Consent.objects.create(
        person=person,
        institution=institution,
        kind="home_visit",
        items=["qualification"],
        given_at=timezone.now(),
        card_certificate=card,
        signature="c2lnbmF0dXJl",
    )


@pytest.fixture
def sessions(institution, telehealth_consent):
    """One session the patient consented in, and one still waiting (it names nobody yet)."""
    now = timezone.now()
    app = TelehealthApp.objects.create(
        name="すぐ診アプリ", client_id="tha_test", secret_encrypted="x", created_at=now
    )
    common = {
        "app": app,
        "institution": institution,
        "visit_date": VISIT,
        "items": ["qualification"],
        "return_url": "https://app.example/return",
        "created_at": now,
        "expires_at": now,
    }
    done = ConsentSession.objects.create(
        session_id="s" * 43, consent=telehealth_consent, status="registered", **common
    )
    waiting = ConsentSession.objects.create(session_id="w" * 43, **common)
    return done, waiting


def _headers(html):
    """The column headings of the result list (not the sidebar's tables)."""
    [table] = re.findall(r'<table id="result_list">(.*?)</thead>', html, re.S)
    return [
        re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>', table, re.S)
    ]


@pytest.fixture
def one_row_of_each(sessions, telehealth_consent):
    """A row in every list below, so that each shows its table."""
    person = telehealth_consent.person
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind="kyokai", prefecture="13"
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        number="5678",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="030",
        personal_family="1",
    )
    record_access(actor_type="system", actor_id="checkpoint", basis="operator")  # names nobody
    done, _ = sessions
    WebhookDelivery.objects.create(
        event_id="evt_1",
        app=done.app,
        session=done,
        event="consent.registered",
        body="{}",
        created_at=timezone.now(),
        next_attempt_at=timezone.now(),
    )


def test_the_consent_list_logs_one_entry_per_person_shown(operator, telehealth_consent, home_visit_consent):
    # when an operator opens the consent list
    response = operator.get("/admin/consent/consent/")
    # then the page shows both persons, and each person has one entry naming what the list showed
    html = response.content.decode()
    assert response.status_code == 200 and "佐藤 花子" in html and "鈴木 一郎" in html
    events = list(AccessEvent.objects.order_by("person_id"))
    assert [e.person_id for e in events] == sorted(
        [telehealth_consent.person_id, home_visit_consent.person_id]
    )
    assert all(e.items == ["consent", "person"] and e.basis == "operator" for e in events)
    assert all(
        e.actor_id == "admin:ops-tanaka" and e.detail == {"action": "admin_list", "model": "consent"}
        for e in events
    )
    # and the person sees it in their own history
    assert [e.detail["action"] for e in events_for_person(telehealth_consent.person)] == ["admin_list"]


def test_a_consent_detail_logs_the_person_the_consent_and_the_card(operator, telehealth_consent):
    response = operator.get(f"/admin/consent/consent/{telehealth_consent.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200 and "佐藤 花子" in html and "0a1b1" in html
    [event] = AccessEvent.objects.all()
    assert event.person_id == telehealth_consent.person_id
    assert event.items == ["consent", "person", "card_certificate"]
    assert event.detail == {"action": "admin_view", "model": "consent", "object_id": telehealth_consent.pk}


def test_a_consent_history_page_is_logged(operator, telehealth_consent):
    response = operator.get(f"/admin/consent/consent/{telehealth_consent.pk}/history/")
    assert response.status_code == 200
    [event] = AccessEvent.objects.all()
    assert event.person_id == telehealth_consent.person_id and event.detail["page"] == "history"


def test_a_person_history_page_is_logged(operator, telehealth_consent):
    person = telehealth_consent.person
    assert operator.get(f"/admin/registry/person/{person.pk}/history/").status_code == 200
    [event] = AccessEvent.objects.all()
    assert (event.person_id, event.items) == (person.pk, ["person", "qualification", "card_registration"])


def test_a_missing_consent_logs_nothing(operator, telehealth_consent):
    assert operator.get("/admin/consent/consent/999999/change/").status_code == 302
    assert not AccessEvent.objects.exists()


def test_sessions_log_the_person_of_their_consent_and_a_waiting_session_logs_nothing(operator, sessions):
    done, waiting = sessions
    assert operator.get("/admin/consent/consentsession/").status_code == 200
    [listed] = AccessEvent.objects.all()
    assert (listed.person_id, listed.items) == (done.consent.person_id, ["consent"])
    assert listed.detail["action"] == "admin_list"
    assert operator.get(f"/admin/consent/consentsession/{done.pk}/change/").status_code == 200
    assert operator.get(f"/admin/consent/consentsession/{waiting.pk}/change/").status_code == 200
    viewed = AccessEvent.objects.filter(detail__action="admin_view")
    assert [(e.person_id, e.detail["object_id"]) for e in viewed] == [(done.consent.person_id, done.pk)]


def test_the_access_log_list_and_detail_are_logged_for_the_person_they_name(operator, telehealth_consent):
    person = telehealth_consent.person
    event = record_access(
        actor_type="institution_staff",
        actor_id="nurse-7",
        person=person,
        items=["medication"],
        basis="consent",
        institution_code=telehealth_consent.institution.code,
    )
    record_access(actor_type="system", actor_id="checkpoint", basis="operator")  # names nobody
    # when an operator lists the log
    response = operator.get("/admin/audit/accessevent/")
    assert response.status_code == 200 and "佐藤 花子" in response.content.decode()
    # then the person named gets one entry; the event naming nobody adds none
    [listed] = AccessEvent.objects.filter(actor_type="operator")
    assert (listed.person_id, listed.items) == (person.pk, ["access_log", "person"])
    assert listed.detail["action"] == "admin_list"
    # and opening the event logs a view
    assert operator.get(f"/admin/audit/accessevent/{event.pk}/change/").status_code == 200
    viewed = AccessEvent.objects.get(detail__action="admin_view")
    assert (viewed.person_id, viewed.detail["object_id"]) == (person.pk, event.pk)


@pytest.mark.parametrize(
    "url",
    [
        "/admin/consent/consent/",
        "/admin/consent/consentsession/",
        "/admin/audit/accessevent/",
        "/admin/registry/qualification/",
        "/admin/registry/cardcertificate/",
        "/admin/consent/webhookdelivery/",
        "/admin/consent/telehealthapp/",
        "/admin/registry/person/",
    ],
)
def test_admin_column_headings_are_japanese(operator, one_row_of_each, url):
    headers = _headers(operator.get(url).content.decode())
    assert len(headers) > 3, (url, headers)
    # Abbreviations are fine (ID, URL); a heading in English words is not.
    english = [h for h in headers if re.fullmatch(r"[A-Za-z ]+", h) and h not in {"ID", "Webhook URL"}]
    assert not english, (url, english)


def test_the_consent_detail_labels_are_japanese(operator, telehealth_consent):
    html = operator.get(f"/admin/consent/consent/{telehealth_consent.pk}/change/").content.decode()
    labels = [
        re.sub(r"<[^>]+>", "", label).strip().rstrip(":")
        for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    ]
    assert "本人" in labels and "医療機関等" in labels and "状態" in labels
    assert not [label for label in labels if re.fullmatch(r"[A-Za-z ]+", label)], labels


def test_a_telehealth_consent_shows_its_visit_date_as_the_last_day(
    operator, telehealth_consent, home_visit_consent
):
    # given a consent for a visit on 30 November (available_until: midnight starting 1 December)
    # when the list and the detail are shown
    listing = operator.get("/admin/consent/consent/").content.decode()
    detail = operator.get(f"/admin/consent/consent/{telehealth_consent.pk}/change/").content.decode()
    # then both read the visit date as the last day, and the open-ended one says so
    for html in (listing, detail):
        assert "2026年11月30日まで" in html and "12月1日" not in html
    assert "診療が続く間（取り消すまで）" in listing
    english = operator.get("/admin/consent/consent/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Through 30 Nov 2026" in english and "1 Dec 2026" not in english


# Registered admins whose rows name no person: the rest must log their reads.
# (User, Group and TOTPDevice are the operators' own accounts.)
NO_PERSON_DATA = {
    "Insurer",
    "Institution",
    "TelehealthApp",
    "WebhookDelivery",
    "Checkpoint",
    "User",
    "Group",
    "TOTPDevice",
    "DisasterScope",
}  # a scope names municipalities, nobody


def test_every_admin_of_person_data_logs_its_reads():
    from homeconsent.audit.admin import OperatorReadLogMixin

    unlogged = {
        model.__name__
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, OperatorReadLogMixin)
    }
    assert unlogged <= NO_PERSON_DATA, sorted(unlogged - NO_PERSON_DATA)


def test_a_consent_past_its_end_reads_expired_not_active(operator, institution):
    # given a telehealth consent whose visit day is over, still stored as active
    person, card = _person("高橋 次郎", 3)
    past = timezone.localdate() - datetime.timedelta(days=3)
    consent = Consent.objects.create(
        person=person,
        institution=institution,
        kind="telehealth",
        items=["qualification"],
        given_at=timezone.now() - datetime.timedelta(days=5),
        visit_date=past,
        available_until=rules.start_of_day(past + datetime.timedelta(days=1)),
        card_certificate=card,
        signature="c2ln",
    )

    # when an operator lists and opens it
    listed = operator.get("/admin/consent/consent/").content.decode()
    shown = operator.get(f"/admin/consent/consent/{consent.pk}/change/").content.decode()

    # then both say 期限切れ
    assert '<td class="field-status_shown">期限切れ</td>' in listed
    assert re.search(r"状態.*?期限切れ", shown, re.S) and "有効</div>" not in shown
