"""Console pages for screen-reader and keyboard users: error titles and invalid fields that take the
focus, titles that say where you are (never who), labels that say what they act on, server-side
validation in the page's language, and 44px targets."""

import re

from django.test import Client

from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffRole

from .conftest import PASSWORD


def _title(page):
    return re.search(r"<title>(.*?)</title>", page, re.S).group(1).strip()


def _tag(page, element_id):
    return re.search(r'<(?:input|textarea)[^>]*\bid="%s"[^>]*>' % element_id, page).group(0)


def test_a_refused_sign_in_says_error_first_in_the_title_and_focuses_the_password(admin):
    # given a console sign-in page
    client = Client()
    # when the password is wrong
    page = client.post("/console/signin/", {"username": admin.username, "password": "wrong"}).content.decode()
    # then the title starts with the error, both fields point at it and the password takes the focus
    assert _title(page).startswith("エラー：")
    password, username = _tag(page, "password"), _tag(page, "username")
    assert (
        'aria-invalid="true"' in password
        and 'aria-describedby="error"' in password
        and "autofocus" in password
    )
    assert 'aria-invalid="true"' in username and "autofocus" not in username
    assert 'id="error"' in page
    # and a page without an error neither says so nor marks anything
    fresh = Client().get("/console/signin/").content.decode()
    assert not _title(fresh).startswith("エラー") and "aria-invalid" not in fresh and "autofocus" not in fresh


def test_a_wrong_verification_code_marks_and_focuses_the_code_field(admin):
    # given the password step passed
    client = Client()
    client.post("/console/signin/", {"username": admin.username, "password": PASSWORD})
    # when the code is wrong
    page = client.post("/console/signin/code/", {"code": "12"}).content.decode()
    # then
    code = _tag(page, "code")
    assert _title(page).startswith("エラー：")
    assert 'aria-invalid="true"' in code and 'aria-describedby="error"' in code and "autofocus" in code


def test_enrolment_validates_on_the_server_in_the_pages_language(institution):
    # given a fresh enrolment link, in English
    _membership, token = accounts.do_create_staff(
        institution, "midori-new", StaffRole.STAFF, by="operator:test"
    )
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = client.get(f"/console/enrol/{token}/").content.decode()
    # then the browser does not validate (it would in its own language)
    assert re.search(r"<form[^>]*novalidate", page)
    # when nothing is typed, the server says what the browser would have, in English
    empty = client.post(f"/console/enrol/{token}/", {"password": "", "password_again": ""}).content.decode()
    assert _title(empty).startswith("Error: ") and "12 characters" in empty
    password = _tag(empty, "password")
    assert 'aria-invalid="true"' in password and "autofocus" in password
    # and mistyped passwords mark both fields
    differ = client.post(f"/console/enrol/{token}/", {"password": PASSWORD, "password_again": PASSWORD + "x"})
    assert 'aria-invalid="true"' in _tag(differ.content.decode(), "password_again")


def test_console_sign_in_forms_leave_validation_to_the_server():
    page = Client().get("/console/signin/").content.decode()
    assert re.search(r"<form method=\"post\" class=\"stack\" novalidate>", page)


def test_the_patient_page_title_names_the_section_and_consent_number_never_the_patient(
    signed_in, patient, institution, register
):
    # given a consent
    consent = register(patient, institution)
    # when staff open it
    page = signed_in.get(f"/console/patients/{consent.pk}/").content.decode()
    # then the title says where, not who
    title = _title(page)
    assert title.startswith(f"同意済み患者 #{consent.pk} | コンソール | HomeConsent")
    assert patient.person.name not in title


def test_board_open_buttons_say_which_consent_and_arrivals_have_a_label(
    signed_in, patient, institution, register
):
    # given a registered consent on the board
    consent = register(patient, institution)
    page = signed_in.get("/console/").content.decode()
    # then its button names it, and the script has the words to name and announce new ones
    assert f'aria-label="同意 #{consent.pk} を開く"' in page
    assert (
        'data-label-open-consent="同意 #{id} を開く"' in page
        and 'data-label-arrived="新しい同意 #{id}"' in page
    )
    assert 'id="board-status"' in page and 'aria-live="polite"' in page


def test_api_client_scopes_speak_the_pages_language_and_revoke_names_the_client(signed_in):
    # given a registered client
    from tests.console.test_pages import _public_jwk_pem

    signed_in.post(
        "/console/clients/", {"name": "電子カルテ", "jwks": _public_jwk_pem(), "scope": ["consent.read"]}
    )
    # when the page is shown in Japanese, then in English
    ja = signed_in.get("/console/clients/").content.decode()
    signed_in.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    en = signed_in.get("/console/clients/").content.decode()
    # then each shows its own language only, and the confirmation says what it confirms
    assert "同意済み患者の一覧" in ja and "consented patients" not in ja
    assert "consented patients" in en and "同意済み患者の一覧" not in en
    assert "電子カルテ を無効にすることを確認" in ja and "Confirm revoking 電子カルテ" in en
    assert '<fieldset class="scopes">' in ja


def test_small_links_get_the_touch_target_class(institution):
    page = Client().get("/console/enrol/not-a-token/").content.decode()
    assert 'class="console-link"' in page
