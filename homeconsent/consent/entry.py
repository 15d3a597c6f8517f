"""Institution entry points: the URL (and its QR code) a patient opens to consent to one institution.

The URL carries a random token, not the institution code, so nobody can open another institution's
flow by guessing; do_rotate_entry_token() replaces it and the old URL stops working at once.
"""

import secrets

import segno
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access

from .models import InstitutionEntry


def _new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


def entry_for(institution) -> InstitutionEntry:
    """The institution's entry, created with a fresh token on first use."""
    entry = InstitutionEntry.objects.filter(institution=institution).first()
    if entry is not None:
        return entry
    with transaction.atomic():
        entry, _ = InstitutionEntry.objects.get_or_create(
            institution=institution, defaults={"token": _new_token(), "rotated_at": timezone.now()}
        )
    return entry


def do_rotate_entry_token(
    institution, *, actor_type=ActorType.INSTITUTION_STAFF, actor_id="console"
) -> InstitutionEntry:
    """Give the institution a new entry token; the old URL and QR code answer "not found" from now on."""
    with transaction.atomic():
        entry = InstitutionEntry.objects.select_for_update().filter(institution=institution).first()
        now = timezone.now()
        if entry is None:
            entry = InstitutionEntry(institution=institution)
        entry.token = _new_token()
        entry.rotated_at = now
        entry.save()
        record_access(
            actor_type=actor_type,
            actor_id=actor_id,
            basis=Basis.OPERATOR,
            institution_code=institution.code,
            detail={"action": Action.CONSENT_ENTRY_TOKEN_ROTATED},
        )
    return entry


def entry_by_token(token: str):
    """The entry for a token from a URL, or None (unknown, rotated, or malformed: all look the same)."""
    if not token or len(token) > 43:
        return None
    return InstitutionEntry.objects.select_related("institution").filter(token=token).first()


def entry_path(entry: InstitutionEntry) -> str:
    return reverse("consent:entry", args=[entry.token])


def entry_url_for(institution) -> str:
    """The path of an institution's entry page (its entry is created on first use)."""
    return entry_path(entry_for(institution))


def entry_url(entry: InstitutionEntry, request=None, base_url: str = "") -> str:
    """The absolute entry URL: from the request's host, or from base_url (e.g. the site's public URL)."""
    path = entry_path(entry)
    if request is not None:
        return request.build_absolute_uri(path)
    return base_url.rstrip("/") + path


def entry_qr_svg(url: str, *, scale: int = 4, title: str = "") -> str:
    """The QR code of an entry URL as an SVG document (no XML declaration, fits inline or as a file)."""
    qr = segno.make(url, error="m", micro=False)
    return qr.svg_inline(scale=scale, border=4, title=title or None, dark="#000", light="#fff")
