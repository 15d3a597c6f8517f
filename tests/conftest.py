import os

import pytest


def pytest_collection_modifyitems(config, items):
    # Tests marked postgres run only when DATABASE_URL names PostgreSQL.
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    """Rate-limit counters (the API's throttles, challenge issuing) live in the cache: start at zero."""
    from django.core.cache import cache

    cache.clear()
