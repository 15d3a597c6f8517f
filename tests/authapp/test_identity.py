"""Person resolution for the app route: normalised four attributes, exactly one match, the link after."""

import datetime

import pytest

from homeconsent.audit.models import AccessEvent
from homeconsent.authapp.identity import do_resolve_person, normalise_address, normalise_text
from homeconsent.authapp.models import IdentityLink
from homeconsent.errors import HomeConsentError
from homeconsent.registry.models import Person


@pytest.mark.parametrize(
    "written",
    [
        "東京都千代田区霞が関1丁目2番3号",
        "東京都千代田区霞が関１－２－３",
        "東京都 千代田区 霞が関 1-2-3",
        "東京都千代田区霞が関一丁目2番地3",
        "東京都千代田区霞が関1丁目2-3",
        "東京都千代田区霞が関１丁目２番３号",
    ],
)
def test_address_forms_read_alike(written):
    assert normalise_address(written) == "東京都千代田区霞が関1-2-3"


def test_place_names_keep_their_kanji_numerals():
    assert normalise_address("東京都三鷹市下連雀三丁目4番5号") == "東京都三鷹市下連雀3-4-5"


def test_names_ignore_width_and_spaces():
    assert normalise_text("山田　花子") == normalise_text("山田 花子") == normalise_text("山田花子")


@pytest.fixture
def hanako(db):
    return Person.objects.create(
        name="山田 花子",
        name_kana="ヤマダ ハナコ",
        sex="2",
        birth_date=datetime.date(1948, 4, 2),
        address="東京都千代田区霞が関1丁目2番3号",
    )


USERINFO = {
    "name": "山田花子",
    "birthdate": "1948-04-02",
    "gender": "female",
    "address": {"formatted": "東京都千代田区霞が関１－２－３"},
}


def test_one_match_is_linked_and_the_link_is_logged_then_used(hanako):
    assert do_resolve_person("https://issuer", "sub-1", USERINFO) == hanako
    # a later visit: the link finds the person even after a move (the attributes no longer match)
    assert (
        do_resolve_person("https://issuer", "sub-1", {**USERINFO, "address": "大阪府大阪市北区1-1-1"})
        == hanako
    )

    assert IdentityLink.objects.get().person == hanako
    assert AccessEvent.objects.filter(person=hanako, detail__action="app_link_created").count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"gender": "male"},
        {"birthdate": "1948-04-03"},
        {"name": "山田花"},
        {"address": "東京都千代田区霞が関1-2-4"},
    ],
)
def test_any_attribute_off_finds_no_one_and_stores_nothing(hanako, change):
    with pytest.raises(HomeConsentError) as refused:
        do_resolve_person("https://issuer", "sub-1", {**USERINFO, **change})

    assert refused.value.code == "app_identity_not_found"
    assert not IdentityLink.objects.exists() and not AccessEvent.objects.exists()


def test_two_matches_are_refused_as_ambiguous(hanako):
    Person.objects.create(
        name="山田　花子",
        name_kana="ヤマダ ハナコ",
        sex="2",
        birth_date=hanako.birth_date,
        address="東京都千代田区霞が関１－２－３",
    )

    with pytest.raises(HomeConsentError) as refused:
        do_resolve_person("https://issuer", "sub-1", USERINFO)

    assert refused.value.code == "app_identity_ambiguous" and not IdentityLink.objects.exists()


def test_production_refuses_the_stand_in_issuer(settings):
    from django.core import checks

    settings.AUTH_APP_ISSUER = "http://127.0.0.1:47120/realms/standin"
    errors = [e.id for e in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])]
    settings.AUTH_APP_ISSUER = "https://auth.example.go.jp/realms/main"
    fine = [e.id for e in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])]

    assert "authapp.E001" in errors and "authapp.E001" not in fine and "authapp.E002" not in fine


@pytest.mark.parametrize(
    ("issuer", "refused"),
    [
        ("http://127.0.0.1:47120/realms/standin", True),
        ("https://auth.example.go.jp/realms/standin", True),
        ("https://auth.example.go.jp/realms/main", False),
    ],
)
def test_the_production_settings_refuse_the_stand_in_as_issuer(tmp_path, issuer, refused):
    import secrets

    from tests.foundation.test_settings import run_manage

    env = {
        "DJANGO_SETTINGS_MODULE": "homeconsent.production",
        "DJANGO_ALLOWED_HOSTS": "hc.example",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "HOMECONSENT_PROXY_COUNT": "1",
        "HOMECONSENT_AUTH_APP_ISSUER": issuer,
    }

    result = run_manage(["check"], env, tmp_path)

    assert (result.returncode != 0) == refused, result.stderr[-500:]
    if refused:
        assert "HOMECONSENT_AUTH_APP_ISSUER" in result.stderr
