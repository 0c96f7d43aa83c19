"""Keep access tokens out of logs.

Browsers must send their bearer token in the URL of WebSocket and Server-Sent Events
requests (``?access_token=...``), and servers log request URLs: uvicorn's access log,
daphne's, ``runserver``'s, Django's error reports. :func:`redact` replaces with
``[REDACTED]`` the value of every query parameter named in ``HUBS_REDACTED_QUERY_PARAMS``
(also when the name, ``=`` or the value are percent-encoded), any connection token
(``id=`` and 22 URL-safe characters: it grants use of a live connection), and any
``Bearer`` credential or JWT-shaped string. It is linear in its input: it runs on
client-chosen text (paths, method names, origins) in every request line.

Records are cleaned where they are made, not where they are written: :func:`install`
(run by the app's ``ready()``) wraps the log-record factory, so the message, its
arguments, the exception text and the stack of every record of every logger are clean
whatever handlers exist now or later. Django re-applies ``LOGGING`` with new handler
objects on every ``django.setup()`` (and ASGI entry points call it again); the factory
does not depend on them. The ``request`` / ``scope`` attributes that handlers such as
``AdminEmailHandler`` read are added after the factory ran, so :class:`RedactTokensFilter`
also sits on the server loggers and on every handler their records reach, re-attached
after each of Django's logging configurations. daphne's command-line access log is not
written through ``logging``: :func:`cover_daphne_access_log` wraps it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
import re
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

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
    "django.security",
    "django.server",
    "django_hubs",
)

_AUTH_HEADER_NAMES = {"authorization", "http_authorization"}
_MAX_DEPTH = 4

# Every pattern below is linear in its input: each quantified run is followed by a
# character it cannot contain, and runs that could be rescanned from many start
# positions (a JWT's base64url segments) are found once, from the start of the run.

#: ``Bearer <credential>``, also with a percent-encoded space.
_BEARER = re.compile(r"(?i)(\bbearer(?:\s|%20)+)[A-Za-z0-9\-._~+/]+=*")
#: A run of base64url characters, dots and percent escapes holding ``eyJ`` (``{"``), from its first character.
_JWT_RUN = re.compile(r"(?i)(?<![A-Za-z0-9_.%\-])[A-Za-z0-9_.%\-]*?(?:e|%65)(?:y|%79)(?:j|%4a)[A-Za-z0-9_.%\-]*")
#: ``id=`` after ``?``, ``&`` or ``;`` (percent-encoded too) and its value; a connection token is
#: 22 base64url characters.
_CONNECTION_TOKEN = re.compile(
    r"(?i)((?:^|[?&;]|%3f|%26|%3b)(?:i|%69)(?:d|%64)(?:=|%3d))((?:[A-Za-z0-9_.~\-]|%[0-9a-f]{2})+)"
)
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")
_ENCODED_ID = r"(?:i|%69)(?:d|%64)(?:=|%3d)"
_ENCODED_JWT = r"(?:e|%65)(?:y|%79)(?:j|%4a)"


_names: tuple[str, ...] | None = None  # read once: the factory runs for every record of every logger


def redacted_names() -> tuple[str, ...]:
    global _names
    if _names is not None:
        return _names
    from ..conf import redacted_query_params

    try:
        _names = tuple(str(name) for name in redacted_query_params())
    except Exception:  # settings unusable (not configured yet): still redact the default
        return ("access_token",)
    return _names


def _forget_names(*, setting: str, **kwargs: Any) -> None:
    global _names
    if setting == "HUBS_REDACTED_QUERY_PARAMS":
        _names = None


def _encoded(name: str) -> str:
    """A pattern for ``name`` with any of its characters percent-encoded, as servers decode them."""
    parts = []
    for char in name:
        escapes = "".join(f"%{byte:02x}" for byte in char.encode())
        parts.append(f"(?:{re.escape(char)}|{escapes})")
    return "".join(parts)


@functools.lru_cache(maxsize=8)
def _patterns(names: tuple[str, ...]) -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
    """A quick test for anything :func:`redact` could change, and the name patterns."""
    suspects = [r"bearer", _ENCODED_ID, _ENCODED_JWT]
    if not names:
        return re.compile("(?i)" + "|".join(suspects)), ()
    encoded = "|".join(_encoded(name) for name in names)
    plain = "|".join(re.escape(name) for name in names)
    suspects += [f"(?:{encoded})(?:=|%3d)", f"['\"](?:{plain})['\"]"]
    return re.compile("(?i)" + "|".join(suspects)), (
        # name=value in a URL or query string, also percent-encoded inside another URL.
        re.compile(rf"(?i)((?:{encoded})(?:=|%3d))(?!{_DONE})[^&#\s\"'<>,]+"),
        # 'name': 'value' and 'name': ['value'] in reprs of dicts and QueryDicts.
        re.compile(rf"(?i)(['\"](?:{plain})['\"]\s*:\s*\[?\s*['\"])(?!{_DONE})[^'\"]+"),
    )


def _jwt_start(segment: str) -> int:
    """Where a JWT's ``eyJ`` starts in a segment: its first ``eyJ`` after a word boundary, or -1."""
    found = segment.find("eyJ")
    while found > 0 and (segment[found - 1].isalnum() or segment[found - 1] == "_"):
        found = segment.find("eyJ", found + 1)
    return found


def _without_jwts(run: str) -> str:
    """``run`` with every ``eyJ<segment>.<segment>.<segment>`` replaced, segment by segment (linear)."""
    segments = run.split(".")
    pieces: list[str] = []
    index = 0
    while index < len(segments):
        segment = segments[index]
        start = _jwt_start(segment)
        if start >= 0 and index + 2 < len(segments) and segments[index + 1]:
            pieces.append(segment[:start] + REDACTED)
            index += 3
        else:
            pieces.append(segment)
            index += 1
    return ".".join(pieces)


def _jwt_run(match: re.Match[str]) -> str:
    run = match.group()
    if "%" not in run:
        return _without_jwts(run)
    # Percent-encoded (``%65yJ...`` authenticates as well): the whole run goes if it hides a JWT.
    decoded = unquote(run)
    return REDACTED if _without_jwts(decoded) != decoded else run


def _connection_token(match: re.Match[str]) -> str:
    value = match.group(2)
    if _TOKEN_SHAPE.fullmatch(unquote(value) if "%" in value else value):
        return match.group(1) + REDACTED
    return match.group()


#: Connection ids that are their connection's token too (negotiate version 0: pysignalr,
#: signalrcore): while the connection lives the id grants its use, so logs show an alias.
_secret_ids: dict[str, str] = {}
#: The ids of ended version-0 connections, so that their last lines keep the alias (bounded).
_ended_ids: OrderedDict[str, str] = OrderedDict()
ENDED_IDS_KEPT = 4096
#: A 22-character base64url run standing alone: what a connection id looks like in a log line.
_ID_RUN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{22}(?![A-Za-z0-9_-])")


def id_alias(connection_id: str) -> str:
    """What logs show for a version-0 connection id: stable, so its lines still go together."""
    return "v0-" + hashlib.blake2b(connection_id.encode(), digest_size=6).hexdigest()


def hide_connection_id(connection_id: str) -> None:
    """From now on, log lines show ``connection_id`` as its alias (it is also the connection's token)."""
    _secret_ids[connection_id] = id_alias(connection_id)


def forget_connection_id(connection_id: str) -> None:
    """The connection has ended and its id grants nothing any more; its alias is kept a while."""
    alias = _secret_ids.pop(connection_id, None)
    if alias is not None:
        _ended_ids[connection_id] = alias
        if len(_ended_ids) > ENDED_IDS_KEPT:
            _ended_ids.popitem(last=False)


def _alias_of(match: re.Match[str]) -> str:
    found = match.group()
    return _secret_ids.get(found) or _ended_ids.get(found) or found


def _without_secret_ids(text: str) -> str:
    if not (_secret_ids or _ended_ids):
        return text
    return _ID_RUN.sub(_alias_of, text)


def redact(text: str) -> str:
    """``text`` with token values replaced by ``[REDACTED]``; linear in ``len(text)``."""
    text = _without_secret_ids(text)
    suspect, name_patterns = _patterns(redacted_names())
    if suspect.search(text) is None:  # the common case: one scan, nothing to do
        return text
    for pattern in name_patterns:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    text = _CONNECTION_TOKEN.sub(_connection_token, text)
    text = _BEARER.sub(rf"\g<1>{REDACTED}", text)
    return _JWT_RUN.sub(_jwt_run, text)


def is_connection_token(value: str) -> bool:
    return _TOKEN_SHAPE.fullmatch(value) is not None


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
    """A shallow copy of a Django request whose ``GET``, ``META`` and scope hide the tokens.

    ``GET`` is what error mails list: the values of the named parameters go, and so do
    connection tokens (``id``) and JWTs under any name.
    """
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
        values = get.getlist(key)
        if key.lower() in names:
            get.setlist(key, [REDACTED] * len(values))
        else:
            get.setlist(key, [REDACTED if is_connection_token(value) else redact(value) for value in values])
    clean.GET = get
    clean.__dict__.pop("headers", None)  # a cached_property: rebuilt from the new META
    scope = getattr(request, "scope", None)
    if isinstance(scope, dict):
        clean.scope = redact_scope(scope)
    return clean


_PLAIN = (str, int, float, type(None))


def _plain_and_clean(record: logging.LogRecord) -> bool:
    """Whether the message and arguments have nothing to redact, found with one scan of the message.

    Plain arguments of a tuple are all in the message (``%`` formatting consumes every one).
    """
    args = record.args
    if isinstance(record.msg, str) and (not args or (isinstance(args, tuple) and all(type(a) in _PLAIN for a in args))):
        try:
            message = record.msg % args if args else record.msg
        except Exception:  # not a valid format: the slow path deals with it
            return False
        suspect, _ = _patterns(redacted_names())
        return suspect.search(message) is None and _without_secret_ids(message) == message
    return False


def _clean_message(record: logging.LogRecord) -> None:
    if not record.args:
        record.msg = redact_value(record.msg)
        return
    # Arguments are cleaned one by one, so formatters that read them (uvicorn's
    # access formatter unpacks five) keep working. The format string is left
    # alone unless the token is in it: "access_token=%s" must keep its "%s".
    record.args = redact_value(record.args)
    try:
        message = record.getMessage()
    except Exception:  # not a valid format: clean it as text, logging reports the error later
        record.msg = redact_value(record.msg)
    else:
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()


def clean_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place: message, arguments, exception and stack text, ``request`` and ``scope``."""
    if not _plain_and_clean(record):
        _clean_message(record)
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


_WITHHELD = "[a log record was withheld: token redaction failed]"
_cleaning = threading.local()  # str() of an argument may log: that record is not cleaned twice over


def _clean_safely(record: logging.LogRecord) -> None:
    if getattr(_cleaning, "active", False):
        return
    _cleaning.active = True
    try:
        clean_record(record)
    except Exception:  # a log line must never be lost to redaction trouble, nor carry the token
        record.msg, record.args, record.exc_info, record.exc_text = _WITHHELD, (), None, None
    finally:
        _cleaning.active = False


class RedactTokensFilter(logging.Filter):
    """Removes access tokens from a record; never drops it.

    Usable in ``LOGGING`` too: ``"filters": {"redact": {"()": "django_hubs.security.redaction.RedactTokensFilter"}}``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _clean_safely(record)
        return True


RecordFactory = Callable[..., logging.LogRecord]


class RedactingRecordFactory:
    """Wraps the log-record factory: every record of every logger is cleaned once it is made."""

    def __init__(self, previous: RecordFactory) -> None:
        self.previous = previous

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        _clean_safely(record)
        return record


def install_record_factory() -> None:
    """Make :class:`RedactingRecordFactory` the record factory (idempotent, keeps any other wrapper)."""
    current = logging.getLogRecordFactory()
    if not isinstance(current, RedactingRecordFactory):
        logging.setLogRecordFactory(RedactingRecordFactory(current))


_filter = RedactTokensFilter()


def _attach(target: logging.Filterer) -> None:
    if not any(isinstance(existing, RedactTokensFilter) for existing in target.filters):
        target.addFilter(_filter)


def attach_filters(loggers: Iterable[str] = REQUEST_LOGGERS) -> None:
    """The filter on ``loggers`` and on every handler their records reach (idempotent).

    A logger's filter sees only records made on that very logger; a handler's sees those
    of child loggers too (``django.security.DisallowedHost``, ``django_hubs.connection``).
    """
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


def _reattach_after_django_configures_logging() -> None:
    """Every ``django.setup()`` re-applies ``LOGGING`` with new handlers: attach the filter to those too."""
    from django.utils import log

    original = log.configure_logging
    if getattr(original, "redacts_tokens", False):
        return

    @functools.wraps(original)
    def configure_logging(logging_config: Any, logging_settings: Any) -> None:
        original(logging_config, logging_settings)
        attach_filters()

    configure_logging.redacts_tokens = True  # type: ignore[attr-defined]
    log.configure_logging = configure_logging


def cover_daphne_access_log() -> None:
    """Redact the access log of the ``daphne`` command, when that command is what runs.

    ``daphne.cli`` builds its ``AccessLogGenerator`` after importing the application, so
    replacing the class there, from the app's ``ready()``, covers ``--access-log`` and
    the default stdout log. Nothing is imported when daphne's command is not running.
    """
    cli = sys.modules.get("daphne.cli")
    generator = getattr(cli, "AccessLogGenerator", None)
    if cli is None or not isinstance(generator, type) or issubclass(generator, RedactingAccessLog):
        return
    setattr(cli, "AccessLogGenerator", redacting_access_log(generator))  # noqa: B010 - a module global


class RedactingAccessLog:
    """Marker base of :func:`redacting_access_log`'s classes."""


def redacting_access_log(base: type) -> type:
    """A subclass of daphne's ``AccessLogGenerator`` that redacts each action's details first."""

    def __call__(self: Any, protocol: str, action: str, details: dict[str, Any]) -> None:
        base.__call__(self, protocol, action, redact_value(details))

    return type(f"Redacting{base.__name__}", (RedactingAccessLog, base), {"__call__": __call__})


def install(loggers: Iterable[str] = REQUEST_LOGGERS) -> None:
    """Redact every record from now on, whatever configures logging later (idempotent)."""
    from django.core.signals import setting_changed

    setting_changed.connect(_forget_names, dispatch_uid="django_hubs.security.redaction.names")
    install_record_factory()
    attach_filters(loggers)
    _reattach_after_django_configures_logging()
    cover_daphne_access_log()
