"""The header's larger-text switch is a form: large=1 turns it on, anything else off, and it only
ever sends the reader back to a page of this site."""

import pytest
from django.http import QueryDict

from homeconsent.forms import TextSizeForm


def posted(**fields) -> QueryDict:
    data = QueryDict(mutable=True)
    data.update(fields)
    return data


@pytest.mark.parametrize("large,on", [("1", True), ("0", False), ("", False), ("yes", False)])
def test_only_large_1_turns_larger_text_on(large, on):
    assert TextSizeForm(posted(large=large, next="/")).large_text() is on


@pytest.mark.parametrize(
    "target,back",
    [
        ("/portal/records/?year=2026", "/portal/records/?year=2026"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
    ],
)
def test_the_switch_goes_back_only_to_a_page_of_this_site(target, back):
    assert TextSizeForm(posted(next=target, large="1")).target() == back
