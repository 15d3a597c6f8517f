"""The portal's consent list says why a qualification-only site (資格確認限定型) receives no medical
information, under that site's consent only."""

from .conftest import give_consent


def test_the_consent_list_says_why_a_qualification_only_site_gets_no_medical_information(
    signed_in, me, clinic, pharmacy
):
    # given a consent at a 接骨院 that only confirms qualifications, and one at an ordinary pharmacy
    clinic.name, clinic.qualification_only = "さくら接骨院", True
    clinic.save()
    at_site = give_consent(me, clinic, items=())
    at_pharmacy = give_consent(me, pharmacy, items=("medication",))

    # when the patient opens their consents
    body = signed_in.get("/portal/consents/").content.decode()

    # then the site's row says why, the pharmacy's does not
    site_row = body.split(f'data-consent="{at_site.pk}"')[1].split("\n  </li>")[0]
    pharmacy_row = body.split(f'data-consent="{at_pharmacy.pk}"')[1].split("\n  </li>")[0]
    assert "data-qualification-only" in site_row
    assert "資格確認のみを行う施設（柔道整復・あはき施術所、健診機関）のため" in site_row
    assert "data-qualification-only" not in pharmacy_row
