"""Opaque patient ids: how the institutions' API names a person to one institution.

A patient id is the AES-256 encryption of one 16-byte block (person id, institution code), in
lower-case base32 without padding (26 characters of a-z and 2-7). That alphabet is a valid FHIR id as
it stands, and an id never starts with "-", which command lines would take for an option. So it is

- per institution: the same person has unrelated ids at two institutions (no linkage between them);
- unguessable: without the key, an id is a random-looking block; a made-up or altered id decrypts
  to another institution code (or a person nobody consented for) and answers 404;
- stable: it depends on the person and the institution only, not on a consent (an updated
  consent keeps the id), and needs no table, so a batch of 10,000 entries costs no query.

The key is settings.CLINICAPI_PATIENT_ID_KEY, or derived from SECRET_KEY; rotating it renames
every patient. Ids carry no personal data; deciding whether the institution may read anything
is still consent_for_read on every request.
"""

import base64
import binascii
import functools
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PATIENT_ID_LENGTH = 26


@functools.lru_cache(maxsize=4)
def _cipher_key(secret: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"homeconsent clinicapi patient id v1"
    ).derive(secret.encode())


def _key() -> bytes:
    return _cipher_key(settings.CLINICAPI_PATIENT_ID_KEY or settings.SECRET_KEY)


def derived_key(purpose: bytes) -> bytes:
    """A key for another use of the same secret (FHIR record ids), independent of the cipher key."""
    return hmac.new(_key(), b"homeconsent clinicapi " + purpose, hashlib.sha256).digest()


def patient_id_for(institution_code: str, person_id: int) -> str:
    """The patient id of a person as one institution sees it."""
    return patient_ids_for(institution_code, [person_id])[int(person_id)]


def patient_ids_for(institution_code: str, person_ids) -> dict:
    """{person id: patient id} for many persons of one institution, in one cipher call. One block
    per person, ECB: a keyed pseudorandom permutation of (person, institution), nothing more; ECB
    encrypts each block on its own, so many at once give each the id it has alone."""
    person_ids = list(dict.fromkeys(int(p) for p in person_ids))
    if not person_ids:
        return {}
    code = int(institution_code)
    blocks = b"".join(struct.pack(">QQ", person_id, code) for person_id in person_ids)
    encryptor = Cipher(algorithms.AES(_key()), modes.ECB()).encryptor()  # noqa: S305
    out = encryptor.update(blocks) + encryptor.finalize()
    return {person_id: _encode(out[16 * i : 16 * i + 16]) for i, person_id in enumerate(person_ids)}


def _encode(block: bytes) -> str:
    return base64.b32encode(block).rstrip(b"=").decode().lower()


def person_id_from(institution_code: str, patient_id: str) -> int | None:
    """The person an institution's patient id names, or None (malformed, or another institution's)."""
    decoded = decode_patient_id(patient_id)
    if decoded is None or decoded[1] != int(institution_code):
        return None
    return decoded[0]


def decode_patient_id(patient_id: str) -> tuple[int, int] | None:
    """(person id, institution code as a number) of a well-formed patient id, or None. Whose it
    is stays to be checked against the caller's institution (person_id_from)."""
    if not isinstance(patient_id, str) or len(patient_id) != PATIENT_ID_LENGTH or not patient_id.isascii():
        return None
    try:
        block = base64.b32decode(patient_id.upper() + "======")
    except (binascii.Error, ValueError):
        return None
    if len(block) != 16 or _encode(block) != patient_id:
        return None  # only the one canonical spelling names a patient
    decryptor = Cipher(algorithms.AES(_key()), modes.ECB()).decryptor()  # noqa: S305
    person_id, code = struct.unpack(">QQ", decryptor.update(block) + decryptor.finalize())
    if person_id == 0 or person_id > 2**63 - 1:
        return None
    return person_id, code
