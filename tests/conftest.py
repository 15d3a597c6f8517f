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


@pytest.fixture(autouse=True)
def default_language():
    """A request in English leaves English active in its worker's thread (LocaleMiddleware activates,
    nothing deactivates), so a later test reading a message in the default language got English."""
    from django.utils import translation

    yield
    translation.deactivate()


def pytest_sessionfinish(session, exitstatus):
    """Redis keys of this run (the cache database of this worker, the channel layer's prefix) go with it."""
    from django.conf import settings

    if not getattr(settings, "REDIS_URL", None) or not hasattr(settings, "TEST_REDIS_CHANNEL_PREFIX"):
        return
    import redis

    try:
        redis.Redis.from_url(settings.TEST_REDIS_CACHE_URL).flushdb()
        channels = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(channels.scan_iter(match=f"{settings.TEST_REDIS_CHANNEL_PREFIX}*", count=500))
        if keys:
            channels.delete(*keys)
    except redis.RedisError:
        pass  # Redis went away: its keys expire by themselves
