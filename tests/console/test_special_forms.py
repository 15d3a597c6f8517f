"""The 救急時 / 災害時 pages' small inputs go through forms: the item asked for, and the permission
page's buttons (whose permission, granted or revoked), never another institution's staff."""

import pytest
from django.http import QueryDict

from clinicapi.console.special_forms import PermissionForm, SpecialItemForm


def query(**fields) -> QueryDict:
    data = QueryDict(mutable=True)
    data.update(fields)
    return data


@pytest.mark.parametrize(
    "fields,item", [({"item": "medication"}, "medication"), ({"item": ""}, None), ({}, None)]
)
def test_the_item_asked_for_is_passed_on_and_none_is_the_summary(fields, item):
    assert SpecialItemForm(query(**fields)).item_or_none() == item


def test_a_permission_button_names_a_staff_member_of_this_institution(make_staff, institution):
    member = make_staff(institution, "nurse").membership

    form = PermissionForm(query(membership=str(member.pk), action="revoke"))

    assert form.member(institution) == member
    assert form.revoke() is True


def test_a_permission_button_grants_unless_it_says_revoke(make_staff, institution):
    member = make_staff(institution, "nurse").membership

    form = PermissionForm(query(membership=str(member.pk)))

    assert form.member(institution) == member
    assert form.revoke() is False


@pytest.mark.parametrize("membership", ["", "abc", "-1", "0"])
def test_a_permission_button_naming_no_one_names_no_one(db, institution, membership):
    assert PermissionForm(query(membership=membership)).member(institution) is None


def test_a_permission_button_never_names_another_institutions_staff(
    make_staff, institution, other_institution
):
    stranger = make_staff(other_institution, "stranger").membership

    assert PermissionForm(query(membership=str(stranger.pk))).member(institution) is None
