"""The challenge message the reader bridge checks is the one the server verifies (issue 13, item 4):
version 2 with format and origin, checked by jpki.challenge_message; older challenges keep verifying."""

import datetime
import json

import pytest
from django.utils import timezone

from homeconsent.consent.challenges import issue_challenge, verify_card_authentication
from homeconsent.consent.models import CardAuthChallenge, ChallengePurpose
from homeconsent.jpki import challenge_message
from tests.cards import card_answer

from .conftest import PIN


def test_the_bridge_knows_every_purpose_the_server_issues():
    assert set(challenge_message.PURPOSES) == set(ChallengePurpose.values)


def test_a_challenge_handed_to_a_page_is_one_the_bridge_accepts_for_that_origin_only(client, institution):
    # given a consent challenge issued on the server for a page of http://testserver
    issued = issue_challenge("consent", institution, ["qualification", "medication"], kind="home_visit")
    issued.origin = "http://testserver"
    issued.save()
    message = issued.message()
    now = timezone.now()
    # when the bridge checks it for that page and for another one
    fields = challenge_message.check(message, "http://testserver", now)
    # then it is ours for that page, and another page (or a later time) cannot have it signed
    assert fields["format"] == "homeconsent-card-challenge" and fields["v"] == 2
    assert fields["institution"] == institution.code and fields["nonce"] == issued.nonce
    with pytest.raises(Exception) as other:
        challenge_message.check(message, "https://evil.example", now)
    assert other.value.code == "challenge_wrong_origin"
    with pytest.raises(Exception) as later:
        challenge_message.check(message, "http://testserver", now + datetime.timedelta(hours=1))
    assert later.value.code == "challenge_stale"


def test_the_server_verifies_the_signature_over_the_same_message(patient, institution):
    # given a challenge, and the card signing the DigestInfo the bridge computes from the message
    issued = issue_challenge("consent", institution, ["qualification"], kind="home_visit")
    digest = challenge_message.digest_info(issued.message())
    certificate, signature = card_answer(patient.card, digest, PIN)
    # when the server verifies the answer
    verified = verify_card_authentication(issued.nonce, certificate, signature, "consent")
    # then the card's person is proved
    assert verified.person == patient.person


def test_a_challenge_issued_before_version_2_keeps_its_message(institution):
    issued = issue_challenge("consent", institution, ["qualification"], kind="home_visit")
    CardAuthChallenge.objects.filter(pk=issued.pk).update(message_version=1)
    old = CardAuthChallenge.objects.get(pk=issued.pk).message()
    assert json.loads(old)["v"] == 1 and "origin" not in json.loads(old)
