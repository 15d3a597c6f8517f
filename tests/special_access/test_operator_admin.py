"""The operator opens and closes disaster scopes in the admin and sees the counts per scope."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from homeconsent.audit.models import AccessEvent
from homeconsent.consent import rules
from homeconsent.errors import HomeConsentError
from homeconsent.special_access import services
from homeconsent.special_access.models import DisasterScope
from tests.operators import sign_in_verified

from .conftest import IN_SCOPE, search_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    user = get_user_model().objects.create_superuser("operator", password="long enough password 42")
    return sign_in_verified(Client(), user)


def test_an_operator_opens_a_scope_and_sees_counts(operator, staff_of, institutions, resident):
    today = rules.today()
    form = {
        "name": "令和8年豪雨",
        "municipality_codes": f"{IN_SCOPE}、 172022",
        "starts_on": today.isoformat(),
        "ends_on": (today + datetime.timedelta(days=6)).isoformat(),
    }
    response = operator.post("/admin/special_access/disasterscope/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    scope = DisasterScope.objects.get()
    assert scope.municipality_codes == [IN_SCOPE, "172022"] and scope.opened_by == "admin:operator"
    assert (
        AccessEvent.objects.filter(detail__action="disaster_scope_opened", actor_id="admin:operator").count()
        == 1
    )
    # when a pharmacy finds a patient there and views twice
    patient = resident()
    pharmacist = services.Viewer.staff(staff_of(institutions["pharmacy"]).membership)
    encounter = services.do_search(
        pharmacist, "disaster", services.clean_search("card", search_data(patient, "card")), "oral"
    )
    services.view(pharmacist, "disaster", encounter.token)
    services.view(pharmacist, "disaster", encounter.token, "checkup")
    # then the list shows one patient found and two views
    page = operator.get("/admin/special_access/disasterscope/").content.decode()
    assert (
        "令和8年豪雨" in page
        and '<td class="field-found">1</td>' in page
        and '<td class="field-views">2</td>' in page
    )
    # and closing it early stops the next view
    response = operator.post(
        "/admin/special_access/disasterscope/", {"action": "close_early", "_selected_action": [scope.pk]}
    )
    assert response.status_code == 302
    scope.refresh_from_db()
    assert scope.closed_at is not None and scope.closed_by == "admin:operator"
    with pytest.raises(HomeConsentError) as ended:
        services.view(pharmacist, "disaster", encounter.token)
    assert ended.value.code == "special_access_encounter_ended"


def test_a_bad_scope_is_refused_with_its_code(operator):
    today = rules.today()
    response = operator.post(
        "/admin/special_access/disasterscope/add/",
        {
            "name": "誤り",
            "municipality_codes": "172010",
            "starts_on": today.isoformat(),
            "ends_on": (today - datetime.timedelta(days=1)).isoformat(),
        },
    )
    body = response.content.decode()
    assert response.status_code == 200 and "disaster_scope_invalid" in body and "172010" in body
    assert not DisasterScope.objects.exists()


def test_the_admin_needs_a_verified_totp_session(db):
    user = get_user_model().objects.create_superuser("op2", password="long enough password 42")
    client = Client()
    client.force_login(user)  # password only
    assert client.get("/admin/special_access/disasterscope/").status_code == 302
