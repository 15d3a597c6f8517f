"""The portal for elderly patients and screen-reader users: full page titles, the current page in the nav,
tables that scroll in their own box, no text below 16 px, plain words, Japanese data marked as Japanese."""

import re
from pathlib import Path

import pytest
from django.conf import settings

PAGES = ["home", "qualifications", "medication", "checkups", "treatment", "expenses", "consents", "access"]
URLS = {name: "/portal/" if name == "home" else f"/portal/{name}/" for name in PAGES}
PORTAL_CSS = Path(settings.BASE_DIR) / "static" / "css" / "portal.css"


def text(response):
    assert response.status_code == 200
    return response.content.decode()


def main(body):
    return body.split("<main", 1)[-1]


def in_english(client):
    client.cookies["django_language"] = "en"
    return client


def test_each_title_names_the_section_the_portal_and_the_service(signed_in, me):
    # given a signed-in patient
    # when they open the medicines page, in Japanese and in English
    ja = text(signed_in.get("/portal/medication/"))
    en = text(in_english(signed_in).get("/portal/medication/"))

    # then the title reads section | わたしの記録 | service name
    assert re.search(r"<title>わたしのお薬 \| わたしの記録 \| HomeConsent[^<]*</title>", ja), ja[:400]
    assert re.search(r"<title>My medicines \| My records \| HomeConsent</title>", en), en[:400]


@pytest.mark.parametrize("page", PAGES)
def test_the_nav_marks_only_the_current_page(signed_in, me, page):
    # when a patient opens a portal page
    nav = text(signed_in.get(URLS[page])).split('class="portal-nav"', 1)[1].split("</nav>", 1)[0]

    # then exactly that page's link carries aria-current="page"
    current = re.findall(r'<a href="([^"]+)" aria-current="page">', nav)
    assert current == [URLS[page]]


def test_the_nav_style_shows_the_current_page_not_by_colour_alone():
    css = PORTAL_CSS.read_text()
    rule = re.search(r"\.portal-nav a\[aria-current\][^{]*\{([^}]*)\}", css)
    assert rule and "background" in rule.group(1) and "font-weight: 700" in rule.group(1)


@pytest.mark.parametrize("page", ["expenses", "treatment", "checkups", "access"])
def test_every_data_table_scrolls_in_a_focusable_named_region(signed_in, me, page):
    # when a patient opens a page with tables
    body = main(text(signed_in.get(URLS[page])))

    # then each table sits in its own scroll box: keyboard-focusable, a region named by the table's caption
    tables = body.count('<table class="data')
    boxes = re.findall(
        r'<div class="table-scroll" tabindex="0" role="region" aria-labelledby="([^"]+)">\s*<table '
        r'class="data[^"]*">\s*<caption id="([^"]+)">',
        body,
    )
    assert tables and len(boxes) == tables
    assert all(label == caption for label, caption in boxes)
    assert len({label for label, _ in boxes}) == tables  # ids are unique on the page


def test_no_portal_text_is_set_below_16_px():
    css = PORTAL_CSS.read_text()
    sizes = [float(v) for v in re.findall(r"font-size:\s*([\d.]+)rem", css)]
    assert sizes and min(sizes) >= 1
    assert "0.9375rem" not in css and "0.875rem" not in css


def test_phone_table_labels_use_the_languages_colon():
    # the full-width colon only on Japanese pages; English gets ": "
    css = PORTAL_CSS.read_text()
    assert 'table.stack td::before { content: attr(data-label) ": ";' in css
    assert 'html:lang(ja) table.stack td::before { content: attr(data-label) "："; }' in css


def test_home_explains_each_part_in_plain_words(signed_in, me):
    body = main(text(signed_in.get("/portal/")))
    for jargon in ("レセプト", "経年変化", "診療行為", "根拠", "CSV", "資格情報"):
        assert jargon not in body, jargon
    assert "健康保険の資格（加入している保険・負担割合）" in body
    assert "どんな理由で" in body


def test_insurance_page_says_what_eligibility_means(signed_in, me):
    body = main(text(signed_in.get("/portal/qualifications/")))
    assert "<h1>わたしの健康保険</h1>" in body
    assert "健康保険の資格（加入している保険・負担割合）" in body and "資格情報" not in body


def test_access_log_reads_in_plain_words(signed_in, me, clinic):
    from homeconsent.audit.services import record_access

    # given a clinic that read the patient's medicines and insurance under a consent
    record_access(
        actor_type="institution_staff",
        actor_id="staff-1",
        person=me.person,
        items=["qualification", "medication"],
        basis="consent",
        institution_code=clinic.code,
    )

    # when the patient opens who looked
    body = main(text(signed_in.get("/portal/access/")))
    row = body.split('data-actor="institution_staff"', 1)[1].split("</tr>", 1)[0]

    # then the row says why and what happened in plain words
    assert 'data-label="どんな理由で"' in row and 'data-label="したこと"' in row
    assert ">情報を見た<" in row and ">情報を見せた<" in row
    assert "健康保険の資格（加入している保険・負担割合）" in row
    for jargon in ("根拠", ">内容<", '"内容"', ">提供<", ">閲覧<", "資格情報（保険）"):
        assert jargon not in body, jargon


def test_english_pages_mark_japanese_data_as_japanese(signed_in, me, clinic):
    from homeconsent.audit.services import record_access

    record_access(
        actor_type="institution_client",
        actor_id="c",
        person=me.person,
        items=["medication"],
        basis="consent",
        institution_code=clinic.code,
    )
    client = in_english(signed_in)

    # when the patient reads their records in English
    expenses = main(text(client.get("/portal/expenses/")))
    medicines = main(text(client.get("/portal/medication/")))
    treatment = main(text(client.get("/portal/treatment/")))
    access = main(text(client.get("/portal/access/")))

    # then institution, medicine and procedure names carry lang="ja"; the English around them does not
    assert f'<td lang="ja">{clinic.name}' in expenses
    assert re.search(r'<p class="record-title"><span lang="ja">[^<]+</span>', medicines)
    assert f'<td lang="ja">{clinic.name}</td><td><span lang="ja">' in treatment
    assert f'<span lang="ja">{clinic.name}</span>&#x27;s system' in access
    assert 'data-label="Reason"' in access and ">Information shown<" in access
