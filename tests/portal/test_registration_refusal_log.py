"""A refused card registration is on the card holder's access log (issue 13, item 6)."""

from homeconsent.audit.models import AccessEvent

from .test_registration_holder import MY_KEYS, register


def refusals(person):
    return list(
        AccessEvent.objects.filter(
            person=person, detail__action="register_for_insurance_use", outcome="refused"
        ).values_list("detail__code", flat=True)
    )


def test_someone_registering_another_holders_card_is_on_that_holders_log(client, me, other):
    # given the other person's own card, not yet registered for insurance use
    other.card.registered_for_insurance_use = False
    other.card.save()
    # when someone registers it with my keys
    refused = register(client, other.key, other.certificate, MY_KEYS)
    # then it is refused, and the card's holder (not me) has a row saying so, with the code
    assert refused.status_code == 403
    assert refusals(other.person) == ["registration_identity_mismatch"]
    assert refusals(me.person) == []


def test_registering_an_already_registered_card_again_is_logged_for_its_holder(client, me):
    refused = register(client, me.key, me.certificate, MY_KEYS)
    assert refused.json()["problem"] == "already_registered"
    assert refusals(me.person) == ["already_registered"]


def test_a_card_nobody_holds_leaves_no_row_on_anyones_log(client, me, pki, card_keys):
    certificate = pki.issue_user_auth_certificate(card_keys[2].public_key(), me.person.birth_date)
    before = AccessEvent.objects.filter(detail__action="register_for_insurance_use").count()
    assert register(client, card_keys[2], certificate, MY_KEYS).status_code == 403
    assert AccessEvent.objects.filter(detail__action="register_for_insurance_use").count() == before
