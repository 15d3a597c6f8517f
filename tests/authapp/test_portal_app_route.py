"""The portal through the authentication app: sign-in, cancellation proved again, the list of links and
removing one; card registration stays card-only and says so."""

from homeconsent.audit.models import AccessEvent
from homeconsent.authapp.models import IdentityLink
from homeconsent.consent.models import Consent, ConsentStatus

from .conftest import PIN, PhoneApp, callback_path, url, walk_to_card


def through_the_app(client, start_path):
    started = client.post(start_path)
    assert started.status_code == 302, started.content.decode()[:1500]
    back = PhoneApp(started["Location"]).enter_pin(PIN)
    done = client.get(callback_path(back.headers["Location"]))
    assert done.status_code == 302, done.content.decode()[:1500]
    return client.get(done["Location"])


def consent_by_app(client, entry):
    walk_to_card(client, entry)
    through_the_app(client, url("app_start", entry, "home"))
    return Consent.objects.get()


def test_signing_in_to_the_portal_with_the_app(client, person, provider):
    assert 'id="app-route-start"' in client.get("/portal/signin/").content.decode()

    landed = through_the_app(client, "/portal/card/signin/app")

    assert landed.status_code == 302 and landed["Location"] == "/portal/"
    assert client.session["portal.person"]["person"] == person.pk
    event = AccessEvent.objects.get(person=person, detail__page="signin")
    assert event.detail["route"] == "app" and event.actor_id == f"person:{person.pk}"
    history = client.get("/portal/access/?own=1").content.decode()
    assert "認証アプリ" in history


def test_cancelling_a_consent_in_the_portal_is_proved_again_by_the_app(client, entry, person, provider):
    consent = consent_by_app(client, entry)
    through_the_app(client, "/portal/card/signin/app")
    assert client.get(f"/portal/consents/{consent.pk}/cancel/").status_code == 200

    landed = through_the_app(client, "/portal/card/cancel/app")

    assert landed.status_code == 302 and landed["Location"] == "/portal/consents/"
    consent.refresh_from_db()
    assert consent.status == ConsentStatus.CANCELLED and consent.ended_by == "patient"


def test_the_portal_lists_the_links_and_the_patient_removes_one(client, person, provider):
    through_the_app(client, "/portal/card/signin/app")
    link = IdentityLink.objects.get(person=person)
    listed = client.get("/portal/links/").content.decode()
    assert f'data-link="{link.pk}"' in listed and provider.issuer in listed

    removed = client.post("/portal/links/", {"link": link.pk})

    assert removed.status_code == 200 and 'id="link-removed"' in removed.content.decode()
    assert not IdentityLink.objects.exists()
    assert AccessEvent.objects.filter(person=person, detail__action="app_link_removed").count() == 1


def test_card_registration_offers_no_app_route_and_says_why(client, provider):
    session = client.session
    session["portal.registration"] = {
        "insurer_number": "01130012",
        "symbol": "",
        "number": "1",
        "branch": "00",
        "birth_date": "1948-04-02",
    }
    session.save()

    html = client.get("/portal/register/card/").content.decode()
    refused = client.post("/portal/card/register/app")

    assert 'id="app-route-start"' not in html and 'id="card-only"' in html
    assert refused.status_code == 400 and 'data-problem="card_only"' in refused.content.decode()
