"""Fixtures for tests that need a virtual My Number card (import the ones you use).

One test PKI and one issued card per session (RSA key generation is the slow part); every test
gets its own copy of the card file, so PIN counters never leak between tests.
"""

import datetime
import shutil
import socket

import pytest

from homeconsent.jpki.card import VirtualJPKICard, issue_card_file
from homeconsent.jpki.pki import TestPKI

CARD_PIN = "1234"
CARD_BIRTH_DATE = datetime.date(1948, 4, 2)


@pytest.fixture(scope="session")
def card_pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("card-pki")).init()


@pytest.fixture(scope="session")
def card_template(card_pki, tmp_path_factory):
    return issue_card_file(
        card_pki,
        tmp_path_factory.mktemp("card-template") / "card.json",
        pin=CARD_PIN,
        birth_date=CARD_BIRTH_DATE,
    )


@pytest.fixture(scope="session")
def no_pin_card_template(card_pki, tmp_path_factory):
    return issue_card_file(
        card_pki,
        tmp_path_factory.mktemp("card-template") / "face-only.json",
        pin=None,
        birth_date=CARD_BIRTH_DATE,
    )


@pytest.fixture
def card_file(card_template, tmp_path):
    path = tmp_path / "card.json"
    shutil.copy2(card_template, path)
    return path


@pytest.fixture
def card(card_file):
    return VirtualJPKICard.load(card_file)


def free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
