import pytest
from django.urls import reverse

from homeconsent.audit.services import record_access
from tests.operators import sign_in_verified

pytestmark = pytest.mark.django_db


def test_the_admin_lists_events_but_offers_no_add_change_or_delete(admin_client, admin_user, make_person):
    sign_in_verified(admin_client, admin_user)  # the admin needs a verified TOTP device
    event = record_access(
        actor_type="institution_staff",
        actor_id="nurse-7",
        person=make_person(),
        items=["qualification"],
        basis="consent",
        institution_code="1312345678",
    )
    listing = admin_client.get(reverse("admin:audit_accessevent_changelist"))
    assert listing.status_code == 200 and "nurse-7" in listing.text
    assert admin_client.get(reverse("admin:audit_accessevent_add")).status_code == 403
    detail = admin_client.get(reverse("admin:audit_accessevent_change", args=[event.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.text
    assert admin_client.post(reverse("admin:audit_accessevent_delete", args=[event.pk])).status_code == 403
