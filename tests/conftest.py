import os

import pytest


def pytest_collection_modifyitems(config, items):
    # Tests marked postgres run only when DATABASE_URL names PostgreSQL.
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
