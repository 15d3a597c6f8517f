"""The live board's socket (channels.testing.WebsocketCommunicator on the project's ASGI application,
Origin check and session auth included): who may connect, what reaches whom, catching up, closing.

Each scenario runs once on the in-memory layer and, when Redis answers on loopback (REDIS_URL or
127.0.0.1:6379), once on channels_redis in a database of its own.
"""

import datetime
import os
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffMembership
from homeconsent.consent.services import do_cancel_consent

from .conftest import PASSWORD, sign_in

# Consumers reach the database through database_sync_to_async, which closes connections that are
# inside a transaction (PostgreSQL): these tests commit for real, as the server does.
pytestmark = pytest.mark.django_db(transaction=True)

SOCKET = "/ws/console/events/"
ORIGIN = (b"origin", b"http://testserver")


def _redis_url():
    """The Redis of this run (REDIS_URL, else loopback's database 15), or None when none answers. Each test
    keeps its keys under a prefix of its own and deletes them afterwards, so nothing outlives the run."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except Exception:  # noqa: BLE001 - no Redis: the Redis variant is skipped
        return None
    return url


@pytest.fixture(params=["memory", "redis"])
def layer(request, settings):
    if request.param == "memory":
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        yield request.param
        return
    url = _redis_url()
    if url is None:
        pytest.skip("Redis does not answer on loopback")
    prefix = f"hc-test-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, **django_settings.CHANNEL_REDIS_HOST_OPTIONS}],
                "prefix": prefix,
                "group_expiry": 120,  # a key a crashed run leaves behind still goes within minutes
                "expiry": 30,
            },
        }
    }
    yield request.param
    _drop_keys(url, prefix)


def _drop_keys(url, prefix) -> int:
    import redis

    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    return len(keys)


def communicator(client=None, origin=ORIGIN):
    from homeconsent.asgi import application

    headers = [origin] if origin else []
    if client is not None:
        headers.append(
            (
                b"cookie",
                f"{django_settings.SESSION_COOKIE_NAME}={client.cookies[django_settings.SESSION_COOKIE_NAME].value}".encode(),
            )
        )
    return WebsocketCommunicator(application, SOCKET, headers=headers)


def run(scenario):
    async_to_sync(scenario)()


def committed(capture, fn, *args, **kwargs):
    """Run a service and its after-commit publishing (the test's transaction never commits)."""

    def call():
        with capture(execute=True):
            return fn(*args, **kwargs)

    return database_sync_to_async(call)()


def test_a_verified_staff_session_receives_its_institutions_events(
    layer, signed_in, make_patient, institution, register, django_capture_on_commit_callbacks
):
    patient = make_patient()

    async def scenario():
        ws = communicator(signed_in)
        connected, _ = await ws.connect()
        assert connected
        consent = await committed(django_capture_on_commit_callbacks, register, patient, institution)
        message = await ws.receive_json_from(timeout=5)
        assert message["type"] == "consent" and message["event"] == "registered"
        assert message["consent_id"] == consent.pk and message["id"] == f"{consent.pk}.registered"
        assert "person_id" not in message  # the board shows no personal data
        await committed(
            django_capture_on_commit_callbacks, do_cancel_consent, consent, by="patient", actor_id="p"
        )
        message = await ws.receive_json_from(timeout=5)
        assert message["event"] == "cancelled" and message["consent_id"] == consent.pk
        await ws.disconnect()

    run(scenario)


def test_events_of_another_institution_are_never_delivered(
    layer,
    signed_in,
    make_staff,
    other_institution,
    institution,
    make_patient,
    register,
    django_capture_on_commit_callbacks,
):
    other_client = sign_in(Client(), make_staff(other_institution, "aozora-admin"))
    patient = make_patient()

    async def scenario():
        mine, theirs = communicator(signed_in), communicator(other_client)
        assert (await mine.connect())[0] and (await theirs.connect())[0]
        other_consent = await committed(
            django_capture_on_commit_callbacks, register, patient, other_institution
        )
        got = await theirs.receive_json_from(timeout=5)
        assert got["consent_id"] == other_consent.pk
        own = await committed(django_capture_on_commit_callbacks, register, patient, institution)
        first = await mine.receive_json_from(timeout=5)
        # The first thing this board hears is its own institution's consent, never the other one.
        assert first["consent_id"] == own.pk
        assert await mine.receive_nothing(timeout=0.3)
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_sessions_without_otp_verification_are_refused(layer, admin):
    client = Client()
    client.force_login(admin.membership.user)  # password-level login only: no OTP device in the session
    half = Client()
    assert (
        half.post("/console/signin/", {"username": admin.username, "password": PASSWORD}).status_code == 302
    )

    async def scenario():
        for c in (client, half, None):
            ws = communicator(c) if c is None or c.cookies else communicator()
            connected, code = await ws.connect()
            assert not connected, c
            await ws.disconnect()

    run(scenario)


def test_a_foreign_origin_is_refused(layer, signed_in):
    async def scenario():
        ws = communicator(signed_in, origin=(b"origin", b"https://evil.example"))
        connected, _ = await ws.connect()
        assert not connected
        await ws.disconnect()

    run(scenario)


def test_missed_events_are_fetched_after_a_dropped_connection(
    layer, signed_in, make_patient, institution, register, django_capture_on_commit_callbacks
):
    patient, later = make_patient(), make_patient(card=1)

    async def scenario():
        ws = communicator(signed_in)
        assert (await ws.connect())[0]
        seen = await committed(django_capture_on_commit_callbacks, register, patient, institution)
        last = await ws.receive_json_from(timeout=5)
        assert last["consent_id"] == seen.pk
        await ws.disconnect()  # the connection drops …
        missed = await committed(
            django_capture_on_commit_callbacks,
            register,
            later,
            institution,
            kind="telehealth",
            visit_date=datetime.date.today() + datetime.timedelta(days=1),
        )
        cancelled = await committed(
            django_capture_on_commit_callbacks, do_cancel_consent, seen, by="patient", actor_id="p"
        )
        # … and the board asks for what happened since the last event it saw.
        response = await database_sync_to_async(signed_in.get)("/console/events.json", {"since": last["at"]})
        assert response.status_code == 200
        ids = [e["id"] for e in response.json()["events"]]
        assert f"{missed.pk}.registered" in ids and f"{cancelled.pk}.cancelled" in ids
        assert ids.index(f"{missed.pk}.registered") < ids.index(f"{cancelled.pk}.cancelled")
        again = communicator(signed_in)
        assert (await again.connect())[0]
        await again.disconnect()

    run(scenario)


def test_sign_out_everywhere_closes_open_boards_and_refuses_them_again(
    layer, signed_in, admin, django_capture_on_commit_callbacks
):
    async def scenario():
        ws = communicator(signed_in)
        assert (await ws.connect())[0]
        membership = await database_sync_to_async(StaffMembership.objects.get)(pk=admin.membership.pk)
        await committed(django_capture_on_commit_callbacks, accounts.do_sign_out_everywhere, membership)
        closed = await ws.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] == 4401
        again = communicator(signed_in)
        connected, _ = await again.connect()
        assert not connected  # the session's generation is outdated
        await again.disconnect()

    run(scenario)


def test_an_idle_session_cannot_open_a_board(layer, signed_in):
    session = signed_in.session
    state = session[accounts.SESSION_KEY]
    seen = (
        datetime.datetime.fromisoformat(state["seen"])
        - django_settings.CONSOLE_SESSION_IDLE
        - datetime.timedelta(seconds=1)
    )
    state["seen"] = seen.isoformat()
    session[accounts.SESSION_KEY] = state
    session.save()

    async def scenario():
        ws = communicator(signed_in)
        connected, _ = await ws.connect()
        assert not connected
        await ws.disconnect()

    run(scenario)


def test_the_board_closes_itself_when_the_session_goes_idle(layer, signed_in, settings):
    settings.CONSOLE_SESSION_IDLE = datetime.timedelta(seconds=1)
    session = signed_in.session
    session[accounts.SESSION_KEY] = {
        **session[accounts.SESSION_KEY],
        "seen": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    session.save()

    async def scenario():
        ws = communicator(signed_in)
        assert (await ws.connect())[0]
        closed = await ws.receive_output(timeout=5)
        assert closed["type"] == "websocket.close" and closed["code"] == 4401
        await ws.disconnect()

    run(scenario)


def test_an_idle_board_outlives_the_redis_layers_blocking_receive(
    layer, signed_in, patient, institution, register, django_capture_on_commit_callbacks
):
    # channels_redis blocks 5 s per receive; with redis-py's default 5 s read timeout an idle board crashed.
    if layer != "redis":
        pytest.skip("the blocking receive is the Redis layer's")

    async def scenario():
        import asyncio

        ws = communicator(signed_in)
        assert (await ws.connect())[0]
        await asyncio.sleep(6)
        consent = await committed(django_capture_on_commit_callbacks, register, patient, institution)
        message = await ws.receive_json_from(timeout=5)
        assert message["consent_id"] == consent.pk
        await ws.disconnect()

    run(scenario)


def test_a_redis_layer_of_a_test_leaves_no_keys_behind():
    # Given a Redis channel layer of a test: a board's group membership and a message waiting
    url = _redis_url()
    if url is None:
        pytest.skip("Redis does not answer on loopback")
    from channels_redis.core import RedisChannelLayer

    prefix = f"hc-test-{uuid.uuid4().hex[:12]}"
    layer = RedisChannelLayer(hosts=[url], prefix=prefix, group_expiry=120)

    async def use():
        await layer.group_add("institution-0000000000", "specific.board!1")
        await layer.send("specific.board!1", {"type": "consent.event"})
        await layer.close_pools()

    async_to_sync(use)()
    import redis

    assert list(redis.Redis.from_url(url).scan_iter(match=f"{prefix}*")), "the layer wrote keys"
    # When the test's teardown drops them
    _drop_keys(url, prefix)
    # Then none is left to outlive the run
    assert list(redis.Redis.from_url(url).scan_iter(match=f"{prefix}*")) == []
