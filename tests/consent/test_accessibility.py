"""What the accessibility review asked of the consent pages, as far as HTML shows it: page titles that
name the error, the step, the flow and the institution; invalid fields marked and described; the card
step's always-present status and alert regions; plain words for a missing reader bridge; the code for
enquiries; Japanese marked on English pages; a way out of an unknown entry."""

import datetime
import re

from django.urls import reverse
from django.utils import timezone

from homeconsent.consent.rules import TOKYO
from tests.consent.test_pages import entry, institution, start, url, walk_to_card  # noqa: F401 (fixtures)


def title_of(response):
    return re.search(r"<title>(.*?)</title>", response.content.decode(), re.S).group(1).strip()


def in_english(client, entry):
    client.post(reverse("set_language"), {"language": "en", "next": url("entry", entry)})


def test_first_steps_of_the_two_flows_have_different_titles_with_step_and_institution(
    client, entry, institution
):
    # when the patient opens the first step of each flow
    home = title_of(client.get(url("about", entry, "home")))
    telehealth = title_of(client.get(url("about", entry, "telehealth")))
    # then each title names the step, its number, the flow and the institution
    assert home.startswith("この手続きについて（1/5）") and "訪問診療" in home and institution.name in home
    assert telehealth.startswith("この手続きについて（1/6）") and institution.name in telehealth
    assert home != telehealth


def test_card_step_title_counts_the_last_step(client, entry):
    walk_to_card(client, entry)
    assert "（5/5）" in title_of(client.get(url("card", entry, "home")))


def test_unanswered_limit_question_marks_the_radios_and_says_error_in_the_title(client, entry):
    # given the patient reached the 限度額 question
    start(client, entry, "home")
    client.post(url("items", entry, "home"), {"medication": "yes"})
    # when they press 次へ without answering
    response = client.post(url("limit", entry, "home"), {})
    html = response.content.decode()
    # then the title starts with エラー：, both radios are invalid and described by the message
    assert response.status_code == 400 and title_of(response).startswith("エラー：")
    for radio in re.findall(r'<input type="radio"[^>]*>', html):
        assert 'aria-invalid="true"' in radio and 'aria-describedby="limit-error"' in radio
    assert re.search(r'id="limit-error" role="alert" tabindex="-1"', html)
    assert "js/consent-flow.js" in html  # moves focus to the message


def test_answered_limit_question_has_no_error_marks(client, entry):
    start(client, entry, "home")
    client.post(url("items", entry, "home"), {})
    response = client.get(url("limit", entry, "home"))
    assert "aria-invalid" not in response.content.decode() and not title_of(response).startswith("エラー")


def test_visit_date_in_the_past_is_an_error_in_the_title(client, entry):
    start(client, entry, "telehealth")
    yesterday = timezone.localdate(timezone=TOKYO) - datetime.timedelta(days=1)
    response = client.post(url("visit_date", entry), {"visit_date": yesterday.isoformat()})
    html = response.content.decode()
    assert title_of(response).startswith("エラー：")
    assert re.search(
        r'<input type="date" id="visit_date"[^>]*aria-describedby="visit_date_help visit_date_error"[^>]*aria-invalid="true"',
        html,
    )


def test_bad_end_date_is_an_error_in_the_title_and_marks_the_date(client, entry):
    walk_to_card(client, entry)
    response = client.post(url("confirm", entry, "home"), {"until": "date", "until_date": "1999-01-01"})
    html = response.content.decode()
    assert response.status_code == 400 and title_of(response).startswith("エラー：")
    assert re.search(r'id="until-date-value"[^>]*aria-invalid="true" aria-describedby="until-error"', html)


def test_card_step_has_always_present_status_and_alert_regions(client, entry):
    walk_to_card(client, entry)
    html = client.get(url("card", entry, "home")).content.decode()
    status = re.search(
        r'<p class="visually-hidden" role="status" aria-live="polite" data-card-status([^>]*)>', html
    )
    assert status and "data-say-reading=" in status.group(1) and "data-say-sending=" in status.group(1)
    assert re.search(
        r'<p class="visually-hidden" role="alert" data-card-alert data-error-prefix="エラー：">', html
    )
    # Regions are written by script, never only unhidden: no section of the step is itself live.
    assert not re.search(r'class="card-step"[^>]*aria-live', html)


def test_portal_card_step_has_the_status_region(client):
    html = client.get(reverse("portal:signin")).content.decode()
    assert 'role="status" aria-live="polite" data-card-status' in html and "data-card-alert" in html


def test_bridge_unavailable_speaks_plainly_to_the_patient(client, entry):
    walk_to_card(client, entry)
    html = client.get(url("card", entry, "home")).content.decode()
    panel = re.search(
        r'<section class="problem" data-problem="bridge_unavailable".*?</section>', html, re.S
    ).group(0)
    # then the patient reads what to do; the program's name and command are for staff, folded away
    assert "カードを読み取る準備ができていません。職員にお知らせください。" in panel
    before_details = panel.split("<details")[0]
    assert "reader_bridge" not in before_details and "リーダーブリッジ" not in before_details
    # no shell command nor internal name anywhere on a patient's page, not even for staff
    assert "reader_bridge" not in panel and "manage.py" not in panel and "--device" not in panel
    assert "最初からやり直す" in panel and "中止する" in panel


def test_pin_help_leads_with_four_digits(client, entry):
    walk_to_card(client, entry)
    html = client.get(url("card", entry, "home")).content.decode()
    assert re.search(r'id="pin-help">数字4桁の暗証番号', html)


def test_items_explain_what_the_insurance_status_is(client, entry):
    start(client, entry, "home")
    html = client.get(url("items", entry, "home")).content.decode()
    assert "健康保険の資格（加入している保険・負担割合）" in html


def test_error_code_is_labelled_for_enquiries_and_marked_english(client, entry):
    html = client.get("/consent/e/not-a-real-token/").content.decode()
    assert (
        'お問い合わせ用コード: <span class="code" lang="en" translate="no" data-error-code>entry_not_found</span>'
        in html
    )


def test_unknown_entry_links_to_the_start_page_and_says_error(client, db):
    response = client.get("/consent/e/not-a-real-token/")
    html = response.content.decode()
    assert response.status_code == 404 and title_of(response).startswith("エラー：")
    assert f'href="{reverse("home")}" id="to-start"' in html


def test_english_pages_mark_the_institution_name_as_japanese(client, entry, institution):
    in_english(client, entry)
    response = client.get(url("about", entry, "home"))
    html = response.content.decode()
    assert f'<strong class="consent-for-name" lang="ja">{institution.name}</strong>' in html
    assert title_of(response).startswith("What this is (step 1 of 5)")
