"""``manage.py check``: HUBS_* settings that cannot work, and CORS settings that are unsafe for SignalR.

Errors (``django_hubs.E0xx``) are settings django-hubs cannot use or that are unsafe (E008); warnings
(``django_hubs.W0xx``) are configurations the "Security considerations in ASP.NET Core
SignalR" guidance calls unsafe, or that leave other endpoints a SignalR page talks to
behind the hubs' own CORS answer (see ``django_hubs.cors``).
"""

from __future__ import annotations

import datetime
import importlib.util
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from corsheaders.conf import conf as cors_conf
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.utils.module_loading import import_string

from .. import conf
from ..connections import ConnectionHandler
from ..hub import Hub
from ..security.cors import REQUIRED_HEADERS

# --- settings types -------------------------------------------------------------------


def _is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be True or False"


def _is_duration(value: Any) -> str | None:
    if isinstance(value, datetime.timedelta):
        return None if value.total_seconds() > 0 else "must be a positive duration"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number of seconds (int or float) or a timedelta"
    return None if value > 0 else "must be a positive number of seconds"


def _is_count(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a positive integer"
    return None


def _is_size_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a positive number of bytes, or None for no limit"
    return None


def _is_subset(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            return f"must be a non-empty list drawn from {list(allowed)}"
        unknown = [item for item in value if item not in allowed]
        if unknown:
            return f"has unknown entries {unknown}; choose from {list(allowed)}"
        return None

    return check


def _is_names(value: Any) -> str | None:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        return "must be a list of query parameter names"
    if not all(isinstance(item, str) and item for item in value):
        return "must contain non-empty strings only"
    return None


def _is_filters(value: Any) -> str | None:
    """Every entry imports and builds, with its options (a bad rate, an unknown keyword)."""
    from django.core.exceptions import ImproperlyConfigured

    from ..server.filtering import load_filters

    if isinstance(value, str | dict) or not isinstance(value, list | tuple):
        return 'must be a list of filters (dotted paths, classes or {"filter": ..., **options} dicts)'
    try:
        load_filters(value)
    except ImproperlyConfigured as exc:
        return f"is not usable: {str(exc).rstrip('.')}"
    return None


VALIDATORS: dict[str, Callable[[Any], str | None]] = {
    "HUBS_DETAILED_ERRORS": _is_bool,
    "HUBS_CLOSE_ON_TOKEN_EXPIRY": _is_bool,
    "HUBS_AUTH_REFRESH": _is_bool,
    "HUBS_STATEFUL_RECONNECT": _is_bool,
    **{name: _is_duration for name in conf.DURATIONS},
    "HUBS_MAX_PARALLEL_INVOCATIONS": _is_count,
    "HUBS_SYNC_THREADS": _is_count,
    "HUBS_AUTH_THREADS": _is_count,
    "HUBS_STREAM_BUFFER_CAPACITY": _is_count,
    "HUBS_MAX_STREAMS_PER_CONNECTION": _is_count,
    "HUBS_STATEFUL_RECONNECT_BUFFER_SIZE": _is_count,
    "HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER": _is_count,
    "HUBS_MAX_MESSAGE_SIZE": _is_size_or_none,
    "HUBS_MAX_OUTGOING_BUFFER": _is_size_or_none,
    "HUBS_TRANSPORTS": _is_subset(conf.ALL_TRANSPORTS),
    "HUBS_PROTOCOLS": _is_subset(conf.ALL_PROTOCOLS),
    "HUBS_REDACTED_QUERY_PARAMS": _is_names,
    "HUBS_FILTERS": _is_filters,
    "HUBS_PROMETHEUS": _is_bool,
    "HUBS_OPENTELEMETRY": _is_bool,
}


def _per_hub_names() -> dict[str, str]:
    """Keys a hub's dict in ``HUBS`` may override, mapped to the setting they stand for."""
    names = {}
    for field in fields(conf.HubOptions):
        setting = "HUBS_" + field.name.upper()
        names[setting] = setting
        names[setting.removeprefix("HUBS_")] = setting
    return names


def _invalid(setting: str, problem: str, where: str = "") -> Error:
    return Error(
        f"{setting}{where} {problem}.",
        hint="See the Settings table in django-hubs' README.",
        obj=setting,
        id="django_hubs.E004",
    )


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Types and values of every ``HUBS_*`` setting, and of the ``HUBS`` registry itself."""
    messages: list[CheckMessage] = []
    for setting, validate in VALIDATORS.items():
        if hasattr(settings, setting):
            problem = validate(getattr(settings, setting))
            if problem:
                messages.append(_invalid(setting, problem))
    messages += check_hubs()
    messages += check_prometheus()
    return messages


def check_prometheus() -> list[CheckMessage]:
    """``HUBS_PROMETHEUS`` on needs the optional ``prometheus_client`` library."""
    if getattr(settings, "HUBS_PROMETHEUS", False) is not True or importlib.util.find_spec("prometheus_client"):
        return []
    return [
        Error(
            "HUBS_PROMETHEUS is on but prometheus_client is not installed.",
            hint='pip install "django-hubs[prometheus]", or set HUBS_PROMETHEUS = False.',
            obj="HUBS_PROMETHEUS",
            id="django_hubs.E007",
        )
    ]


def check_hubs() -> list[CheckMessage]:
    hubs = getattr(settings, "HUBS", {})
    if not isinstance(hubs, dict):
        return [
            Error(
                "HUBS must be a dict mapping URL paths to hub classes.",
                hint='For example HUBS = {"hubs/chat": "chat.hubs.ChatHub"}.',
                obj="HUBS",
                id="django_hubs.E001",
            )
        ]
    messages: list[CheckMessage] = []
    per_hub = _per_hub_names()
    for path, value in hubs.items():
        if not isinstance(path, str) or not path.strip("/"):
            messages.append(
                Error(f"HUBS key {path!r} is not a URL path.", obj="HUBS", id="django_hubs.E003"),
            )
            continue
        target = value
        if isinstance(value, dict):
            target = value.get("hub")
            for key, override in value.items():
                if key == "hub":
                    continue
                setting = per_hub.get(key)
                if setting is None:
                    messages.append(
                        Error(
                            f"HUBS[{path!r}] has the unknown key {key!r}.",
                            hint='Use "hub" and the names of HUBS_* settings, with or without the prefix.',
                            obj="HUBS",
                            id="django_hubs.E005",
                        )
                    )
                    continue
                validate = VALIDATORS.get(setting)
                problem = validate(override) if validate else None
                if problem:
                    messages.append(_invalid(setting, problem, f" (in HUBS[{path!r}])"))
        messages += _check_hub_class(path, target)
    return messages


def _check_hub_class(path: str, target: Any) -> list[CheckMessage]:
    problem = None
    hub_class = target
    if isinstance(target, str):
        try:
            hub_class = import_string(target)
        except ImportError as exc:
            problem = f"cannot be imported ({exc})"
    elif target is None:
        problem = 'names no hub (a dict entry needs a "hub" key)'
    if problem is None and isinstance(hub_class, type) and issubclass(hub_class, ConnectionHandler):
        return []
    if problem is None and not (isinstance(hub_class, type) and issubclass(hub_class, Hub)):
        problem = "is not a subclass of django_hubs.Hub or django_hubs.connections.ConnectionHandler"
    if problem is None:
        return _check_hub_filters(path, hub_class)
    return [
        Error(
            f"HUBS[{path!r}] = {target!r} {problem}.",
            hint="Give the dotted path of a Hub or ConnectionHandler subclass, or the class itself.",
            obj="HUBS",
            id="django_hubs.E002",
        )
    ]


def _check_hub_filters(path: str, hub_class: type[Hub]) -> list[CheckMessage]:
    problem = _is_filters(list(getattr(hub_class, "filters", ())))
    if problem is None:
        return []
    return [
        Error(
            f"{hub_class.__qualname__}.filters (HUBS[{path!r}]) {problem}.",
            hint='Each entry is a dotted path, a class, an instance or a {"filter": ..., **options} dict.',
            obj=hub_class,
            id="django_hubs.E006",
        )
    ]


# --- security ---------------------------------------------------------------------------


def _detailed_errors_anywhere() -> bool:
    if getattr(settings, "HUBS_DETAILED_ERRORS", False) is True:
        return True
    hubs = getattr(settings, "HUBS", {})
    if not isinstance(hubs, dict):
        return False
    return any(
        isinstance(value, dict) and True in (value.get("HUBS_DETAILED_ERRORS"), value.get("DETAILED_ERRORS"))
        for value in hubs.values()
    )


def check_security(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if _detailed_errors_anywhere() and not settings.DEBUG:
        messages.append(
            Warning(
                "HUBS_DETAILED_ERRORS is on outside DEBUG: exception types and messages reach every client.",
                hint="Exception messages can reveal internals; keep detailed errors for development. "
                "Raise HubError for messages clients should see.",
                id="django_hubs.W005",
            )
        )
    names = getattr(settings, "HUBS_REDACTED_QUERY_PARAMS", None)
    if isinstance(names, list | tuple) and "access_token" not in names:
        messages.append(
            Warning(
                "HUBS_REDACTED_QUERY_PARAMS does not include 'access_token'.",
                hint="Browsers send their bearer token in that query parameter; without it, tokens reach the logs.",
                id="django_hubs.W006",
            )
        )
    messages += check_cors()
    return messages


SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


def session_logins_possible() -> bool:
    """Users can log in with a session cookie: ``django.contrib.auth`` installed, and a session middleware.

    ``login()`` needs both (the middleware writes the cookie), whatever the session engine;
    the hubs' own ASGI stack then reads that cookie on every WebSocket upgrade.
    """
    from django.apps import apps

    if not apps.is_installed("django.contrib.auth"):
        return False
    for dotted in getattr(settings, "MIDDLEWARE", None) or ():
        if dotted == SESSION_MIDDLEWARE:
            return True
        try:
            middleware = import_string(dotted) if isinstance(dotted, str) else dotted
        except ImportError:
            continue  # Django reports an unimportable middleware itself
        if isinstance(middleware, type) and issubclass(middleware, import_string(SESSION_MIDDLEWARE)):
            return True
    return False


def check_allow_all_origins() -> list[CheckMessage]:
    if not cors_conf.CORS_ALLOW_ALL_ORIGINS:
        return []
    if session_logins_possible():
        return [
            Error(
                "CORS_ALLOW_ALL_ORIGINS is on and users can log in with a session cookie "
                "(django.contrib.auth and SessionMiddleware).",
                hint="django-hubs refuses cross-site WebSocket upgrades that carry only the session cookie and "
                "gives cookie requests from unlisted origins no credentials, so only token clients work from "
                "other sites; with CORS_ALLOW_CREDENTIALS the rest of your site answers every origin with "
                "credentials. List the origins you trust in CORS_ALLOWED_ORIGINS instead, or, if your hubs "
                "authenticate by token only, add django_hubs.E008 to SILENCED_SYSTEM_CHECKS.",
                id="django_hubs.E008",
            )
        ]
    return [
        Warning(
            "CORS_ALLOW_ALL_ORIGINS is on: any web site may open hub connections from its visitors' browsers.",
            hint="They get no cookies (cross-site upgrades are stripped of them; hub endpoints allow credentials "
            "only to requests with an access token), but any page may use your hubs with tokens it holds and "
            "anonymously. List the origins you trust in CORS_ALLOWED_ORIGINS instead.",
            id="django_hubs.W001",
        )
    ]


def check_cors() -> list[CheckMessage]:
    messages = check_allow_all_origins()
    cross_origin = cors_conf.CORS_ALLOWED_ORIGINS or cors_conf.CORS_ALLOWED_ORIGIN_REGEXES
    if not cross_origin:
        return messages  # same origin only, or every origin without cookies: the lists play no part
    behind = (
        "django-hubs answers its own endpoints with it anyway, but other views your SignalR pages call "
        "(a token view, a redirect target) and deployments without django_hubs.asgi do not"
    )
    if not cors_conf.CORS_ALLOW_CREDENTIALS:
        messages.append(
            Warning(
                "CORS_ALLOW_CREDENTIALS is off, and SignalR clients send credentials by default (withCredentials).",
                hint=f"Set CORS_ALLOW_CREDENTIALS = True: load balancers need cookies for sticky sessions; {behind}.",
                id="django_hubs.W002",
            )
        )
    methods = {method.upper() for method in cors_conf.CORS_ALLOW_METHODS}
    missing_methods = [method for method in ("GET", "POST") if method not in methods]
    if missing_methods:
        messages.append(
            Warning(
                f"CORS_ALLOW_METHODS does not allow {', '.join(missing_methods)}, which SignalR clients use.",
                hint=f"Add them to CORS_ALLOW_METHODS; {behind}.",
                id="django_hubs.W003",
            )
        )
    headers = {header.lower() for header in cors_conf.CORS_ALLOW_HEADERS}
    missing_headers = [header for header in REQUIRED_HEADERS if header not in headers]
    if missing_headers:
        messages.append(
            Warning(
                f"CORS_ALLOW_HEADERS does not allow {', '.join(missing_headers)}, which SignalR clients send.",
                hint=f'CORS_ALLOW_HEADERS = (*corsheaders.defaults.default_headers, "x-signalr-user-agent"); {behind}.',
                id="django_hubs.W004",
            )
        )
    return messages


# --- routing: where clients find the hubs -------------------------------------------------


def _listed_hubs() -> list[tuple[str, type[Hub] | type[ConnectionHandler], tuple[str, ...]]]:
    """``(path, hub class, transports)`` of every usable ``HUBS`` entry; E002/E003 report the rest."""
    from django.core.exceptions import ImproperlyConfigured

    from ..server.endpoints import _load_hub, normalize_path

    hubs = getattr(settings, "HUBS", {})
    if not isinstance(hubs, dict):
        return []
    listed = []
    for path, value in hubs.items():
        if not isinstance(path, str) or not normalize_path(path):
            continue
        try:
            hub_class, overrides = _load_hub(value)
        except (ImportError, ImproperlyConfigured, TypeError):
            continue
        transports = conf.get("HUBS_TRANSPORTS", overrides)
        listed.append(
            (normalize_path(path), hub_class, tuple(transports) if isinstance(transports, list | tuple) else ())
        )
    return listed


def _auth_refresh(path: str) -> bool:
    from ..server.endpoints import _load_hub, normalize_path

    for key, value in getattr(settings, "HUBS", {}).items():
        if isinstance(key, str) and normalize_path(key) == path:
            return bool(conf.get("HUBS_AUTH_REFRESH", _load_hub(value)[1]))
    return False


def check_negotiate_routes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every hub's negotiate URL reaches django-hubs (else the client gets the site's 404 page).

    So does its refresh URL where ``HUBS_AUTH_REFRESH`` is on.
    """
    from django.urls import Resolver404, resolve

    from ..transports.negotiate import negotiate
    from ..transports.refresh import refresh

    if not hasattr(settings, "ROOT_URLCONF"):
        return []
    messages: list[CheckMessage] = []
    for path, hub_class, _ in _listed_hubs():
        missing_negotiate = "clients cannot negotiate and Server-Sent Events and long polling are missing"
        wanted = [("negotiate", negotiate, missing_negotiate)]
        if _auth_refresh(path):
            wanted.append(("refresh", refresh, "clients cannot refresh their tokens (HUBS_AUTH_REFRESH)"))
        for endpoint, view, consequence in wanted:
            try:
                match = resolve(f"/{path}/{endpoint}")
            except Resolver404:
                match = None
            except Exception:  # a broken URLconf: Django's own URL checks report it
                return []
            if match is not None and match.func is view:
                continue
            found = "nothing" if match is None else f"the view {match.view_name or match._func_path}"
            messages.append(
                Error(
                    f"HUBS[{path!r}] ({hub_class.__qualname__}): /{path}/{endpoint} reaches {found} in "
                    f"ROOT_URLCONF, so {consequence}.",
                    hint='Add path("", include("django_hubs.urls")) to your urlpatterns, before any catch-all route.',
                    obj="HUBS",
                    id="django_hubs.E021",
                )
            )
    return messages


def check_websocket_routes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every hub that offers WebSockets is reached by ``ASGI_APPLICATION`` at its path.

    Otherwise the JS client silently falls back to Server-Sent Events.
    """
    from .routes import websocket_route

    name = getattr(settings, "ASGI_APPLICATION", None)
    listed = [entry for entry in _listed_hubs() if "WebSockets" in entry[2]]
    if not isinstance(name, str) or not listed:
        return []  # uvicorn and daphne are told the app on their command line: nothing to compare
    try:
        application = import_string(name)
    except ImportError as exc:
        return [
            Error(
                f"ASGI_APPLICATION = {name!r} cannot be imported ({exc}).",
                hint="Point it at the application in your asgi.py, e.g. 'mysite.asgi.application'.",
                obj="ASGI_APPLICATION",
                id="django_hubs.E020",
            )
        ]
    messages: list[CheckMessage] = []
    for path, hub_class, _ in listed:
        route = websocket_route(application, path)
        if route.kind == "unknown":
            continue
        if route.kind == "hub" and route.hub is hub_class:
            if route.origin_validator:
                messages.append(
                    Warning(
                        f"HUBS[{path!r}] ({hub_class.__qualname__}) is behind Channels' OriginValidator "
                        "(AllowedHostsOriginValidator), which refuses the .NET, Java and Python SignalR clients "
                        "(they send no Origin) and ignores CORS_ALLOWED_ORIGINS.",
                        hint="Use django_hubs.security.origins.OriginCheckMiddleware instead; a hub routed with "
                        "as_asgi() checks origins itself.",
                        obj="ASGI_APPLICATION",
                        id="django_hubs.W020",
                    )
                )
            continue
        found = f"the hub {getattr(route.hub, '__qualname__', None)}" if route.kind == "hub" else route.detail
        messages.append(
            Error(
                f"HUBS[{path!r}] ({hub_class.__qualname__}) is not reachable over WebSockets by "
                f"ASGI_APPLICATION = {name!r}: /{path} reaches {found}. Clients fall back to Server-Sent Events "
                "without saying so.",
                hint=f'Add path("{path}", {hub_class.__qualname__}.as_asgi()) to your websocket URLRouter, or '
                "build the application with django_hubs.asgi.get_asgi_application().",
                obj="ASGI_APPLICATION",
                id="django_hubs.E022",
            )
        )
    return messages


__all__ = ["check_negotiate_routes", "check_security", "check_settings", "check_websocket_routes"]
