"""The virtual card's JPKI application at APDU level, and the short APDU model."""

import hashlib
import json
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from homeconsent.jpki.apdu import SW, ApduError, CommandAPDU, ResponseAPDU, describe_sw, tries_left_from_sw
from homeconsent.jpki.card import JPKI_AID, TOKEN, CardFileError, VirtualJPKICard, create_card_file
from tests.jpki.virtual_cards import (  # noqa: F401
    CARD_PIN,
    card,
    card_file,
    card_pki,
    card_template,
    no_pin_card_template,
)

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def send(card, hex_or_bytes):  # noqa: F811
    raw = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
    return ResponseAPDU.parse(card.transmit(raw))


def sw(card, command):  # noqa: F811
    return f"{send(card, command).sw:04X}"


SELECT_APP = "00A4040C0A" + JPKI_AID.hex()


def select_ef(fid):
    return f"00A4020C02{fid:04X}"


def verify(pin):
    return "0020008004" + pin.encode().hex()


def sign_command(digest_info):
    return bytes([0x80, 0x2A, 0x00, 0x80, len(digest_info)]) + digest_info + b"\x00"


def digest_info_of(message):
    return DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()


def read_all(card, fid, chunk):  # noqa: F811
    assert sw(card, select_ef(fid)) == "9000"
    data = b""
    while True:
        r = send(card, CommandAPDU(0x00, 0xB0, len(data) >> 8, len(data) & 0xFF, le=chunk).to_bytes())
        if r.sw == SW.WRONG_OFFSET:
            return data
        assert r.ok and r.data
        data += r.data


# --- the APDU model ---------------------------------------------------------------------------
def test_command_apdus_of_all_four_cases_parse_and_build():
    cases = {
        "00200080": (1, b"", None),
        "00B0000000": (2, b"", 256),
        "00B0001004": (2, b"", 4),
        "00A4020C02000A": (3, bytes.fromhex("000A"), None),
        "802A0080020102FF": (4, b"\x01\x02", 255),
        "802A008002010200": (4, b"\x01\x02", 256),
    }
    for raw, (case, data, le) in cases.items():
        cmd = CommandAPDU.parse(bytes.fromhex(raw))
        assert (cmd.case, cmd.data, cmd.le) == (case, data, le), raw
        assert cmd.to_bytes().hex().upper() == raw


def test_malformed_and_extended_apdus_are_refused():
    for raw in ("00A4", "00A4040C05D392", "00B00000000100", "00A4040C02AABBCCDD"):
        with pytest.raises(ApduError):
            CommandAPDU.parse(bytes.fromhex(raw))
    with pytest.raises(ApduError):
        CommandAPDU(0, 0xB0, 0, 0, le=257)


def test_response_apdus_and_status_words():
    r = ResponseAPDU.parse(bytes.fromhex("3082049000"))
    assert (r.data, r.sw, r.sw1, r.sw2, r.ok) == (b"\x30\x82\x04", 0x9000, 0x90, 0x00, True)
    assert bytes(r) == bytes.fromhex("3082049000")
    assert (
        SW.tries_left(2) == 0x63C2 and tries_left_from_sw(0x63C2) == 2 and tries_left_from_sw(0x9000) is None
    )
    assert "REFERENCE_DATA_UNUSABLE" in describe_sw(0x6984)
    assert "tries left: 1" in describe_sw(0x63C1)


# --- selection ----------------------------------------------------------------------------------
def test_select_application_and_files(card):  # noqa: F811
    assert sw(card, select_ef(0x000A)) == "6A82"  # nothing is selectable before the application
    assert sw(card, SELECT_APP) == "9000"
    for fid in (0x0006, 0x000A, 0x000B, 0x0017, 0x0018):
        assert sw(card, select_ef(fid)) == "9000", fid
    assert sw(card, select_ef(0x1234)) == "6A82"
    assert sw(card, "00A4020C03000A00") == "6700"


def test_probes_for_other_cards_get_sensible_answers(card):  # noqa: F811
    assert sw(card, "00A4040007A0000000030000") == "6A82"  # a foreign AID
    assert sw(card, "00A40000023F00") == "6A82"  # the MF
    assert sw(card, "00CA9F7F00") == "6D00"
    assert sw(card, "00CB3FFF055C035FC10200") == "6D00"
    assert sw(card, "00C0000000") == "6D00"
    assert sw(card, "FFCA000000") == "6E00"
    assert sw(card, "002A9E9A00") == "6E00"  # ISO PSO is not how this card signs
    assert sw(card, "00A4") == "6700"
    # and the card keeps going
    assert sw(card, SELECT_APP) == "9000"


def test_a_foreign_aid_does_not_drop_the_selected_application(card):  # noqa: F811
    send(card, SELECT_APP)
    send(card, "00A4040007A0000000030000")
    assert sw(card, select_ef(0x000A)) == "9000"


# --- READ BINARY --------------------------------------------------------------------------------
def test_token_reads_jpkiapicctoken2(card):  # noqa: F811
    send(card, SELECT_APP)
    send(card, select_ef(0x0006))
    r = send(card, "00B0000020")
    assert r.ok and r.data == b"JPKIAPICCTOKEN2" + b" " * 17 and r.data == TOKEN


@pytest.mark.parametrize("chunk", [255, 256, 100])
def test_certificates_read_without_pin_in_any_chunk_size(card, chunk):  # noqa: F811
    send(card, SELECT_APP)
    certificate = read_all(card, 0x000A, chunk)
    assert certificate == card.auth_cert_der and len(certificate) > 1000
    x509.load_der_x509_certificate(certificate)
    assert read_all(card, 0x000B, chunk) == card.ca_cert_der


def test_read_binary_offsets_short_reads_and_past_the_end(card):  # noqa: F811
    send(card, SELECT_APP)
    send(card, select_ef(0x000A))
    cert = card.auth_cert_der
    head = send(card, "00B0000004")
    assert head.data == cert[:4] and int.from_bytes(head.data[2:4], "big") + 4 == len(cert)
    r = send(card, "00B0010010")
    assert r.data == cert[0x100:0x110]
    near_end = len(cert) - 10
    r = send(card, CommandAPDU(0, 0xB0, near_end >> 8, near_end & 0xFF, le=256).to_bytes())
    assert r.ok and r.data == cert[-10:]
    assert sw(card, CommandAPDU(0, 0xB0, len(cert) >> 8, len(cert) & 0xFF, le=1).to_bytes()) == "6B00"
    assert sw(card, "00B07FFF01") == "6B00"
    assert sw(card, "00B00000") == "6700"  # no Le: no data may be returned
    assert sw(card, "00B0810001") == "6A86"  # short EF addressing is not offered


def test_read_binary_needs_a_readable_current_file(card):  # noqa: F811
    send(card, SELECT_APP)
    assert sw(card, "00B0000004") == "6986"
    send(card, select_ef(0x0017))
    assert sw(card, "00B0000004") == "6982"  # the private key never leaves the card
    send(card, select_ef(0x0018))
    assert sw(card, "00B0000004") == "6981"


# --- the PIN ------------------------------------------------------------------------------------
def select_pin(card):  # noqa: F811
    assert sw(card, SELECT_APP) == "9000"
    assert sw(card, select_ef(0x0018)) == "9000"


def test_tries_left_count_down_then_the_pin_locks(card):  # noqa: F811
    select_pin(card)
    assert sw(card, "00200080") == "63C3"
    assert sw(card, verify("0000")) == "63C2"
    assert sw(card, "00200080") == "63C2"
    assert sw(card, verify("1111")) == "63C1"
    assert sw(card, verify("2222")) == "63C0"
    assert sw(card, verify(CARD_PIN)) == "6984"  # locked: even the right PIN is refused
    assert sw(card, "00200080") == "63C0"
    assert card.locked


def test_the_right_pin_resets_the_counter_and_the_query_still_answers(card):  # noqa: F811
    select_pin(card)
    send(card, verify("0000"))
    send(card, verify("0000"))
    assert sw(card, "00200080") == "63C1"
    assert sw(card, verify(CARD_PIN)) == "9000"
    assert sw(card, "00200080") == "63C3"  # OpenSC asks after a successful VERIFY


def test_the_counter_is_on_the_card_file_before_the_answer(card, card_file):  # noqa: F811
    select_pin(card)
    send(card, verify("0000"))
    assert json.loads(card_file.read_text())["pin_tries_left"] == 2
    assert VirtualJPKICard.load(card_file).tries_left == 2


def test_a_locked_card_stays_locked_after_a_restart(card, card_file):  # noqa: F811
    select_pin(card)
    for _ in range(3):
        send(card, verify("9999"))
    # when
    reloaded = VirtualJPKICard.load(card_file)
    # then
    select_pin(reloaded)
    assert sw(reloaded, verify(CARD_PIN)) == "6984"
    assert sw(reloaded, "00200080") == "63C0"


def test_verify_needs_the_pin_file_selected(card):  # noqa: F811
    send(card, SELECT_APP)
    assert sw(card, verify(CARD_PIN)) == "6986"
    send(card, select_ef(0x000A))
    assert sw(card, verify(CARD_PIN)) == "6981"
    assert card.tries_left == 3


def test_the_card_file_is_private_and_written_whole(card, card_file):  # noqa: F811
    select_pin(card)
    send(card, verify("0000"))
    assert stat.S_IMODE(os.stat(card_file).st_mode) == 0o600
    assert [p.name for p in card_file.parent.iterdir()] == [card_file.name]  # no temp file left
    # The PIN is kept only as a salted hash: no value of the file is the PIN, in any spelling.
    # (A substring test failed now and then: the key material's hex holds any 4 digits by chance.)
    values = set(_leaves(json.loads(card_file.read_text())))
    assert not values & {CARD_PIN, int(CARD_PIN), CARD_PIN.encode().hex(), CARD_PIN.encode().hex().upper()}


def _leaves(value):
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# --- signing ------------------------------------------------------------------------------------
def test_sign_needs_a_verified_pin_and_the_key_file(card):  # noqa: F811
    command = sign_command(digest_info_of(b"challenge"))
    send(card, SELECT_APP)
    send(card, select_ef(0x0017))
    assert sw(card, command) == "6982"  # no PIN
    select_pin(card)
    send(card, verify(CARD_PIN))
    assert sw(card, command) == "6982"  # PIN verified but the key not selected


def test_the_signature_verifies_with_the_certificate(card):  # noqa: F811
    select_pin(card)
    assert sw(card, verify(CARD_PIN)) == "9000"
    send(card, select_ef(0x0017))
    # when
    r = send(card, sign_command(digest_info_of(b"consent for institution 1312345678")))
    # then
    assert r.ok and len(r.data) == 256
    public_key = x509.load_der_x509_certificate(card.auth_cert_der).public_key()
    public_key.verify(r.data, b"consent for institution 1312345678", padding.PKCS1v15(), hashes.SHA256())
    # and the card can sign again while the PIN stays verified
    assert send(card, sign_command(digest_info_of(b"again"))).ok


def test_sign_refuses_bad_lengths(card):  # noqa: F811
    select_pin(card)
    send(card, verify(CARD_PIN))
    send(card, select_ef(0x0017))
    assert sw(card, bytes([0x80, 0x2A, 0x00, 0x80, 246]) + bytes(246) + b"\x00") == "6700"  # > k - 11
    assert sw(card, bytes([0x80, 0x2A, 0x00, 0x80, 51]) + digest_info_of(b"x")) == "6700"  # no Le


def test_reselecting_the_application_or_a_reset_clears_the_pin(card):  # noqa: F811
    command = sign_command(digest_info_of(b"challenge"))
    for clear in (lambda: send(card, SELECT_APP), card.reset):
        select_pin(card)
        assert sw(card, verify(CARD_PIN)) == "9000"
        clear()
        send(card, SELECT_APP)
        send(card, select_ef(0x0017))
        assert sw(card, command) == "6982"


# --- change PIN ---------------------------------------------------------------------------------
def test_change_pin_after_verify(card, card_file):  # noqa: F811
    select_pin(card)
    assert sw(card, "0024018004" + b"5678".hex()) == "6982"  # not verified yet
    send(card, verify(CARD_PIN))
    assert sw(card, "0024018004" + b"56a8".hex()) == "6A80"
    assert sw(card, "0024018003" + b"567".hex()) == "6A80"
    # when
    assert sw(card, "0024018004" + b"5678".hex()) == "9000"
    # then, also after a restart
    reloaded = VirtualJPKICard.load(card_file)
    select_pin(reloaded)
    assert sw(reloaded, verify(CARD_PIN)) == "63C2"
    assert sw(reloaded, verify("5678")) == "9000"


# --- a card without a PIN (face recognition only) -----------------------------------------------
def test_a_card_without_pin_refuses_every_pin_flow(no_pin_card_template, tmp_path):  # noqa: F811
    path = tmp_path / "face-only.json"
    path.write_bytes(no_pin_card_template.read_bytes())
    card = VirtualJPKICard.load(path)  # noqa: F811
    select_pin(card)
    assert sw(card, "00200080") == "6A88"
    assert sw(card, verify("1234")) == "6A88"
    assert sw(card, "0024018004" + b"1234".hex()) == "6A88"
    send(card, select_ef(0x0017))
    assert sw(card, sign_command(digest_info_of(b"x"))) == "6982"
    # the certificate is still readable
    send(card, SELECT_APP)
    assert read_all(card, 0x000A, 256) == card.auth_cert_der


# --- the card file ------------------------------------------------------------------------------
def test_create_card_file_checks_what_it_is_given(card, tmp_path):  # noqa: F811
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError):
        create_card_file(
            tmp_path / "x.json",
            auth_key=other_key,
            auth_cert_der=card.auth_cert_der,
            ca_cert_der=card.ca_cert_der,
            pin="1234",
        )
    with pytest.raises(ValueError):
        create_card_file(
            tmp_path / "y.json",
            auth_key=other_key,
            auth_cert_der=card.auth_cert_der,
            ca_cert_der=card.ca_cert_der,
            pin="12345",
        )
    with pytest.raises(FileExistsError):
        create_card_file(card.path, auth_key=other_key, auth_cert_der=b"", ca_cert_der=b"", pin="1234")


def test_a_file_that_is_not_a_card_is_refused(tmp_path):
    path = tmp_path / "not-a-card.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(CardFileError):
        VirtualJPKICard.load(path)
    with pytest.raises(CardFileError):
        VirtualJPKICard.load(tmp_path / "missing.json")


# --- the signature password EF (queried by readers such as OpenSC) ------------------------------
def test_the_signature_password_has_its_own_counter_of_five(card_pki, tmp_path):  # noqa: F811
    from homeconsent.jpki.card import issue_card_file

    card = VirtualJPKICard.load(  # noqa: F811
        issue_card_file(
            card_pki,
            tmp_path / "c.json",
            pin=CARD_PIN,
            birth_date=__import__("datetime").date(1960, 1, 1),
            sign_password="ABC123",
        )
    )
    send(card, SELECT_APP)
    assert sw(card, select_ef(0x001B)) == "9000"
    assert sw(card, "00200080") == "63C5"
    assert sw(card, "0020008006" + b"ZZZ999".hex()) == "63C4"
    assert sw(card, "0020008006" + b"ABC123".hex()) == "9000"
    # the signature password does not unlock the user-authentication key
    send(card, select_ef(0x0017))
    assert sw(card, sign_command(digest_info_of(b"x"))) == "6982"
    assert card.tries_left == 3
    # and the signature certificate and key are not on the card
    for fid in (0x0001, 0x0002, 0x001A):
        assert sw(card, select_ef(fid)) == "6A82"


def test_a_card_that_cannot_write_its_file_refuses_and_keeps_the_recorded_counter(card, card_file):  # noqa: F811
    select_pin(card)
    store = card_file.parent
    moved = store.with_name(store.name + "-moved")
    store.rename(moved)  # the card file's directory is gone: nothing can be written
    try:
        assert sw(card, verify("0000")) == "6581"
    finally:
        moved.rename(store)
    assert card.tries_left == 3
    assert sw(card, "00200080") == "63C3"
    assert VirtualJPKICard.load(card_file).tries_left == 3
