"""The paper eligibility certificate (資格確認書) path in the registry: who may be checked by the printed
keys, what answers, and the access-log row of every check (homeconsent.registry.paper_certificate)."""

import datetime

import pytest
from cryptography import x509
from django.core.cache import cache

from homeconsent.audit.models import AccessEvent
from homeconsent.jpki.card import VirtualJPKICard
from homeconsent.jpki.pki import do_register_card_certificate
from homeconsent.registry import paper_certificate as paper
from homeconsent.registry.models import CardCertificateStatus
from homeconsent.registry.validation import clean_search_keys
from homeconsent.usage.models import MonthlyUsage
from homeconsent.usage.rollup import do_rollup_usage
from tests.consent.conftest import (  # noqa: F401
    card_pool,
    consent_pki,
    consent_settings,
    insurer,
    make_patient,
)
from tests.paper_certificates import kouki_insurer, paper_holder, printed_keys, qualify

CLINIC = "1312345675"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


def keys(person, insurer=None, **overrides):
    printed = printed_keys(person, insurer) | overrides
    return clean_search_keys(*printed.values())


def check(person_keys, *, actor="staff:uketsuke", on=None, code=CLINIC):
    return paper.check_paper_certificate(
        actor_type="institution_staff", actor_id=actor, institution_code=code, keys=person_keys, on=on
    )


def rows(**filters):
    return list(AccessEvent.objects.filter(basis="paper_certificate", **filters).order_by("pk"))


def test_a_holder_without_a_card_gets_eligibility_and_public_expense_and_the_check_is_logged(insurer):
    # given a person with no card at all, holding a 資格確認書 and a 難病 公費 certificate
    holder = paper_holder(insurer, with_public_expense=True)
    # when reception checks the printed keys (記号 written full-width, as on the paper)
    answered = check(keys(holder, symbol="８８"))
    # then eligibility answers, with the 公費 certificate and without 限度額 (that needs a consent)
    found = answered.result.as_dict()
    assert found["QualificationValidity"] == "1" and found["Qualification"]["Name"] == holder.name
    assert found["Qualification"]["InsuredCardClassification"] == "05"
    assert [c["PublicExpenseLawNumber"] for c in found["PublicExpenseCertificateList"]] == ["54"]
    assert "LimitApplicationCertificateRelatedInfo" not in found
    # and one row names the path, the person, qualification only
    [row] = rows(person=holder)
    assert (row.actor_type, row.institution_code, row.outcome) == ("institution_staff", CLINIC, "ok")
    assert row.items == ["qualification"] and row.consent_id is None
    assert row.detail["action"] == "paper_certificate_check" and row.detail["read"] == "paper_certificate"
    assert row.detail["validity"] == 1


def test_a_card_linked_but_never_registered_for_insurance_does_not_stop_the_paper_path(insurer, card_pool):
    # given a holder whose card is known but was never registered as insurance card
    holder = paper_holder(insurer)
    certificate = x509.load_der_x509_certificate(VirtualJPKICard.load(card_pool.template(0)).auth_cert_der)
    do_register_card_certificate(holder, certificate, registered_for_insurance_use=False)
    # when / then the certificate's keys answer
    assert check(keys(holder)).result.person == holder


def test_a_person_with_a_card_registered_for_insurance_is_refused_and_the_refusal_is_logged(make_patient):
    # given a person whose My Number card is registered as insurance card
    patient = make_patient()
    # when someone checks them with the paper path
    with pytest.raises(paper.HomeConsentError) as refused:
        check(keys(patient.person))
    # then the refusal says to use the card, and the person sees the attempt
    assert refused.value.code == "paper_certificate_card_registered"
    assert "カード" in refused.value.message("ja") and "card" in refused.value.message("en")
    [row] = rows(person=patient.person)
    assert row.outcome == "refused" and row.detail["refusal"] == "paper_certificate_card_registered"


def test_the_registration_holds_along_a_renewal_and_ends_with_a_revoked_card(make_patient, card_pool):
    # given a registered card renewed into a certificate that carries the registration by renewed_from
    patient = make_patient()
    old = patient.card_certificate
    type(old).objects.filter(pk=old.pk).update(status=CardCertificateStatus.SUPERSEDED)
    renewed = do_register_card_certificate(
        patient.person,
        x509.load_der_x509_certificate(VirtualJPKICard.load(card_pool.template(1)).auth_cert_der),
        registered_for_insurance_use=False,
        renewed_from=old,
    )
    # then the person still counts as registered
    assert paper.card_registered_for_insurance(patient.person.pk)
    # when the renewed certificate is revoked, the card no longer works as insurance card
    type(renewed).objects.filter(pk=renewed.pk).update(status=CardCertificateStatus.REVOKED)
    assert not paper.card_registered_for_insurance(patient.person.pk)
    assert check(keys(patient.person)).result.person == patient.person


def test_kouki_insured_were_all_sent_a_certificate_until_the_end_of_july_2026(make_patient):
    # given a 後期高齢者 with a registered card (their 資格確認書 came under the interim rule)
    patient = make_patient()
    kouki = kouki_insurer()
    qualify(patient.person, kouki)
    printed = keys(patient.person, kouki)
    # when checked for a day up to 2026-07-31 it answers; from 2026-08-01 the card rule holds
    assert check(printed, on=datetime.date(2026, 7, 31)).result.validity == 1
    with pytest.raises(paper.HomeConsentError) as refused:
        check(printed, on=datetime.date(2026, 8, 1))
    assert refused.value.code == "paper_certificate_card_registered"
    assert [r.outcome for r in rows(person=patient.person)] == ["ok", "refused"]


def test_keys_that_match_nobody_are_no_match_and_logged_without_a_person(insurer):
    holder = paper_holder(insurer)
    with pytest.raises(paper.HomeConsentError) as refused:
        check(keys(holder, branch="02"))
    assert refused.value.code == "paper_certificate_no_match"
    [row] = rows()
    assert row.person_id is None and row.outcome == "not_found"


def test_checks_are_counted_per_staff_member_and_institution(insurer, settings):
    # given a limit of two checks an hour per staff member
    settings.PAPER_CERTIFICATE_CHECK_LIMITS = {"actor": 2, "institution": 100}
    holder = paper_holder(insurer)
    check(keys(holder))
    check(keys(holder))
    # when the same staff member checks a third time
    with pytest.raises(paper.HomeConsentError) as refused:
        check(keys(holder))
    # then it is refused with the wait in minutes, and another staff member still gets through
    assert (
        refused.value.code == "paper_certificate_rate_limited" and refused.value.params["retry_after"] == 3600
    )
    assert check(keys(holder), actor="staff:kango").result.person == holder
    assert [r.outcome for r in rows()] == ["ok", "ok", "refused", "ok"]


def test_the_usage_rollup_counts_paper_checks_as_their_own_method(insurer, make_patient):
    # given two answered checks and one refused (card registered)
    holder = paper_holder(insurer)
    check(keys(holder))
    check(keys(holder), code="2740000224")
    with pytest.raises(paper.HomeConsentError):
        check(keys(make_patient().person))
    # when the rollup runs
    do_rollup_usage()
    # then the answered ones are reads by the paper_certificate method, the refusal is not counted
    counted = {(r.method, r.prefecture): r.count for r in MonthlyUsage.objects.filter(metric="read")}
    assert counted == {("paper_certificate", "13"): 1, ("paper_certificate", "27"): 1}


def test_keys_that_match_two_persons_answer_several_with_nothing_personal_or_logged(insurer):
    # given two persons registered with the same printed keys and birth date (an insurer's error)
    first = paper_holder(insurer)
    twin = paper_holder(insurer)
    twin.qualifications.update(number=first.qualifications.get().number)
    # when checked, the answer is validity 5 and names nobody
    answered = check(keys(first))
    assert answered.result.validity == 5 and answered.result.as_dict()["Qualification"] is None
    assert rows() == []
