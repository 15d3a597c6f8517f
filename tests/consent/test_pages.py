"""The consent pages through Django's test client: entry and QR, the flow's screens, the challenge and
answer endpoints with a real card signature, inquiry and cancel-all, headers, language, messages."""

import base64
import datetime
import json
import re
import subprocess
from pathlib import Path

import pytest
import segno
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.urls import reverse
from django.utils import timezone

from homeconsent.audit.models import AccessEvent
from homeconsent.consent.entry import do_rotate_entry_token, entry_for, entry_qr_svg, entry_url_for
from homeconsent.consent.models import CardAuthChallenge, Consent, ConsentStatus
from homeconsent.consent.rules import TOKYO
from homeconsent.jpki.pki import TestPKI, do_register_card_certificate, issue_virtual_card
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Insurer, InsurerKind, Person, Qualification

ROOT = Path(__file__).resolve().parents[2]
PIN = "4826"


@pytest.fixture
def institution(db):
    return Institution.objects.create(
        code=with_check_digit("136000123"),
        name="みどり訪問看護ステーション",
        facility_type="6",
        prefecture="13",
    )


@pytest.fixture
def entry(institution):
    return entry_for(institution)


@pytest.fixture
def person(db):
    insurer = Insurer.objects.create(
        number="01130012", name="全国健康保険協会東京支部", kind=InsurerKind.KYOKAI, prefecture="13"
    )
    person = Person.objects.create(
        name="山田 花子", name_kana="ヤマダ ハナコ", sex="2", birth_date=datetime.date(1948, 4, 2)
    )
    Qualification.objects.create(
        person=person,
        insurer=insurer,
        symbol="1234",
        number="5678",
        branch="00",
        acquired_on=datetime.date(2020, 4, 1),
        contribution_ratio="010",
        personal_family="1",
    )
    return person


@pytest.fixture(scope="module")
def page_pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("page-pki")).init()


@pytest.fixture
def trusted(settings, page_pki):
    settings.JPKI_TRUST_ROOTS = [page_pki.root_path]
    settings.JPKI_CRLS = [page_pki.crl_path]
    settings.CONSENT_WEBHOOK_INLINE = "sync"
    return page_pki


@pytest.fixture
def card_key(person, tmp_path, trusted):
    """The private key of a registered virtual card of the person (what the card would sign with)."""
    issued = issue_virtual_card(person, PIN, cards_dir=tmp_path, pki=trusted)
    document = json.loads(issued.path.read_text())
    key = serialization.load_pem_private_key(document["auth_key_pem"].encode(), password=None)
    return key, base64.b64decode(document["auth_cert"])


def card_answer(key, certificate_der, challenge_message_b64):
    """What the card returns for the page's challenge message, as the bridge has it sign: PKCS#1 v1.5
    over the DigestInfo of SHA-256(message)."""
    message = base64.b64decode(challenge_message_b64)
    signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "certificate": base64.b64encode(certificate_der).decode(),
        "signature": base64.b64encode(signature).decode(),
    }


def url(name, entry, *args):
    return reverse(f"consent:{name}", args=[entry.token, *args])


def start(client, entry, flow, **post):
    """Open a flow's first screen and press 始める (a new draft); returns the first screen."""
    about = client.get(url("about", entry, flow), post.pop("query", None))
    assert about.status_code == 200
    if flow != "mine":
        assert client.post(url("about", entry, flow), {"flow": flow, **post}).status_code == 302
    return about


def walk_to_card(client, entry, kind="home", items=("medication", "checkup"), limit="yes", visit_date=None):
    start(client, entry, kind)
    if kind == "telehealth":
        response = client.post(url("visit_date", entry), {"visit_date": visit_date.isoformat()})
        assert response.status_code == 302
    response = client.post(url("items", entry, kind), {item: "yes" for item in items})
    assert response.status_code == 302 and response["Location"] == url("limit", entry, kind)
    response = client.post(url("limit", entry, kind), {"share_limit": limit})
    assert response.status_code == 302 and response["Location"] == url("confirm", entry, kind)
    shown = client.get(url("confirm", entry, kind))
    # 同意する on the confirm screen freezes the draft: the card step signs only that.
    assert client.post(url("confirm", entry, kind), {"until": "care"}).status_code == 302
    return shown


def post_json(client, path, body):
    return client.post(path, json.dumps(body), content_type="application/json")


# --- entry -------------------------------------------------------------------------------------------
def test_entry_page_names_the_institution_and_its_code(client, entry, institution):
    assert entry_url_for(institution) == url("entry", entry)  # one entry per institution
    response = client.get(url("entry", entry))
    assert response.status_code == 200
    html = response.content.decode()
    assert institution.name in html and institution.code in html
    assert url("about", entry, "home") in html and url("about", entry, "mine") in html


def test_wrong_or_rotated_token_is_a_plain_not_found(client, entry, institution):
    wrong = client.get("/consent/e/not-a-real-token/")
    old_url = url("entry", entry)
    rotated = do_rotate_entry_token(institution)
    after_rotation = client.get(old_url)
    for response in (wrong, after_rotation):
        assert response.status_code == 404
        html = response.content.decode()
        assert institution.name not in html and institution.code not in html
        assert 'data-problem="entry_not_found"' in html
    assert client.get(url("entry", rotated)).status_code == 200
    assert (
        AccessEvent.objects.filter(
            institution_code=institution.code, detail__action="consent_entry_token_rotated"
        ).count()
        == 1
    )


def test_rotation_ends_a_flow_started_from_the_old_token(client, entry, institution):
    walk_to_card(client, entry)
    rotated = do_rotate_entry_token(institution)
    assert client.get(url("confirm", entry, "home")).status_code == 404
    response = client.get(url("confirm", rotated, "home"))
    assert response.status_code == 302 and "session-expired" not in response["Location"]
    assert response["Location"] == reverse("consent:problem", args=[rotated.token, "session_expired"])


def test_qr_code_encodes_the_entry_url(client, entry):
    response = client.get(url("qr", entry))
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    expected = segno.make(f"http://testserver{url('entry', entry)}", error="m", micro=False)
    svg = response.content.decode()
    assert svg.startswith("<svg") and 'class="qrline"' in svg
    modules = re.compile(r'class="qrline"[^>]* d="([^"]+)"')
    assert modules.search(svg).group(1) == modules.search(expected.svg_inline(scale=8, border=4)).group(1)
    assert entry_qr_svg("http://a/1") != entry_qr_svg("http://a/2")


# --- headers, markup -------------------------------------------------------------------------------
def test_pages_send_a_content_security_policy_that_allows_only_self_and_the_bridge(client, entry, settings):
    settings.READER_BRIDGE_PORT = 47999
    walk_to_card(client, entry)
    response = client.get(url("card", entry, "home"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "connect-src 'self' ws://127.0.0.1:47999" in policy
    assert "unsafe-inline" not in policy and "http" not in policy.replace("ws://127.0.0.1", "")


def test_no_inline_script_or_style_and_the_pin_input_has_no_name(client, entry):
    pages = [client.get(url("entry", entry)), walk_to_card(client, entry)]
    pages.append(client.get(url("card", entry, "home")))
    for response in pages:
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
        assert " style=" not in html and "<style" not in html
        assert "//cdn" not in html and "https://" not in html
    card = pages[-1].content.decode()
    pin_input = re.search(r"<input[^>]*id=\"pin\"[^>]*>", card).group(0)
    assert " name=" not in pin_input and 'type="password"' in pin_input
    assert '<label for="pin">' in card


def test_every_control_is_labelled(client, entry):
    walk_to_card(client, entry)
    for step in ("items", "limit", "confirm"):
        html = client.get(url(step, entry, "home")).content.decode()
        for control in re.findall(r'<input(?![^>]*type="hidden")[^>]*id="([^"]+)"', html):
            assert f'<label for="{control}"' in html, (step, control)


# --- the flow ----------------------------------------------------------------------------------------
def test_confirm_summarises_what_is_and_is_not_shared(client, entry, institution):
    response = walk_to_card(client, entry, items=("medication",), limit="no")
    html = response.content.decode()
    shared = re.search(r'<ul id="summary-shared">(.*?)</ul>', html, re.S).group(1)
    not_shared = re.search(r'<ul id="summary-not-shared">(.*?)</ul>', html, re.S).group(1)
    assert "薬" in shared and "健康保険" in shared
    assert "健診" in not_shared and "限度額" in not_shared


def test_screens_out_of_order_lead_to_the_session_expired_page(client, entry):
    response = client.get(url("confirm", entry, "home"))
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 410 and 'data-problem="session_expired"' in page.content.decode()
    assert (
        "最初からやり直してください" in page.content.decode()
        and "有効時間が過ぎました" not in page.content.decode()
    )
    assert post_json(client, url("challenge", entry, "home"), {}).json()["problem"] == "session_expired"


def test_challenge_binds_institution_kind_and_items(client, entry, institution):
    walk_to_card(client, entry, items=("medication", "treatment"), limit="yes")
    body = post_json(client, url("challenge", entry, "home"), {}).json()
    challenge = CardAuthChallenge.objects.get(pk=body["challenge"])
    # the page gets the message itself (the bridge computes the digest), bound to the page's origin
    assert base64.b64decode(body["challenge_message"]) == challenge.message() and "digest_info" not in body
    assert json.loads(challenge.message())["origin"] == "http://testserver" == challenge.origin
    assert challenge.institution == institution and challenge.kind == "home_visit"
    assert challenge.items == ["limit_certificate", "medication", "qualification", "treatment"]


def test_signed_answer_registers_the_home_visit_consent(client, entry, person, card_key):
    walk_to_card(client, entry, items=("medication", "checkup"), limit="no")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.status_code == 200 and response.json()["next"] == url("done", entry, "home")
    consent = Consent.objects.get(person=person)
    assert consent.kind == "home_visit" and consent.items == ["checkup", "medication", "qualification"]
    assert consent.available_until is None and consent.status == ConsentStatus.ACTIVE
    done = client.get(url("done", entry, "home")).content.decode()
    assert "同意を登録しました" in done and "薬" in done


def test_the_answer_is_verified_and_its_consent_registered_in_one_commit(
    transactional_db, client, entry, person, card_key, monkeypatch
):
    # given the card step, with the connection's commits counted from the answer on
    from django.db import connections

    walk_to_card(client, entry, items=("medication",), limit="no")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    real, commits = connections["default"], []
    commit = real._commit
    monkeypatch.setattr(real, "_commit", lambda: commits.append(1) or commit())

    # when the signed answer arrives
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )

    # then the challenge's use, the consent, the draft and the log row commit together (the other
    # commit is the browser session's save)
    assert response.status_code == 200 and Consent.objects.filter(person=person).count() == 1
    assert len(commits) == 2
    assert CardAuthChallenge.objects.get(pk=issued["challenge"]).outcome == "verified"


def test_a_registration_refused_after_the_card_was_verified_keeps_the_challenge_used(
    client, entry, person, card_key
):
    # given the card step of a person whose qualification ended after the flow began
    walk_to_card(client, entry, items=("medication",), limit="no")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    Qualification.objects.filter(person=person).update(lost_on=datetime.date(2020, 4, 2))

    # when the signed answer arrives, then the registration is refused and nothing is stored
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.status_code == 403 and response.json()["problem"] == "no_valid_qualification"
    assert not Consent.objects.exists()
    assert not AccessEvent.objects.filter(detail__action="consent_registered").exists()
    # but the challenge stays used, with the card that answered it
    used = CardAuthChallenge.objects.get(pk=issued["challenge"])
    assert used.used_at is not None and used.outcome == "verified" and used.card_certificate_id


def test_answer_for_another_challenge_is_refused(client, entry, person, card_key):
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"] + 999, **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.json()["problem"] == "session_expired"
    assert not Consent.objects.exists()


def test_expired_certificate_is_refused_with_its_code(client, entry, person, trusted):
    pki = trusted
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.UTC)
    certificate = pki.issue_user_auth_certificate(
        key.public_key(),
        person.birth_date,
        not_before=now - datetime.timedelta(days=1000),
        not_after=now - datetime.timedelta(days=1),
    )
    do_register_card_certificate(person, certificate)
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    der = certificate.public_bytes(serialization.Encoding.DER)
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(key, der, issued["challenge_message"])},
    )
    assert response.status_code == 403
    assert response.json()["problem"] == "certificate_expired" and "市区町村" in response.json()["message"]
    assert not Consent.objects.exists()


def test_no_valid_qualification_is_refused_with_its_code(client, entry, person, card_key):
    person.qualifications.update(lost_on=datetime.date(2021, 1, 1), reason_of_loss="99")
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.json()["problem"] == "no_valid_qualification"


def test_telehealth_consent_is_for_the_chosen_visit_date(client, entry, person, card_key):
    visit = datetime.date.today() + datetime.timedelta(days=3)
    walk_to_card(client, entry, kind="telehealth", items=("medication",), visit_date=visit)
    issued = post_json(client, url("challenge", entry, "telehealth"), {}).json()
    assert CardAuthChallenge.objects.get(pk=issued["challenge"]).details["visit_date"] == visit.isoformat()
    post_json(
        client,
        url("answer", entry, "telehealth"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    consent = Consent.objects.get(person=person)
    assert (
        consent.kind == "telehealth" and consent.visit_date == visit and consent.available_until is not None
    )


def test_visit_date_in_the_past_is_asked_again(client, entry):
    start(client, entry, "telehealth")
    response = client.post(url("visit_date", entry), {"visit_date": "2000-01-01"})
    assert response.status_code == 400 and 'role="alert"' in response.content.decode()


# --- inquiry, update, cancel-all -------------------------------------------------------------------
def prove(client, entry, card_key):
    client.get(url("about", entry, "mine"))
    issued = post_json(client, url("challenge", entry, "mine"), {}).json()
    assert CardAuthChallenge.objects.get(pk=issued["challenge"]).kind == "inquiry"
    return post_json(
        client,
        url("answer", entry, "mine"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )


def link(html, element_id):
    """The href of the element with `element_id` (as the browser would follow it)."""
    return re.search(rf'href="([^"]+)" id="{element_id}"', html).group(1).replace("&amp;", "&")


def test_inquiry_shows_the_persons_consents_only_after_the_card(client, entry, person, card_key):
    walk_to_card(client, entry, items=("medication",), limit="no")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert client.get(url("mine", entry)).status_code == 302  # not proved yet
    assert prove(client, entry, card_key).json()["next"] == url("mine", entry)
    html = client.get(url("mine", entry)).content.decode()
    assert 'id="consent-list"' in html and "訪問" in html and "薬" in html
    # the institution is named as whom the consents are with, not as whom the patient is consenting to
    assert '<span class="consent-for-label">医療機関等</span>' in html and "同意する相手" not in html
    assert not Consent.objects.filter(kind="inquiry").exists()


def test_cancel_all_ends_every_consent_to_this_institution(client, entry, person, card_key):
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    prove(client, entry, card_key)
    mine = client.get(url("mine", entry)).content.decode()
    confirm = client.get(link(mine, "cancel-all"))
    assert confirm.status_code == 200
    step = re.search(r'name="step" value="([^"]+)"', confirm.content.decode()).group(1)
    response = client.post(url("cancel_all", entry), {"step": step})
    assert response.status_code == 200 and 'id="cancelled-title"' in response.content.decode()
    assert Consent.objects.get(person=person).status == ConsentStatus.CANCELLED
    assert client.get(url("mine", entry)).status_code == 302  # the proof is used up


def test_update_starts_from_the_current_items(client, entry, person, card_key):
    walk_to_card(client, entry, items=("treatment",), limit="yes")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    prove(client, entry, card_key)
    mine = client.get(url("mine", entry)).content.decode()
    client.get(link(mine, "update"))
    client.post(url("about", entry, "home"), {"flow": "home", "update": "1"})  # 始める
    html = client.get(url("items", entry, "home")).content.decode()
    assert re.search(r'id="item-treatment"[^>]*checked', html)
    assert not re.search(r'id="item-medication"[^>]*checked', html)


# --- language ----------------------------------------------------------------------------------------
def test_japanese_by_default_and_english_on_request(client, entry):
    japanese = client.get(url("entry", entry)).content.decode()
    assert 'lang="ja"' in japanese and "訪問" in japanese
    client.post(reverse("set_language"), {"language": "en", "next": url("entry", entry)})
    english = client.get(url("entry", entry)).content.decode()
    assert 'lang="en"' in english and "Consent for home visits" in english


def test_committed_messages_are_compiled(tmp_path):
    for language in ("ja", "en"):
        source = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
        compiled = tmp_path / f"{language}.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(compiled), str(source)], check=True)
        assert compiled.read_bytes() == source.with_suffix(".mo").read_bytes(), f"run msgfmt for {language}"


def answer_with_new_card(client, entry, person, pki, *, registered=True, revoke=False):
    """Walk to the card step and answer with a fresh certificate of the person from `pki`."""
    from homeconsent.jpki.pki import do_revoke_card_certificate

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = pki.issue_user_auth_certificate(key.public_key(), person.birth_date)
    row = do_register_card_certificate(person, certificate, registered_for_insurance_use=registered)
    if revoke:
        do_revoke_card_certificate(row.serial, pki=pki)
    walk_to_card(client, entry)
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    der = certificate.public_bytes(serialization.Encoding.DER)
    return post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(key, der, issued["challenge_message"])},
    )


def test_revoked_certificate_is_refused_with_its_code(client, entry, person, trusted):
    response = answer_with_new_card(client, entry, person, trusted, revoke=True)
    assert response.json()["problem"] == "certificate_revoked"
    assert not Consent.objects.exists()


def test_card_not_registered_for_insurance_use_is_refused_with_its_code(client, entry, person, trusted):
    response = answer_with_new_card(client, entry, person, trusted, registered=False)
    assert (
        response.json()["problem"] == "card_not_registered" and "マイナポータル" in response.json()["message"]
    )
    assert not Consent.objects.exists()


def test_failure_panels_exist_for_every_code_the_page_can_meet(client, entry):
    walk_to_card(client, entry)
    html = client.get(url("card", entry, "home")).content.decode()
    for code in (
        "bridge_unavailable",
        "no_reader",
        "no_card",
        "pin_locked",
        "certificate_expired",
        "certificate_revoked",
        "card_not_registered",
        "no_valid_qualification",
        "session_expired",
        "not_jpki_card",
        "pin_not_set",
        "busy",
        "card_removed",
        "consent_draft_ended",
    ):
        assert f'data-problem="{code}"' in html, code
    script = (ROOT / "static" / "js" / "consent-flow.js").read_text()
    for code in (
        "card_removed",
        "challenge_expired",
        "challenge_reused",
        "certificate_revoked",
        "card_not_registered",
        "consent_draft_ended",
        "consent_draft_not_confirmed",
    ):
        assert f"{code}:" in script, code


def test_qualification_only_site_is_not_offered_medical_items(client, institution):
    institution.qualification_only = True
    institution.save()
    entry = entry_for(institution)
    start(client, entry, "home")
    html = client.get(url("items", entry, "home")).content.decode()
    assert 'id="qualification-only"' in html and 'id="item-medication"' not in html
    client.post(url("items", entry, "home"), {"medication": "yes"})
    client.post(url("limit", entry, "home"), {"share_limit": "no"})
    client.post(url("confirm", entry, "home"), {"until": "care"})
    body = post_json(client, url("challenge", entry, "home"), {}).json()
    assert CardAuthChallenge.objects.get(pk=body["challenge"]).items == ["qualification"]


def test_app_session_fixes_date_and_items_until_it_is_done(client, entry, institution, person, card_key):
    from homeconsent.consent.telehealth import do_create_session, do_register_app

    app, _secret = do_register_app(
        "アプリ", institutions=[institution], allowed_return_urls=["https://app.example/back"]
    )
    visit = datetime.date.today() + datetime.timedelta(days=1)
    session = do_create_session(
        app,
        institution_code=institution.code,
        visit_date=visit,
        items=["qualification", "checkup"],
        return_url="https://app.example/back",
        state="s-1",
    )
    response = client.get(reverse("consent:session", args=[session.session_id]))
    assert response["Location"] == url("about", entry, "telehealth")
    about = client.get(response["Location"]).content.decode()
    assert url("visit_date", entry) not in about  # the app's booked date is shown, not asked
    # The screen that only showed the booked date is gone: its address goes on to the items.
    assert client.get(url("visit_date", entry))["Location"] == url("items", entry, "telehealth")
    client.post(url("about", entry, "telehealth"), {"flow": "telehealth"})  # 始める, same draft
    requested = client.get(url("items", entry, "telehealth")).content.decode()
    assert 'id="booked-visit-date"' in requested
    assert 'id="requested-items"' in requested and "健診" in requested and "薬剤" not in requested
    client.post(url("items", entry, "telehealth"))
    client.post(url("confirm", entry, "telehealth"))
    issued = post_json(client, url("challenge", entry, "telehealth"), {}).json()
    answer = post_json(
        client,
        url("answer", entry, "telehealth"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert answer.json()["next"] == url("done", entry, "telehealth")
    done = client.get(url("done", entry, "telehealth")).content.decode()
    assert "https://app.example/back?session_id=" in done and "state=s-1" in done
    # The session is done: the link cannot be used again, and a new telehealth flow asks for a date.
    assert client.get(reverse("consent:session", args=[session.session_id])).status_code == 410
    started = client.post(url("about", entry, "telehealth"), {"flow": "telehealth"})
    assert started["Location"] == url("visit_date", entry)
    assert client.get(reverse("consent:session", args=["nope"])).status_code == 404


def test_the_card_proof_ends_when_the_next_person_starts_on_the_device(client, entry, person, card_key):
    prove(client, entry, card_key)
    assert client.get(url("mine", entry)).status_code == 200
    client.get(url("entry", entry))  # the device is handed to the next patient
    assert client.get(url("mine", entry)).status_code == 302
    assert client.get(url("cancel_all", entry)).status_code == 302
    prove(client, entry, card_key)
    start(client, entry, "home")
    assert client.get(url("mine", entry)).status_code == 302


def test_home_visit_end_date_is_bound_into_the_challenge_and_registered(client, entry, person, card_key):
    walk_to_card(client, entry, items=("medication",), limit="no")
    end = timezone.localdate(timezone=TOKYO) + datetime.timedelta(days=400)
    response = client.post(url("confirm", entry, "home"), {"until": "date", "until_date": end.isoformat()})
    assert response.status_code == 302 and response["Location"] == url("card", entry, "home")
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    challenge = CardAuthChallenge.objects.get(pk=issued["challenge"])
    assert "available_until" in challenge.details
    response = post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert response.status_code == 200
    consent = Consent.objects.get(person=person)
    assert consent.available_until.isoformat() == challenge.details["available_until"]
    assert (consent.available_until - datetime.timedelta(seconds=1)).astimezone(TOKYO).date() == end
    done = client.get(url("done", entry, "home")).content.decode()
    assert 'id="done-until"' in done and f"{end.year}年{end.month}月{end.day}日" in done


def test_home_visit_without_an_end_date_lasts_until_care_ends(client, entry, person, card_key):
    walk_to_card(client, entry, items=("medication",), limit="no")
    assert client.post(url("confirm", entry, "home"), {"until": "care"}).status_code == 302
    issued = post_json(client, url("challenge", entry, "home"), {}).json()
    assert "available_until" not in CardAuthChallenge.objects.get(pk=issued["challenge"]).details
    post_json(
        client,
        url("answer", entry, "home"),
        {"challenge": issued["challenge"], **card_answer(*card_key, issued["challenge_message"])},
    )
    assert Consent.objects.get(person=person).available_until is None
    assert "診療が続く間（取り消すまで）" in client.get(url("done", entry, "home")).content.decode()


def test_end_date_beyond_five_years_or_in_the_past_is_asked_again(client, entry):
    walk_to_card(client, entry)
    today = timezone.localdate(timezone=TOKYO)
    for day in (today - datetime.timedelta(days=1), today + datetime.timedelta(days=5 * 366 + 1), "tomorrow"):
        response = client.post(url("confirm", entry, "home"), {"until": "date", "until_date": str(day)})
        assert response.status_code == 400 and 'id="until-error"' in response.content.decode()


def test_telehealth_card_page_says_a_reader_on_this_device_is_needed_not_a_phone(client, entry):
    visit = datetime.date.today() + datetime.timedelta(days=3)
    walk_to_card(client, entry, kind="telehealth", items=("medication",), visit_date=visit)
    html = client.get(url("card", entry, "telehealth")).content.decode()
    assert 'id="device-needs"' in html and "スマートフォン" in html and "デジタル認証アプリ" in html
    assert 'id="device-needs"' in client.get(url("about", entry, "telehealth")).content.decode()
