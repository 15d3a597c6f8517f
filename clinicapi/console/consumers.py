"""The live board's WebSocket: consent registered / cancelled events of the staff member's institution.

connect() accepts only a signed-in, OTP-verified, current (not signed out everywhere), non-idle staff
session; the Origin is checked before this by AllowedHostsOriginValidator (homeconsent/asgi.py).
The socket joins exactly one group, f"institution.{code}" of the staff member's own institution, so
another institution's events cannot reach it. It closes itself when the session would go idle,
and at once on sign-out everywhere.
"""

import asyncio
from importlib import import_module

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from homeconsent.accounts import services as accounts
from homeconsent.consent.services import institution_group

from .reads import board_event

# Close codes the page understands: sign in again (4401), not allowed (4403).
CLOSE_SIGNED_OUT = 4401
CLOSE_REFUSED = 4403


@database_sync_to_async
def _staff_of(scope):
    user, session = scope.get("user"), scope.get("session")
    if user is None or session is None:
        return None
    # The OTPMiddleware check of the pages, made here for the socket: user.is_verified().
    device = accounts.verified_device(user, session)
    user.otp_device = device
    user.is_verified = lambda: device is not None
    if not user.is_verified():
        return None
    staff = accounts.staff_for(user, session, touch=False)
    if staff is None:
        return None
    return staff.pk, staff.institution.code, accounts.idle_deadline(session)


@database_sync_to_async
def _still_signed_in(scope):
    # Re-read the session from its store: pages may have been used since (activity), or signed out.
    fresh = import_module(settings.SESSION_ENGINE).SessionStore(scope["session"].session_key)
    staff = accounts.staff_for(scope["user"], fresh, touch=False)
    if staff is None or accounts.verified_device(scope["user"], fresh) is None:
        return None
    return accounts.idle_deadline(fresh)


class ConsoleEventsConsumer(AsyncJsonWebsocketConsumer):
    groups = ()

    async def connect(self):
        found = await _staff_of(self.scope)
        if found is None:
            await self.close(code=CLOSE_REFUSED)
            return
        staff_id, code, deadline = found
        self.joined = [institution_group(code), accounts.staff_group(staff_id)]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.watch = asyncio.ensure_future(self._watch_idle(deadline))

    async def _watch_idle(self, deadline):
        while True:
            await asyncio.sleep(max(0.0, (deadline - timezone.now()).total_seconds()))
            deadline = await _still_signed_in(self.scope)
            if deadline is None or deadline <= timezone.now():
                await self.close(code=CLOSE_SIGNED_OUT)
                return

    async def disconnect(self, code):
        watch = getattr(self, "watch", None)
        if watch is not None:
            watch.cancel()
        for group in getattr(self, "joined", ()):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def consent_event(self, message):
        await self.send_json({"type": "consent", **board_event(message)})

    async def console_signed_out(self, message):
        await self.close(code=CLOSE_SIGNED_OUT)
