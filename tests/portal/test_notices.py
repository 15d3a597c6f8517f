"""お知らせ on the portal: emergency and disaster views, and a first read by an institution, are
notices shown on the next sign-in until acknowledged; the access history names both bases."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.registry.codes import municipality_code, with_check_digit
from homeconsent.registry.models import Institution
from homeconsent.special_access import services
from homeconsent.special_access.models import EmergencyPermission

from .conftest import answer_card

pytestmark = pytest.mark.django_db
KANAZAWA = municipality_code("17201")


@pytest.fixture
def viewed(me, pharmacy):
    """me, found and viewed by a hospital's permitted doctor and, in a disaster scope, by a pharmacy."""
    me.person.address_municipality_code = KANAZAWA
    me.person.save(update_fields=["address_municipality_code"])
    hospital = Institution.objects.create(
        code=with_check_digit("171000011"), name="金沢中央病院", hospital=True
    )
    doctor = get_user_model().objects.create_user("er-doctor")
    EmergencyPermission.objects.create(
        user=doctor, institution=hospital, granted_at=timezone.now(), granted_by="t"
    )
    er = services.Viewer(hospital, "institution_staff", "staff:er-doctor", doctor.pk)
    card = services.clean_search("card", {"certificate_der": me.card.certificate_der})
    encounter = services.do_search(er, "emergency", card, "unconscious")
    services.view(er, "emergency", encounter.token)
    today = timezone.localdate()
    services.do_open_disaster_scope(
        "令和8年能登半島地震", [KANAZAWA], today, today + datetime.timedelta(days=6), by="op"
    )
    pharmacist = services.Viewer(pharmacy, "institution_staff", "staff:ph", None)
    attributes = services.clean_search("attributes", {"name": "さとう はなこ", "birth_date": "1950-04-02"})
    encounter = services.do_search(pharmacist, "disaster", attributes, "oral")
    services.view(pharmacist, "disaster", encounter.token)
    return me


def test_each_signin_shows_the_notices_until_acknowledged(client, viewed):
    response = answer_card(client, "signin", viewed.key, viewed.certificate)
    assert response.json()["next"] == "/portal/"
    home = client.get("/portal/").content.decode()
    assert "新しいお知らせが4件あります" in home and home.count('class="notice-row pending"') == 4
    assert "救急時にあなたの情報が閲覧されました" in home and "災害時にあなたの情報が閲覧されました" in home
    page = client.get("/portal/notices/").content.decode()
    assert page.count('data-kind="emergency"') == 1 and page.count('data-kind="disaster"') == 1
    assert page.count('data-kind="new_institution"') == 2  # the hospital's and the pharmacy's first reads
    assert (
        "金沢中央病院" in page
        and "意識障害" in page
        and "令和8年能登半島地震" in page
        and "口頭で同意を得た" in page
    )
    # when acknowledged
    assert client.post("/portal/notices/").status_code == 302
    assert "新しいお知らせ" not in client.get("/portal/").content.decode()
    assert (
        AccessEvent.objects.filter(person=viewed.person, detail__action="notices_acknowledged").count() == 1
    )
    # then the next sign-in shows none
    again = Client()
    answer_card(again, "signin", viewed.key, viewed.certificate)
    assert 'class="notice-row pending"' not in again.get("/portal/").content.decode()


def test_the_access_history_names_emergency_and_disaster_views(client, viewed):
    answer_card(client, "signin", viewed.key, viewed.certificate)
    page = client.get("/portal/access/").content.decode()
    assert "救急時の閲覧" in page and "災害時の閲覧" in page
    emergency = client.get("/portal/access/", {"basis": "emergency"}).content.decode()
    assert "救急時の閲覧" in emergency and "災害時の閲覧" not in emergency.split("<table", 1)[-1]


def test_notices_in_english(client, viewed):
    answer_card(client, "signin", viewed.key, viewed.certificate)
    client.cookies["django_language"] = "en"
    page = client.get("/portal/notices/").content.decode()
    assert "Your information was viewed in an emergency" in page and "Unconscious" in page
