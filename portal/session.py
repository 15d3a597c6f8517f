"""The portal session: a person proved by their card, kept in the Django session under its own key.

No Django user and no password: signing in is a card answer to a portal_login challenge. The session
holds the person, the card certificate that proved them and when they were last seen; after
settings.PORTAL_SESSION_IDLE without a request the person is signed out.
"""

import datetime
import functools
from dataclasses import dataclass

from django.conf import settings
from django.shortcuts import redirect
from django.utils import timezone

SESSION_KEY = "portal.person"


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the person and the card certificate that signed them in."""

    person_id: int
    card_certificate_id: int
    card_serial: str
    signed_in_at: datetime.datetime

    @property
    def actor_id(self) -> str:
        # The access log names the card that proved the patient, never a My Number; after the
        # authentication app (no certificate reaches us) it names the person's own record.
        return f"card:{self.card_serial}" if self.card_serial else f"person:{self.person_id}"


def sign_in(request, verified) -> Viewer:
    """Start a portal session for a verified card answer (a new session key: no fixation)."""
    request.session.cycle_key()
    now = timezone.now()
    card = verified.card_certificate  # None when the authentication app proved the person
    request.session[SESSION_KEY] = {
        "person": verified.person.pk,
        "card": card.pk if card is not None else None,
        "serial": card.serial if card is not None else "",
        "at": now.isoformat(),
        "seen": now.isoformat(),
    }
    return current_viewer(request, now=now)


def sign_out(request) -> None:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()


def current_viewer(request, *, now=None, touch=True) -> Viewer | None:
    """The signed-in viewer, or None (never signed in, or idle too long: then signed out)."""
    state = request.session.get(SESSION_KEY)
    if not state:
        return None
    now = now or timezone.now()
    seen = datetime.datetime.fromisoformat(state["seen"])
    if now - seen >= settings.PORTAL_SESSION_IDLE:
        request.session.pop(SESSION_KEY, None)
        request.session["portal.expired"] = True
        return None
    if touch:
        state["seen"] = now.isoformat()
        request.session[SESSION_KEY] = state
    return Viewer(
        state["person"], state["card"], state["serial"], datetime.datetime.fromisoformat(state["at"])
    )


def viewer_required(view):
    """Pages of the signed-in person: others go to the sign-in page (told if they timed out)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        viewer = current_viewer(request)
        if viewer is None:
            return redirect("portal:signin")
        request.viewer = viewer
        return view(request, *args, **kwargs)

    return wrapped
