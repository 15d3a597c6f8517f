"""resolve_many_by_keys answers each key exactly as resolve_by_keys does, in a fixed number of queries."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from homeconsent.registry.eligibility import Validity, resolve_by_keys, resolve_many_by_keys
from homeconsent.registry.models import LimitCertificate, Qualification
from homeconsent.registry.seeding import seed_registry
from homeconsent.registry.validation import SearchKeys

pytestmark = pytest.mark.django_db
AS_OF = date(2025, 6, 1)


def keys_of(q) -> SearchKeys:
    return SearchKeys(q.insurer.number, q.symbol, q.number, q.branch, q.person.birth_date)


@pytest.fixture
def seeded():
    seed_registry(persons=150, seed=7, as_of=AS_OF)
    return list(Qualification.objects.select_related("insurer", "person").order_by("pk"))


def test_bulk_results_equal_one_by_one_results_on_seeded_data(seeded):
    keys = [keys_of(q) for q in seeded] + [SearchKeys("01130012", "x", "nobody", "00", date(1970, 1, 1))]

    bulk = resolve_many_by_keys(keys, AS_OF, include_limit=True)

    single = [resolve_by_keys(k, None, None, None, None, AS_OF, include_limit=True) for k in keys]
    assert [r.as_dict() for r in bulk] == [r.as_dict() for r in single]
    assert {r.validity for r in bulk} >= {Validity.VALID, Validity.NONE}


def test_filtered_out_persons_answer_as_if_nobody_matched(seeded):
    q = next(q for q in seeded if q.is_valid_on(AS_OF))

    [kept] = resolve_many_by_keys([keys_of(q)], AS_OF, persons_filter=lambda ids: ids)
    [hidden] = resolve_many_by_keys([keys_of(q)], AS_OF, persons_filter=lambda ids: set())

    assert kept.validity == Validity.VALID and kept.person == q.person
    assert hidden.validity == Validity.NONE and hidden.person is None and hidden.qualification is None


def test_limit_information_only_for_the_persons_asked(seeded):
    with_limit = (
        LimitCertificate.objects.filter(valid_from__lte=AS_OF, valid_until__gte=AS_OF)
        .select_related("qualification__insurer", "qualification__person")
        .first()
    )
    if with_limit is None:
        pytest.skip("the seed has no limit certificate in force on AS_OF")
    keys = [keys_of(with_limit.qualification)]

    [shown] = resolve_many_by_keys(keys, AS_OF, include_limit=lambda person_id: True)
    [withheld] = resolve_many_by_keys(keys, AS_OF, include_limit=lambda person_id: False)

    assert shown.as_dict()["LimitApplicationCertificateRelatedInfo"][
        "LimitApplicationCertificateClassificationFlag"
    ]
    assert "LimitApplicationCertificateRelatedInfo" not in withheld.as_dict()


def test_queries_do_not_grow_with_the_number_of_keys(seeded):
    keys = [keys_of(q) for q in seeded]
    with CaptureQueriesContext(connection) as few:
        resolve_many_by_keys(keys[:10], AS_OF, include_limit=True)
    with CaptureQueriesContext(connection) as many:
        resolve_many_by_keys(keys, AS_OF, include_limit=True)
    assert len(many) <= 8 and len(few) <= 8  # fixed (公費 added one), whatever the number of keys
