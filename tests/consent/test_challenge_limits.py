"""Issuing card-auth challenges from the public pages is rate limited; stale challenges are purged."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from homeconsent.consent.challenges import issue_challenge
from homeconsent.consent.entry import entry_for
from homeconsent.consent.models import CardAuthChallenge

from .conftest import PageClient
from .test_pages import url, walk_to_card

PORTAL_SIGNIN_CHALLENGE = "/portal/card/signin/challenge"


@pytest.fixture
def entry(institution):
    return entry_for(institution)


@pytest.fixture
def limits(settings):
    settings.CHALLENGE_RATE_WINDOW = datetime.timedelta(minutes=10)
    settings.CHALLENGE_RATE_LIMITS = {"ip": 0, "entry": 0, "session": 0}
    return settings.CHALLENGE_RATE_LIMITS


def ask(client, entry, **extra):
    return client.post(url("challenge", entry, "home"), "{}", content_type="application/json", **extra)


def test_a_consent_session_past_its_limit_gets_a_coded_429_and_no_new_challenge(client, entry, limits):
    limits["session"] = 3
    walk_to_card(client, entry)
    assert [ask(client, entry).status_code for _ in range(3)] == [200, 200, 200]

    refused = ask(client, entry)

    assert refused.status_code == 429 and refused["Retry-After"] == "600"
    body = refused.json()
    assert body["problem"] == "challenge_rate_limited" and "10分" in body["message"]
    assert CardAuthChallenge.objects.count() == 3
    # another browser session on another address is not held back by this one
    other = PageClient()
    walk_to_card(other, entry)
    assert ask(other, entry, REMOTE_ADDR="10.0.0.2").status_code == 200


def test_one_client_address_is_limited_across_browser_sessions(entry, limits):
    limits["ip"] = 2
    browsers = [PageClient() for _ in range(3)]
    for browser in browsers:
        walk_to_card(browser, entry)

    answers = [ask(browser, entry, REMOTE_ADDR="192.0.2.7").status_code for browser in browsers]

    assert answers == [200, 200, 429]
    assert ask(browsers[2], entry, REMOTE_ADDR="192.0.2.8").status_code == 200


def test_one_entry_url_is_limited_across_addresses_and_sessions(entry, institution, limits):
    limits["entry"] = 2
    browsers = [PageClient() for _ in range(3)]
    for browser in browsers:
        walk_to_card(browser, entry)

    answers = [
        ask(browser, entry, REMOTE_ADDR=f"192.0.2.{n}").status_code for n, browser in enumerate(browsers)
    ]

    assert answers == [200, 200, 429]


def test_the_english_pages_explain_the_limit_in_english(client, entry, limits):
    limits["session"] = 1
    client.cookies["django_language"] = "en"
    walk_to_card(client, entry)
    ask(client, entry)

    body = ask(client, entry).json()

    assert body["problem"] == "challenge_rate_limited" and "too many times" in body["message"]


def test_the_portal_sign_in_challenge_is_limited_per_session_and_address(client, db, limits):
    limits.update(session=2, ip=5)
    assert [client.post(PORTAL_SIGNIN_CHALLENGE).status_code for _ in range(3)] == [200, 200, 429]
    refused = client.post(PORTAL_SIGNIN_CHALLENGE)
    assert refused.json()["problem"] == "challenge_rate_limited" and refused["Retry-After"] == "600"
    assert CardAuthChallenge.objects.filter(purpose="portal_login").count() == 2
    # a fresh session from the same address gets the address's last one (refused asks count too)
    other = PageClient()
    assert [other.post(PORTAL_SIGNIN_CHALLENGE).status_code for _ in range(2)] == [200, 429]


def test_an_unreachable_cache_does_not_stop_patients(client, db, limits, settings):
    limits.update(session=1, ip=1)
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }

    answers = [client.post(PORTAL_SIGNIN_CHALLENGE).status_code for _ in range(3)]

    assert answers == [200, 200, 200]


# --- purge_challenges -----------------------------------------------------------------------------
def test_purge_deletes_only_unused_challenges_expired_for_more_than_a_day(institution):
    now = timezone.now()
    long_ago = now - datetime.timedelta(days=3)
    stale = [issue_challenge("consent", institution, ["qualification"], now=long_ago) for _ in range(3)]
    used = issue_challenge("consent", institution, ["qualification"], now=long_ago)
    CardAuthChallenge.objects.filter(pk=used.pk).update(used_at=long_ago, outcome="certificate_revoked")
    recent = issue_challenge(
        "consent", institution, ["qualification"], now=now - datetime.timedelta(hours=20)
    )
    fresh = issue_challenge("portal_login")
    out = io.StringIO()

    call_command("purge_challenges", stdout=out)

    assert out.getvalue().strip() == "deleted 3 unused expired challenge(s)"
    remaining = set(CardAuthChallenge.objects.values_list("pk", flat=True))
    assert remaining == {used.pk, recent.pk, fresh.pk}
    assert not remaining & {c.pk for c in stale}


def test_purge_keeps_the_challenge_a_consent_was_proved_with(patient, institution):
    from .test_services import register

    consent = register(patient, institution)
    CardAuthChallenge.objects.filter(pk=consent.challenge_id).update(
        expires_at=timezone.now() - datetime.timedelta(days=30)
    )

    call_command("purge_challenges", "--days", "0", stdout=io.StringIO())

    assert CardAuthChallenge.objects.filter(pk=consent.challenge_id).exists()


def test_behind_a_load_balancer_the_forwarded_client_address_is_limited(entry, limits, settings):
    limits["ip"] = 1
    settings.CLIENT_IP_PROXY_COUNT = 1
    first, second, third = PageClient(), PageClient(), PageClient()
    for browser in (first, second, third):
        walk_to_card(browser, entry)
    balancer = {"REMOTE_ADDR": "10.0.0.1"}

    assert ask(first, entry, HTTP_X_FORWARDED_FOR="198.51.100.1", **balancer).status_code == 200
    # another patient behind the same balancer is not held back; a forged left-hand entry changes nothing
    assert ask(second, entry, HTTP_X_FORWARDED_FOR="198.51.100.2", **balancer).status_code == 200
    assert ask(third, entry, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.1", **balancer).status_code == 429
