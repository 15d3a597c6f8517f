"""The "in force" rule is written twice for speed: as ORM conditions (services._in_force_q, used by
lists, cancellation and the console) and as hand-written SQL (services._in_force_for, behind every
read of the institutions' API). Over a generated population of consents both must pick the very
same consents, for moments and for whole Tokyo days, with and without a kind."""

import datetime
import random

import pytest

from homeconsent.consent import rules
from homeconsent.consent.models import Consent, ConsentEndedBy, ConsentKind, ConsentStatus
from homeconsent.consent.services import _in_force_for, _in_force_q
from homeconsent.registry.codes import with_check_digit
from homeconsent.registry.models import Institution, Person

KINDS = [ConsentKind.HOME_VISIT, ConsentKind.TELEHEALTH, ConsentKind.QUALIFICATION_ONLY]
BASE = datetime.datetime(2026, 6, 10, 9, 0, tzinfo=rules.TOKYO)


def _moment(rng, spread_days=6):
    # On a coarse grid (whole hours, a good share exactly on midnight, where day windows begin and
    # end) so that consents start, end and are asked about at the very same instants.
    if rng.random() < 0.25:
        return rules.start_of_day(
            BASE.date() + datetime.timedelta(days=rng.randint(-spread_days, spread_days))
        )
    return BASE + datetime.timedelta(hours=rng.randint(-spread_days * 24, spread_days * 24))


def generate_consents(rng, persons, institutions, count):
    """Consents of every shape the service writes: open-ended or dated, active, cancelled or
    superseded (held until ended_at), telehealth per visit date. Unique slots are respected."""
    taken = set()
    made = []
    while len(made) < count:
        person, institution, kind = rng.choice(persons), rng.choice(institutions), rng.choice(KINDS)
        given_at = _moment(rng)
        visit_date = (
            (given_at + datetime.timedelta(days=rng.randint(0, 3))).astimezone(rules.TOKYO).date()
            if kind == ConsentKind.TELEHEALTH
            else None
        )
        until = None
        if kind == ConsentKind.TELEHEALTH:
            until = rules.start_of_day(visit_date + datetime.timedelta(days=1))
        elif rng.random() < 0.5:
            until = given_at + datetime.timedelta(hours=rng.randint(1, 8 * 24))
        status = rng.choice(
            [ConsentStatus.ACTIVE, ConsentStatus.ACTIVE, ConsentStatus.CANCELLED, ConsentStatus.SUPERSEDED]
        )
        ended_at = (
            None
            if status == ConsentStatus.ACTIVE
            else given_at + datetime.timedelta(hours=rng.randint(0, 5 * 24))
        )
        slot = (person.pk, institution.pk, kind, visit_date)
        if status == ConsentStatus.ACTIVE and slot in taken:
            continue
        if status == ConsentStatus.ACTIVE:
            taken.add(slot)
        made.append(
            Consent(
                person=person,
                institution=institution,
                kind=kind,
                items=["medication", "qualification"],
                given_at=given_at,
                available_until=until,
                visit_date=visit_date,
                status=status,
                ended_at=ended_at,
                ended_by=""
                if status == ConsentStatus.ACTIVE
                else rng.choice([ConsentEndedBy.PATIENT, ConsentEndedBy.SUPERSEDED]),
            )
        )
    return Consent.objects.bulk_create(made)


@pytest.fixture
def population(db):
    rng = random.Random(20261207)
    persons = [
        Person.objects.create(
            name=f"試験 {n}", name_kana=f"シケン {n}", sex="1", birth_date=datetime.date(1950, 1, 1 + n)
        )
        for n in range(8)
    ]
    institutions = [
        Institution.objects.create(code=with_check_digit("131234567"), name="みどり訪問クリニック"),
        Institution.objects.create(code=with_check_digit("131765432"), name="あおぞら内科"),
    ]
    generate_consents(rng, persons, institutions, 300)
    return rng, persons, institutions


def by_orm(institution, person_ids, on, kind):
    consents = Consent.objects.filter(_in_force_q(on), institution=institution, person_id__in=person_ids)
    if kind is not None:
        consents = consents.filter(kind=kind)
    return set(consents.values_list("pk", flat=True))


def by_sql(institution, person_ids, on, kind):
    return {c.pk for c in _in_force_for(institution.code, person_ids, on, kind)}


def test_the_orm_and_the_sql_in_force_rules_pick_the_same_consents(population):
    # given a generated population of consents of two institutions
    rng, persons, institutions = population
    # ... asked about moments (among them the very instants consents begin and end) and whole days,
    # for one person or several
    edges = [m for c in Consent.objects.all() for m in (c.given_at, c.available_until, c.ended_at) if m]
    questions = (
        rng.sample(edges, 40)
        + [_moment(rng) for _ in range(30)]
        + [(BASE + datetime.timedelta(days=d)).date() for d in range(-7, 8)]
    )
    compared = hits = 0
    for on in questions:
        for institution in institutions:
            for kind in (None, *KINDS):
                person_ids = [p.pk for p in rng.sample(persons, rng.choice([1, 3, len(persons)]))]
                # when both rules answer
                orm, sql = (
                    by_orm(institution, person_ids, on, kind),
                    by_sql(institution, person_ids, on, kind),
                )
                # then they agree, consent for consent
                assert orm == sql, (on, institution.code, kind, person_ids, orm ^ sql)
                compared += 1
                hits += len(orm)
    # and the comparison was not vacuous: many questions, many consents in force among the answers
    assert compared == len(questions) * len(institutions) * (1 + len(KINDS))
    assert hits > 200


def test_the_sql_rule_orders_a_standing_consent_before_visit_dated_ones(population):
    # a read answers with the first consent: the standing one, then the nearest visit date
    _, persons, institutions = population
    for institution in institutions:
        for person in persons:
            for day in range(-3, 4):
                on = (BASE + datetime.timedelta(days=day)).date()
                rows = _in_force_for(institution.code, [person.pk], on, None)
                keys = [
                    (
                        c.visit_date is not None,
                        c.visit_date or datetime.date.min,
                        -c.given_at.timestamp(),
                        -c.pk,
                    )
                    for c in rows
                ]
                assert keys == sorted(keys)
