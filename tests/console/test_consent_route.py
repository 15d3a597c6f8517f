"""The console names the route that proved each consent: card reader (カードリーダー) or authentication app (認証アプリ)."""

from homeconsent.consent.models import Consent


def test_the_patient_page_and_list_name_the_route_of_the_consent(signed_in, patient, institution, register):
    consent = register(patient, institution)
    by_reader = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()

    Consent.objects.filter(pk=consent.pk).update(authenticator="app")
    by_app = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    listed = signed_in.get("/console/patients/").content.decode()

    assert "カードリーダー" in by_reader and "認証アプリ" not in by_reader
    assert "認証アプリ" in by_app and "認証アプリ" in listed
