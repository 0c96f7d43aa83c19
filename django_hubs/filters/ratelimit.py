"""``RateLimitFilter``: so many calls per period, per connection, user or hub, counted in Django's cache."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Iterable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import ImproperlyConfigured

from ..errors import HubError
from ..hub import fold
from ..server.filtering import HubFilter, InvocationContext, InvokeNext

logger = logging.getLogger("django_hubs.filters")


_PERIODS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*")


def parse_rate(rate: str) -> tuple[int, int]:
    """``"20/s"``, ``"600/min"``, ``"100/10m"`` -> (calls, seconds)."""
    match = _RATE.fullmatch(rate.lower()) if isinstance(rate, str) else None
    unit = _PERIODS.get(match.group(3)) if match else None
    if match is None or unit is None or int(match.group(1)) < 1:
        raise ImproperlyConfigured(
            f'Rate {rate!r} is not "<calls>/<period>", e.g. "20/s", "600/min", "100/10m", "1000/h", "5000/d".'
        )
    return int(match.group(1)), int(match.group(2) or 1) * unit


class RateLimitFilter(HubFilter):
    """Refuse invocations beyond ``rate`` per connection or per user, counted in Django's cache.

    ``rate`` is ``"<calls>/<period>"`` (``"20/s"``, ``"600/min"``, ``"100/10m"``); ``per`` is
    ``"connection"`` or ``"user"`` (all connections of one user together; anonymous
    connections are counted one by one). ``methods`` limits the filter to some hub methods
    (Python or client names). Counts live in the cache ``cache`` (an alias of ``CACHES``)
    in fixed windows, so a cache shared by every server process (Redis, Memcached) makes
    the limit hold across them; the default local-memory cache counts per process.

    A refused call gets the official error completion with the text
    ``Rate limit exceeded (20/s per connection); try again in 1 s.`` and the first refusal
    of each window is logged on ``django_hubs.filters``.
    """

    def __init__(
        self,
        rate: str = "20/s",
        per: str = "connection",
        methods: Iterable[str] | None = None,
        cache: str = "default",
        key_prefix: str = "django_hubs:rate",
    ) -> None:
        if per not in ("connection", "user"):
            raise ImproperlyConfigured(f'RateLimitFilter per={per!r}: use "connection" or "user".')
        if isinstance(methods, str):
            raise ImproperlyConfigured("RateLimitFilter methods must be a list of method names.")
        self.rate = rate
        self.limit, self.period = parse_rate(rate)
        self.per = per
        self.methods = frozenset(fold(name) for name in methods) if methods is not None else None
        self.cache_alias = cache
        scope = f"{rate}|{per}|{','.join(sorted(self.methods or ()))}"
        self.key_prefix = f"{key_prefix}:{_digest(scope)}"

    def _subject(self, invocation: InvocationContext) -> str:
        context = invocation.context
        if self.per == "user" and context.user_identifier is not None:
            return f"u:{context.user_identifier}"
        return f"c:{context.connection_id}"

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        if self.methods is not None and fold(invocation.method_name) not in self.methods:
            return await call_next(invocation)
        now = time.time()
        window = int(now // self.period)
        subject = self._subject(invocation)
        key = f"{self.key_prefix}:{_digest(invocation.hub_path + '|' + subject)}:{window}"
        count = await self._hit(key)
        if count > self.limit:
            if count == self.limit + 1:
                context = invocation.context
                logger.warning(
                    "rate limit %s per %s exceeded: hub=%s method=%s connection=%s user=%s",
                    self.rate,
                    self.per,
                    invocation.hub_path,
                    invocation.method_name,
                    context.connection_id,
                    context.user_identifier,
                )
            retry = max(1, math.ceil((window + 1) * self.period - now))
            raise HubError(f"Rate limit exceeded ({self.rate} per {self.per}); try again in {retry} s.")
        return await call_next(invocation)

    async def _hit(self, key: str) -> int:
        """Count one call in the window's key; the count so far."""
        cache = caches[self.cache_alias]
        timeout = self.period + 1
        if isinstance(cache, LocMemCache):  # no I/O: skip the thread hop of the async API
            if cache.add(key, 1, timeout):
                return 1
            try:
                return cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout)
                return 1
        if await cache.aadd(key, 1, timeout):
            return 1
        try:
            return await cache.aincr(key)
        except ValueError:
            await cache.aset(key, 1, timeout)
            return 1


def _digest(text: str) -> str:
    """Cache keys stay short and free of characters memcached refuses, whatever a user id holds."""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
