"""Who an authentication app proved: the (issuer, sub) link, or an exact match of the four attributes.

The app gives name, address, birthdate and gender (userinfo). Both sides are normalised the same way
(normalise_*): NFKC (full-width/half-width), no spaces, and address forms such as 1丁目2番3号 /
1-2-3 / １－２－３ read alike. Exactly one registry person must match; none or several is a coded
refusal and nothing is stored.
"""

import re
import unicodedata

from django.db import transaction
from django.utils import timezone

from homeconsent.audit.models import Action, ActorType, Basis
from homeconsent.audit.services import record_access
from homeconsent.errors import ErrorCode
from homeconsent.registry.models import Person

from .models import IdentityLink

IDENTITY_NOT_FOUND = ErrorCode(
    "app_identity_not_found",
    "認証アプリの本人情報（氏名・住所・生年月日・性別）に合う方が見つかりませんでした。カードリーダーでカードを読み取るか、医療機関等の窓口にご相談ください。",
    "No one matches the details from the authentication app (name, address, birth date, sex). Read your "
    "card with a card reader instead, or ask the institution.",
)
IDENTITY_AMBIGUOUS = ErrorCode(
    "app_identity_ambiguous",
    "認証アプリの本人情報に合う方が複数いるため、どなたか決められません。カードリーダーでカードを読み取るか、医療機関等の窓口にご相談ください。",
    "More than one person matches the details from the authentication app, so we cannot tell who you "
    "are. Read your card with a card reader instead, or ask the institution.",
)
LINK_NOT_FOUND = ErrorCode(
    "app_link_not_found",
    "この連携は見つかりませんでした。",
    "This link could not be found.",
)

_SPACES = re.compile(r"[\s\u3000]+")
_DASHES = re.compile(r"[‐‑‒–—―−ー－-]+")
_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")
# 1丁目2番3号, 1丁目2番地3, 1番地の3 …: the numbers of an address, as 1-2-3.
_BLOCK = re.compile(r"(\d+)(?:丁目|番地の?|番|号|の)")


def normalise_text(value: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", value or ""))


def normalise_address(value: str) -> str:
    text = normalise_text(value)
    # Kanji numerals only before the block words (二丁目), never inside place names (三鷹市).
    text = re.sub(r"([〇一二三四五六七八九十]+)(?=丁目)", lambda m: _kanji_number(m.group(1)), text)
    text = _BLOCK.sub(r"\1-", text)
    text = _DASHES.sub("-", text)
    return text.strip("-")


def _kanji_number(kanji: str) -> str:
    if "十" not in kanji:
        return kanji.translate(_KANJI_DIGITS)
    tens, _, ones = kanji.partition("十")
    return str(int(tens.translate(_KANJI_DIGITS) or 1) * 10 + int(ones.translate(_KANJI_DIGITS) or 0))


GENDERS = {"male": "1", "female": "2", "1": "1", "2": "2"}


def _attributes(userinfo: dict):
    address = userinfo.get("address")
    if isinstance(address, dict):  # OIDC's address claim is an object; formatted is the full text
        address = address.get("formatted", "")
    return (
        normalise_text(str(userinfo.get("name", ""))),
        str(userinfo.get("birthdate", "")),
        GENDERS.get(str(userinfo.get("gender", "")).lower(), ""),
        normalise_address(str(address or "")),
    )


def matching_persons(userinfo: dict) -> list:
    """Registry persons whose four attributes equal the app's, normalised alike (at most two: enough to refuse)."""
    name, birthdate, sex, address = _attributes(userinfo)
    if not (name and birthdate and sex and address):
        return []
    candidates = Person.objects.filter(birth_date=birthdate, sex=sex).only("pk", "name", "address")
    found = []
    for person in candidates.iterator():
        if normalise_text(person.name) == name and normalise_address(person.address) == address:
            found.append(person)
            if len(found) > 1:
                break
    return found


def do_resolve_person(issuer: str, subject: str, userinfo: dict, *, now=None):
    """The person the app proved: by link, else by exactly one attribute match (then linked and logged)."""
    now = now or timezone.now()
    with transaction.atomic():
        link = (
            IdentityLink.objects.select_for_update()
            .select_related("person")
            .filter(issuer=issuer, subject=subject)
            .first()
        )
        if link is not None:
            link.last_used_at = now
            link.save(update_fields=["last_used_at"])
            return link.person
        found = matching_persons(userinfo)
        if not found:
            raise IDENTITY_NOT_FOUND()
        if len(found) > 1:
            raise IDENTITY_AMBIGUOUS()
        person = found[0]
        link = IdentityLink.objects.create(
            issuer=issuer, subject=subject, person=person, created_at=now, last_used_at=now
        )
        record_access(
            actor_type=ActorType.PATIENT,
            actor_id=f"person:{person.pk}",
            person=person,
            items=["person"],
            basis=Basis.SELF,
            detail={"action": Action.APP_LINK_CREATED, "issuer": issuer, "link": link.pk, "route": "app"},
        )
        return person


def links_of(person_id):
    return IdentityLink.objects.filter(person_id=person_id).order_by("created_at")


def do_remove_link(person_id, link_id, *, actor_id):
    with transaction.atomic():
        link = IdentityLink.objects.select_for_update().filter(pk=link_id, person_id=person_id).first()
        if link is None:
            raise LINK_NOT_FOUND()
        record_access(
            actor_type=ActorType.PATIENT,
            actor_id=actor_id,
            person=link.person_id,
            items=["person"],
            basis=Basis.SELF,
            detail={"action": Action.APP_LINK_REMOVED, "issuer": link.issuer, "link": link.pk},
        )
        link.delete()
