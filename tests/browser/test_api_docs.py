"""The API reference pages in Chromium: Redoc and Swagger UI render the served schema, and nothing
goes to another server (Redoc's footer asks for its logo from its CDN; the page's CSP blocks it)."""

from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def visit(browser, live_server, path, ready):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    requested, blocked, errors = [], [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on(
        "requestfailed",
        lambda request: "csp" in (request.failure or "").lower() and blocked.append(request.url),
    )
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    response = page.goto(live_server.url + path)
    page.wait_for_function("text => document.body.innerText.includes(text)", arg=ready, timeout=20_000)
    page.wait_for_load_state("networkidle")
    text = page.inner_text("body")
    context.close()
    own = urlsplit(live_server.url).netloc
    foreign = [
        url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != own
    ]
    sent = [url for url in foreign if url not in blocked]
    # The only console errors allowed are the CSP refusals of Redoc's logo (the console message and
    # the failed request arrive in either order).
    errors = [e for e in errors if REDOC_LOGO not in e and not any(url in e for url in blocked)]
    return response.headers, text, sent, blocked, errors


def test_redoc_renders_the_schema_and_sends_nothing_off_site(browser, live_server):
    headers, text, sent, blocked, errors = visit(
        browser, live_server, "/api/v1/docs", "Consented patients (home visit, telehealth)"
    )

    assert "Get an access token (client_credentials + private_key_jwt)" in text
    assert "Batch pre-check (一括照会)" in text
    assert "script-src 'self';" in headers["content-security-policy"]
    assert sent == [] and set(blocked) <= {REDOC_LOGO}
    assert errors == []


def test_swagger_ui_renders_the_operations_and_sends_nothing_off_site(browser, live_server):
    headers, text, sent, blocked, errors = visit(
        browser, live_server, "/api/v1/docs/try", "/api/v1/patients/{patient_id}/eligibility"
    )

    assert "Authorize" in text and "/api/v1/auth/token" in text
    assert sent == [] and blocked == [] and errors == []
