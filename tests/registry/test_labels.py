"""Labels of the registry's codes: in Japanese each reads exactly as the national term, so Japanese
pages show what the registry holds; in English none of them is the Japanese term."""

import pytest
from django.utils import translation

from homeconsent.registry.labels import BY_FIELD, NATIONAL_TERMS, label


@pytest.mark.parametrize("field", sorted(NATIONAL_TERMS))
def test_every_code_has_a_label_whose_japanese_is_the_national_term(field):
    # given the national terms of a coded field
    terms = NATIONAL_TERMS[field]

    # when its labels are read in Japanese and in English
    with translation.override("ja"):
        japanese = {code: str(label(field, code)) for code in terms}
    with translation.override("en"):
        english = {code: str(label(field, code)) for code in terms}

    # then every code has one, Japanese as the registry says it, English in other words
    assert set(BY_FIELD[field]) == set(terms)
    assert japanese == terms
    assert not {code for code in terms if english[code] == terms[code]}
