"""Fixed-window request counters in Django's cache (Redis when REDIS_URL is set, so every worker
shares them), for the public pages' limits: card challenges (consent.challenges) and the console's
sign-in (homeconsent.accounts.services)."""

import hashlib
import logging

from django.core.cache import cache

logger = logging.getLogger(__name__)


def count_and_check(prefix: str, counted: dict[str, tuple[object, int]], window_seconds: int) -> bool:
    """Count one request under each scope of `counted` ({scope: (value, limit)}); True when any
    count is past its limit. A scope with no value or limit 0 is not counted. Each window starts
    with its first request. A cache outage counts nothing (False), logged: the limits are a brake,
    not a lock."""
    window = max(1, int(window_seconds))
    exceeded = False
    for scope, (value, limit) in counted.items():
        if not value or not limit:
            continue
        # Hashed: no raw IPs or session keys in the cache.
        key = f"{prefix}:{scope}:{hashlib.sha256(str(value).encode()).hexdigest()[:32]}"
        try:
            cache.add(key, 0, timeout=window)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr: a new window
                cache.set(key, 1, timeout=window)
                count = 1
        except Exception:  # noqa: BLE001
            logger.warning("%s: cache unavailable, not counting", prefix, exc_info=True)
            return False
        exceeded = exceeded or count > limit
    return exceeded
