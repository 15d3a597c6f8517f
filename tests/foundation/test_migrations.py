"""Every model change has its migration: a model edited without one would pass the tests (they build
their database from the models' migrations) and then differ from what production migrates to."""

import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_models_and_their_migrations_agree():
    out = io.StringIO()

    # when Django compares the models with the migrations, writing nothing
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    # then it finds no change (makemigrations --check exits with SystemExit(1) when it does)
    assert "No changes detected" in out.getvalue()
