"""Telehealth apps cannot point HomeConsent at loopback, private or link-local addresses outside
DEBUG: refused at registration when written in the URL, refused at send time when a name resolves
there. The embedded default stays permissive for test receivers on 127.0.0.1."""

import pytest

from homeconsent.consent import telehealth
from homeconsent.consent.models import TelehealthApp
from homeconsent.consent.webhooks import attempt_delivery, enqueue_webhook
from homeconsent.errors import HomeConsentError

pytestmark = pytest.mark.django_db

PUBLIC = "https://tele.example.jp/visits/return"
NOT_PUBLIC = [
    "http://localhost:8000/return",
    "https://localhost/return",
    "https://app.localhost/return",
    "https://127.0.0.1/return",
    "https://10.0.0.5/return",
    "https://172.16.3.4/return",
    "https://192.168.1.1/return",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/return",
    "https://0.0.0.0/return",
    "https://[::1]/return",
    "https://[fe80::1]/return",
    "https://[fd00::1]/return",
    "https://[::ffff:10.0.0.1]/return",
    "http://tele.example.jp/return",
]


@pytest.fixture
def strict(settings):
    settings.DEBUG, settings.CONSENT_APP_URLS_ALLOW_LOCAL = False, False
    return settings


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_a_local_or_private_url_is_refused_at_registration(strict, institution, url):
    # when an app names the address as its return URL, or as its webhook
    with pytest.raises(HomeConsentError) as as_return:
        telehealth.do_register_app("みらい", institutions=[institution], allowed_return_urls=[url])
    with pytest.raises(HomeConsentError) as as_webhook:
        telehealth.do_register_app(
            "みらい", institutions=[institution], allowed_return_urls=[PUBLIC], webhook_url=url
        )

    # then both are refused with a code and a message saying what to give instead
    assert as_return.value.code == as_webhook.value.code == "telehealth_app_url_not_public"
    assert "https" in as_return.value.message("ja") and "https" in as_return.value.message("en")
    assert not TelehealthApp.objects.exists()


def test_a_public_https_url_is_accepted(strict, institution):
    app, _ = telehealth.do_register_app(
        "みらい",
        institutions=[institution],
        allowed_return_urls=[PUBLIC],
        webhook_url="https://tele.example.jp/hooks",
    )
    assert app.allowed_return_urls == [PUBLIC]


def test_the_embedded_default_keeps_local_receivers_for_testing(settings, institution, webhook_receiver):
    assert settings.CONSENT_APP_URLS_ALLOW_LOCAL is True
    settings.DEBUG = False
    app, _ = telehealth.do_register_app(
        "みらい",
        institutions=[institution],
        allowed_return_urls=["http://127.0.0.1:9/r"],
        webhook_url=webhook_receiver.url,
    )
    assert app.webhook_url == webhook_receiver.url


@pytest.mark.parametrize("scheme", ["https://localhost", "http://127.0.0.1"])
def test_a_webhook_to_a_name_resolving_to_loopback_is_not_sent(
    settings, institution, webhook_receiver, scheme
):
    # given an app whose webhook host now resolves to loopback (localhost: /etc/hosts), a listener there
    app, _ = telehealth.do_register_app(
        "みらい", institutions=[institution], allowed_return_urls=[PUBLIC], webhook_url=webhook_receiver.url
    )
    port = webhook_receiver.server.server_address[1]
    TelehealthApp.objects.filter(pk=app.pk).update(webhook_url=f"{scheme}:{port}/hooks/homeconsent")
    app.refresh_from_db()
    settings.DEBUG, settings.CONSENT_APP_URLS_ALLOW_LOCAL, settings.CONSENT_WEBHOOK_INLINE = (
        False,
        False,
        "off",
    )
    delivery = enqueue_webhook(app, "session.completed", {"session_id": "s"})

    # when the delivery is attempted
    status = attempt_delivery(delivery.pk)

    # then nothing reached the listener and the attempt failed with the reason kept
    delivery.refresh_from_db()
    assert status == "pending" and delivery.attempts == 1
    assert webhook_receiver.requests == []
    assert delivery.last_error
    if scheme.startswith("https"):
        assert "non-public address (127.0.0.1)" in delivery.last_error
