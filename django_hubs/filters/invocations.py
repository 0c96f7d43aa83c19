"""``InvocationLoggerFilter``: one log line per hub call, arguments shortened and never carrying a token."""

from __future__ import annotations

import asyncio
import logging
import reprlib
import time
from collections.abc import AsyncIterator
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from ..errors import exception_name
from ..security.redaction import redact
from ..server.filtering import HubFilter, InvocationContext, InvokeNext


class RedactingRepr(reprlib.Repr):
    """``reprlib`` with tokens redacted before shortening: shortening keeps a string's head and
    tail, and a JWT cut in its middle is no longer recognisable but keeps its signature."""

    def repr_str(self, x: str, level: int) -> str:
        return super().repr_str(redact(x), level)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = redact(repr(x))
        except Exception:  # a broken __repr__: reprlib's own placeholder
            return super().repr_instance(x, level)
        if len(text) > self.maxother:
            head = max(0, (self.maxother - 3) // 2)
            tail = max(0, self.maxother - 3 - head)
            text = text[:head] + self.fillvalue + text[len(text) - tail :]
        return text


class InvocationLoggerFilter(HubFilter):
    """One log line per invocation: hub, method, outcome, duration, connection and user.

    Arguments are left out unless ``arguments=True`` (then shortened to
    ``max_argument_length`` characters); results, tokens and the scope never appear. A
    stream is logged when it ends, with the number of items sent. ``level`` is a logging
    level name or number, ``logger`` the logger's name.
    """

    def __init__(
        self,
        level: str | int = "INFO",
        logger: str = "django_hubs.invocations",
        arguments: bool = False,
        max_argument_length: int = 200,
    ) -> None:
        resolved = logging.getLevelName(level) if isinstance(level, str) else level
        if not isinstance(resolved, int):
            raise ImproperlyConfigured(f"InvocationLoggerFilter level={level!r} is not a logging level.")
        self.level = resolved
        self.logger = logging.getLogger(logger)
        self.arguments = arguments
        self._repr = RedactingRepr()
        self._repr.maxstring = self._repr.maxother = max_argument_length
        self.max_argument_length = max_argument_length

    async def invoke(self, invocation: InvocationContext, call_next: InvokeNext) -> Any:
        if not self.logger.isEnabledFor(self.level):
            return await call_next(invocation)
        started = time.perf_counter()
        try:
            result = await call_next(invocation)
        except asyncio.CancelledError:
            self._log(invocation, "canceled", started)
            raise
        except Exception as exc:
            self._log(invocation, f"error({exception_name(exc)})", started)
            raise
        if invocation.streaming and hasattr(result, "__aiter__"):
            return self._logged_stream(invocation, result, started)
        self._log(invocation, "ok", started)
        return result

    async def _logged_stream(self, invocation: InvocationContext, stream: Any, started: float) -> AsyncIterator[Any]:
        iterator = stream.__aiter__()
        items = 0
        outcome = "ok"
        try:
            async for item in iterator:
                items += 1
                yield item
        except (GeneratorExit, asyncio.CancelledError):
            outcome = "canceled"
            raise
        except Exception as exc:
            outcome = f"error({exception_name(exc)})"
            raise
        finally:
            if hasattr(iterator, "aclose"):
                await iterator.aclose()
            self._log(invocation, outcome, started, items)

    def _log(self, invocation: InvocationContext, outcome: str, started: float, items: int | None = None) -> None:
        context = invocation.context
        milliseconds = (time.perf_counter() - started) * 1000
        extra = f" items={items}" if items is not None else ""
        if self.arguments:
            text = redact(self._repr.repr(invocation.arguments))
            extra += f" arguments={redact(text[: self.max_argument_length])}"
        self.logger.log(
            self.level,
            "invoked %s.%s outcome=%s duration=%.1fms connection=%s user=%s%s",
            invocation.hub_path,
            invocation.method_name,
            outcome,
            milliseconds,
            context.connection_id,
            context.user_identifier,
            extra,
        )
