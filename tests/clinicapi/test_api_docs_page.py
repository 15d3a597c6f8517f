"""The API reference page's markup: English content says lang="en", a <main> landmark, its own
stylesheet (no inline style under the CSP) with 44px bar links and a focus ring over Redoc."""

import re
from pathlib import Path

from django.conf import settings


def test_the_docs_page_is_english_with_a_main_landmark_and_no_inline_style(client):
    # when the reference is opened
    html = client.get("/api/v1/docs").content.decode()
    # then it declares its real language, has a main landmark around Redoc and a stylesheet file
    assert '<html lang="en">' in html
    assert re.search(r'<main id="main">\s*<div id="redoc-container"', html)
    assert "<style" not in html and " style=" not in html
    assert "/static/css/api-docs.css" in html


def test_the_docs_stylesheet_gives_44px_bar_links_and_a_focus_ring_inside_redoc():
    css = (Path(settings.BASE_DIR) / "static/css/api-docs.css").read_text()
    assert re.search(r"\.api-docs-bar a \{[^}]*min-height: 44px", css)
    assert "#redoc-container a:focus-visible" in css and "#redoc-container button:focus-visible" in css
