"""Zero reads outside the rules: institution type × permission (staff without, staff with, the API
system) × scope × search method × item.

Each cell is a real search and real views through the services. A read happens exactly when the
rules allow it (emergency: a hospital's permitted staff; disaster: any institution but a
qualification-only one, for a person living in a scope open today), and each read — the search
that found the person and every view — adds exactly one "ok" access-log row with its basis.
"""

import pytest

from homeconsent.audit.models import AccessEvent
from homeconsent.errors import HomeConsentError
from homeconsent.special_access import services
from homeconsent.special_access.models import EncounterBasis

from .conftest import CLOSED, ENDED, IN_SCOPE, LATER, OUTSIDE, search_data

pytestmark = pytest.mark.django_db

PLACES = {
    "inside": IN_SCOPE,
    "outside_municipality": OUTSIDE,
    "outside_period_later": LATER,
    "outside_period_ended": ENDED,
    "closed_early": CLOSED,
}
METHODS = ("card", "attributes", "insurer_keys")
READERS = ("institution_staff", "institution_client")
ITEMS = ("qualification", "medication", "treatment", "checkup", "limit_certificate")


def allowed(basis, kind, who, place) -> bool:
    if basis == EncounterBasis.EMERGENCY:
        return kind == "hospital" and who == "permitted staff"
    return place == "inside"


def viewer_of(who, institution, staff_of):
    """Staff without and with the emergency permission, and the institution's API system."""
    if who == "system":
        return services.Viewer.client(institution, f"client-{institution.code}")
    return services.Viewer.staff(staff_of(institution, who == "permitted staff").membership)


def ok_rows(person):
    return AccessEvent.objects.filter(person=person, outcome="ok", actor_type__in=READERS)


def test_no_read_outside_the_rules_and_one_row_per_read(institutions, staff_of, scopes, resident):
    # given a patient in each place, and staff with and without the permission at each institution
    patients = {place: resident(code, card=i) for i, (place, code) in enumerate(PLACES.items())}
    cells = reads = 0
    for basis in EncounterBasis:
        for kind, institution in institutions.items():
            for who in ("staff", "permitted staff", "system"):
                viewer = viewer_of(who, institution, staff_of)
                for place, patient in patients.items():
                    for method in METHODS:
                        cells += 1
                        person = patient.person
                        before = ok_rows(person).count()
                        search = services.clean_search(method, search_data(patient, method))
                        reason = "unconscious"
                        # when the staff member searches
                        if not allowed(basis, kind, who, place):
                            with pytest.raises(HomeConsentError) as refused:
                                services.do_search(viewer, basis, search, reason)
                            # then nothing is read and nothing logged as read
                            assert refused.value.code in (
                                "special_access_not_available",
                                "special_access_no_match",
                            )
                            assert ok_rows(person).count() == before, (basis, kind, who, place, method)
                            continue
                        encounter = services.do_search(viewer, basis, search, reason)
                        assert encounter.person_id == person.pk
                        rows = list(ok_rows(person).order_by("id")[before:])
                        assert (
                            len(rows) == 1
                            and rows[0].basis == basis
                            and rows[0].items == ["basic_information"]
                        )
                        reads += 1
                        for item in (None, *ITEMS):
                            before_view = ok_rows(person).count()
                            if item is not None and item not in services.ITEMS[basis]:
                                with pytest.raises(HomeConsentError) as refused:
                                    services.view(viewer, basis, encounter.token, item)
                                assert refused.value.code == "special_access_item_not_shown"
                                assert ok_rows(person).count() == before_view
                                continue
                            shown = services.view(viewer, basis, encounter.token, item)
                            reads += 1
                            new = list(ok_rows(person).order_by("id")[before_view:])
                            assert len(new) == 1, (basis, kind, place, method, item)
                            row = new[0]
                            assert row.basis == basis and row.actor_id == viewer.actor_id
                            assert row.institution_code == institution.code
                            assert row.items == shown.items
                            assert row.detail["reason"] == "unconscious" and row.detail["method"] == method
                            assert row.detail.get("scope") == (
                                scopes["inside"].pk if basis == "disaster" else None
                            )
                            if item is None:
                                assert set(shown.items) == set(services.ITEMS[basis])
                            if "treatment" in shown.items:
                                assert shown.treatment[0].procedure_name == "虫垂切除術"
                            if basis == "disaster":
                                assert shown.treatment is None
    assert cells == 2 * 4 * 3 * 5 * 3
    # emergency: the hospital's permitted staff × 5 places × 3 methods, each a search and the summary
    # and 4 items; disaster: 4 institutions × 3 viewers × the one place inside × 3 methods, a search,
    # the summary and 3 items
    assert reads == 15 * (1 + 5) + 36 * (1 + 4)


def test_a_qualification_only_institution_never_reads(db, staff_of, scopes, resident):
    from .conftest import make_institution

    site = make_institution("171000055", "けんしんセンター", qualification_only=True)
    patient = resident()
    viewer = services.Viewer.staff(staff_of(site).membership)
    with pytest.raises(HomeConsentError) as refused:
        services.do_search(
            viewer, "disaster", services.clean_search("card", search_data(patient, "card")), "oral"
        )
    assert refused.value.code == "special_access_not_available"
    assert not ok_rows(patient.person).exists()
