"""Keep access tokens out of logs.

Browsers must send their bearer token in the URL of WebSocket and Server-Sent Events
requests (``?access_token=...``), and servers log request URLs: uvicorn's access log,
daphne's, ``runserver``'s, Django's error reports. :class:`RedactTokensFilter` replaces
the value of every query parameter named in ``HUBS_REDACTED_QUERY_PARAMS``, any
connection token (``id=`` and 22 URL-safe characters: it grants use of a live
connection), and any ``Bearer`` credential or JWT-shaped string with ``[REDACTED]``
wherever a record can carry it: the message, its arguments, the exception text, and
the ``request`` / ``scope`` objects handlers such as ``AdminEmailHandler`` read.

A filter attached to a logger only sees records created on that very logger, not
those propagated from its children; one attached to a handler sees every record the
handler writes. :func:`install` (run by the app's ``ready()``) therefore attaches it to
the loggers that carry request lines *and* to every handler those records reach.
daphne's command-line access log is not written through ``logging`` at all: run
``python -m django_hubs.daphne`` (same arguments as ``daphne``) to redact it too.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[REDACTED]"
_DONE = re.escape(REDACTED)  # redacting twice changes nothing

#: Loggers that write request lines or request objects, by server.
REQUEST_LOGGERS = (
    "django.channels.server",  # daphne's ``manage.py runserver``
    "daphne",
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "django",
    "django.request",
    "django.server",
    "django_hubs",
)

_BEARER = re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9\-._~+/]+=*")
#: Three base64url segments, the first one a JSON object (``{"`` encodes as ``eyJ``).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
#: A connection token in ``id=`` (22 base64url characters, spec 1.4): it grants use of a live connection.
_CONNECTION_TOKEN = re.compile(r"((?:^|[?&;])id=)[A-Za-z0-9_-]{22}(?=$|[&#\s\"'<>])")
_AUTH_HEADER_NAMES = {"authorization", "http_authorization"}
_MAX_DEPTH = 4


def redacted_names() -> tuple[str, ...]:
    from .conf import redacted_query_params

    try:
        return tuple(str(name) for name in redacted_query_params())
    except Exception:  # settings unusable (not configured yet): still redact the default
        return ("access_token",)


@functools.lru_cache(maxsize=8)
def _patterns(names: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    if not names:
        return ()
    alternatives = "|".join(re.escape(name) for name in names)
    return (
        # name=value in a URL or query string, also percent-encoded inside another URL.
        re.compile(rf"(?i)((?:{alternatives})(?:=|%3D))(?!{_DONE})[^&#\s\"'<>,]+"),
        # 'name': 'value' and 'name': ['value'] in reprs of dicts and QueryDicts.
        re.compile(rf"(?i)(['\"](?:{alternatives})['\"]\s*:\s*\[?\s*['\"])(?!{_DONE})[^'\"]+"),
    )


def redact(text: str) -> str:
    """``text`` with token values replaced by ``[REDACTED]``."""
    for pattern in _patterns(redacted_names()):
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    text = _CONNECTION_TOKEN.sub(rf"\g<1>{REDACTED}", text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _JWT.sub(REDACTED, text)


def redact_bytes(data: bytes) -> bytes:
    return redact(data.decode("latin-1")).encode("latin-1")


def redact_value(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (text, bytes, containers, objects) without tokens; the original is untouched."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bytes | bytearray):
        return redact_bytes(bytes(value))
    if depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        names = {name.lower() for name in redacted_names()} | _AUTH_HEADER_NAMES
        return {
            key: REDACTED if isinstance(key, str) and key.lower() in names else redact_value(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, tuple | list):
        return type(value)(redact_value(item, depth + 1) for item in value)
    try:
        text = str(value)
    except Exception:
        return value
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_scope(scope: dict[str, Any]) -> dict[str, Any]:
    """A copy of an ASGI scope without the token in its query string or headers."""
    headers = [
        (name, REDACTED.encode() if name.lower() == b"authorization" else redact_bytes(value))
        for name, value in scope.get("headers", ())
    ]
    result = {**scope, "headers": headers}
    if "query_string" in scope:
        result["query_string"] = redact_bytes(scope["query_string"])
    return result


def redact_request(request: Any) -> Any:
    """A shallow copy of a Django request whose ``GET``, ``META`` and scope hide the token."""
    from django.http import HttpRequest

    if not isinstance(request, HttpRequest):
        return request
    meta = request.META
    names = {name.lower() for name in redacted_names()}
    query = meta.get("QUERY_STRING", "")
    if not meta.get("HTTP_AUTHORIZATION") and redact(query) == query:
        return request
    clean = copy.copy(request)
    clean.META = {
        key: REDACTED if key == "HTTP_AUTHORIZATION" else (redact(value) if isinstance(value, str) else value)
        for key, value in meta.items()
    }
    get = request.GET.copy()
    for key in list(get):
        if key.lower() in names:
            get.setlist(key, [REDACTED] * len(get.getlist(key)))
    clean.GET = get
    clean.__dict__.pop("headers", None)  # a cached_property: rebuilt from the new META
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        clean.scope = redact_scope(scope)
    return clean


class RedactTokensFilter(logging.Filter):
    """Removes access tokens from a record; never drops it.

    Usable in ``LOGGING`` too: ``"filters": {"redact": {"()": "django_hubs.logging.RedactTokensFilter"}}``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._clean(record)
        except Exception:  # a log line must never be lost to redaction trouble
            record.msg, record.args = "[a log record was withheld: token redaction failed]", ()
        return True

    @staticmethod
    def _clean(record: logging.LogRecord) -> None:
        if not record.args:
            record.msg = redact_value(record.msg)
        else:
            # Arguments are cleaned one by one, so formatters that read them (uvicorn's
            # access formatter unpacks five) keep working. The format string is left
            # alone unless the token is in it: "access_token=%s" must keep its "%s".
            record.args = redact_value(record.args)
            try:
                message = record.getMessage()
            except Exception:  # not a valid format: clean it as text
                record.msg = redact_value(record.msg)
            else:
                cleaned = redact(message)
                if cleaned != message:
                    record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            cleaned = redact(text)
            if cleaned != text:
                record.exc_text = cleaned
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        if hasattr(record, "request"):
            record.request = redact_request(record.request)
        scope = getattr(record, "scope", None)
        if isinstance(scope, dict):
            record.scope = redact_scope(scope)


_filter = RedactTokensFilter()


def _attach(target: logging.Filterer) -> None:
    if not any(isinstance(existing, RedactTokensFilter) for existing in target.filters):
        target.addFilter(_filter)


def install(loggers: Iterable[str] = REQUEST_LOGGERS) -> None:
    """Attach the filter to ``loggers`` and to every handler their records reach (idempotent)."""
    for name in loggers:
        logger: logging.Logger | None = logging.getLogger(name)
        assert logger is not None
        _attach(logger)
        while logger is not None:
            for handler in logger.handlers:
                _attach(handler)
            if not logger.propagate:
                break
            logger = logger.parent
    for handler in logging.getLogger().handlers:
        _attach(handler)
    if logging.lastResort is not None:
        _attach(logging.lastResort)
