"""Institutions with console staff (password + confirmed TOTP), patients with real virtual cards,
and consents registered through the consent service (so events are published as in production)."""

import time

import pytest
from django.test import Client
from django_otp.oath import TOTP

from homeconsent.accounts import services as accounts
from homeconsent.accounts.models import StaffRole
from homeconsent.consent.services import do_register_consent, issue_consent_challenge
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution

# The consent helpers' fixtures: test PKI, card pool, insurer, patients with registered cards.
from tests.consent.conftest import (  # noqa: F401
    card_pool,
    consent_pki,
    consent_settings,
    insurer,
    make_patient,
    patient,
    prove,
)

PASSWORD = "correct horse battery staple 7"


def code_for(device, offset_steps=0):
    """The device's TOTP code, `offset_steps` steps from now (a later step: never a reused one)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_steps * device.step
    return f"{totp.token():0{device.digits}d}"


class Staff:
    def __init__(self, membership, device):
        self.membership, self.device = membership, device
        self.steps = 0

    @property
    def username(self):
        return self.membership.user.username

    def next_code(self):
        """A code the device has not accepted yet (django-otp refuses a code twice)."""
        self.device.refresh_from_db()
        while True:
            totp = TOTP(
                self.device.bin_key, self.device.step, self.device.t0, self.device.digits, self.device.drift
            )
            totp.time = time.time() + self.steps * self.device.step
            if totp.t() > self.device.last_t:
                return f"{totp.token():0{self.device.digits}d}"
            self.steps += 1


@pytest.fixture
def institution(db):
    return Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック")


@pytest.fixture
def other_institution(db):
    return Institution.objects.create(code=with_check_digit("131765432"), name="あおぞら内科")


@pytest.fixture
def make_staff(db):
    """make_staff(institution, username, role): an account enrolled through its one-time link."""

    def make(institution, username, role=StaffRole.INSTITUTION_ADMIN):
        membership, token = accounts.do_create_staff(institution, username, role, by="operator:test")
        device = accounts.do_start_enrolment(accounts.enrolment_link(token), PASSWORD, PASSWORD)
        accounts.do_confirm_enrolment(device, code_for(device))
        device.refresh_from_db()
        membership.refresh_from_db()
        return Staff(membership, device)

    return make


@pytest.fixture
def admin(make_staff, institution):
    return make_staff(institution, "midori-admin")


def sign_in(client: Client, staff: Staff):
    response = client.post("/console/signin/", {"username": staff.username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    response = client.post("/console/signin/code/", {"code": staff.next_code()})
    assert response.status_code == 302 and response["Location"] == "/console/", response.content.decode()[
        :500
    ]
    return client


@pytest.fixture
def signed_in(admin):
    return sign_in(Client(), admin)


@pytest.fixture
def register():
    """register(patient, institution, kind="home_visit", items=("medication",), **terms) -> Consent."""

    def do(patient, institution, kind="home_visit", items=("medication",), **terms):
        challenge = issue_consent_challenge(institution, kind=kind, items=list(items), **terms)
        return do_register_consent(prove(patient, challenge), kind=kind, items=list(items), **terms)

    return do
