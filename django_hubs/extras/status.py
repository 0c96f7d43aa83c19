"""Staff-only views of this process's hub counters; opt in with one line in ``urls.py``::

    path("hubs-status/", include("django_hubs.extras.status")),

- ``hubs-status/``: an HTML page, one section per hub;
- ``hubs-status/json``: the same figures as JSON (:func:`django_hubs.server.metrics.snapshot`);
- ``hubs-status/metrics``: Prometheus metrics through ``prometheus_client``
  (:mod:`django_hubs.extras.prometheus`), only with ``HUBS_PROMETHEUS = True``: otherwise it
  answers 404, and the library is an optional extra (``django-hubs[prometheus]``).

Only active staff users get them; other signed-in users get 403 and anonymous browsers
the login page (JSON and metrics answer 403). Each server process counts its own
connections: behind a load balancer, a request sees the process that answered it. For a
Prometheus scraper without a session, route :func:`prometheus_view` on a path only your
network reaches: it checks nobody (but is 404 too while ``HUBS_PROMETHEUS`` is off).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ..server import metrics

View = Callable[[HttpRequest], Awaitable[HttpResponse]]


def staff_only(view: View, *, login: bool = False) -> View:
    async def guarded(request: HttpRequest) -> HttpResponse:
        user = await request.auser()
        if not (user.is_active and user.is_staff):
            if login and not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            return HttpResponseForbidden("Staff only.", content_type="text/plain")
        return await view(request)

    guarded.__name__ = guarded.__qualname__ = view.__name__
    guarded.__doc__ = view.__doc__
    return guarded


async def json_view(request: HttpRequest) -> HttpResponse:
    """Every hub's live state and counters in this process, as JSON."""
    response = JsonResponse(metrics.snapshot())
    response["Cache-Control"] = "no-store"
    return response


def prometheus_enabled() -> bool:
    """``HUBS_PROMETHEUS``: the metrics endpoint exists only when a project asks for it."""
    return getattr(settings, "HUBS_PROMETHEUS", False) is True


def if_prometheus_enabled(view: View) -> View:
    """404 while ``HUBS_PROMETHEUS`` is off, for everyone: the endpoint is not there."""

    async def enabled(request: HttpRequest) -> HttpResponse:
        if not prometheus_enabled():
            raise Http404("HUBS_PROMETHEUS is off.")
        return await view(request)

    enabled.__name__ = enabled.__qualname__ = view.__name__
    enabled.__doc__ = view.__doc__
    return enabled


async def _exposition(request: HttpRequest) -> HttpResponse:
    """The hubs' Prometheus metrics, in the format the scraper's ``Accept`` header asks for."""
    try:
        from . import prometheus
    except ImportError as exc:  # the system check django_hubs.E007 says so at startup too
        raise ImproperlyConfigured(
            'HUBS_PROMETHEUS is on but prometheus_client is not installed: pip install "django-hubs[prometheus]".'
        ) from exc
    body, content_type = prometheus.exposition(request.headers.get("Accept"))
    response = HttpResponse(body, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


#: Unguarded: route it behind :func:`staff_only` or your network.
prometheus_view = if_prometheus_enabled(_exposition)


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(values.items())) or "none"


def _hub_section(hub: dict[str, Any]) -> str:
    connections = hub["connections"]
    figures = [
        ("Active connections", connections["active"]),
        ("Opened / closed", f"{connections['opened']} / {connections['closed']}"),
        ("Transports", _pairs(connections["by_transport"])),
        ("Protocols", _pairs(connections["by_protocol"])),
        ("Users", hub["users"]),
        ("Groups", hub["groups"]["count"]),
        ("Messages in / out", f"{hub['messages']['in']} / {hub['messages']['out']}"),
        ("Bytes in / out", f"{hub['bytes']['in']} / {hub['bytes']['out']}"),
        ("Mean connection", f"{connections['duration']['mean']:.1f} s"),
    ]
    rows = format_html_join(
        "",
        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                name,
                stats["calls"],
                stats["errors"],
                stats["rejected"],
                _milliseconds(stats["duration"]["mean"]),
                _milliseconds(stats["duration"]["max"]),
            )
            for name, stats in hub["invocations"].items()
        ),
    )
    groups = format_html_join(
        "", "<tr><td>{}</td><td>{}</td></tr>", sorted(hub["groups"]["members"].items(), key=lambda g: -g[1])
    )
    return format_html(
        "<section><h2><code>/{}</code></h2><p><code>{}</code></p><dl>{}</dl>"
        "<table><caption>Invocations</caption><tr><th>Method</th><th>Calls</th><th>Errors</th>"
        "<th>Rejected</th><th>Mean ms</th><th>Max ms</th></tr>{}</table>"
        "<table><caption>Largest groups</caption><tr><th>Group</th><th>Connections</th></tr>{}</table></section>",
        hub["path"],
        hub["hub"],
        format_html_join("", "<dt>{}</dt><dd>{}</dd>", figures),
        rows,
        groups,
    )


async def page_view(request: HttpRequest) -> HttpResponse:
    """An HTML page of every hub's live state and counters in this process."""
    data = metrics.snapshot()
    sections = format_html_join("", "{}", ((_hub_section(hub),) for hub in data["hubs"]))
    html = format_html(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Hub status</title>"
        "<style>body{{font-family:sans-serif;margin:2em}}dl{{display:grid;grid-template-columns:max-content auto;"
        "gap:.2em 1em}}dd{{margin:0}}table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;"
        "padding:.2em .6em;text-align:left}}caption{{text-align:left;font-weight:bold}}</style></head>"
        "<body><h1>Hub status</h1><p>This server process only. <a href='json'>JSON</a>{}</p>{}</body></html>",
        mark_safe(" · <a href='metrics'>Prometheus</a>") if prometheus_enabled() else "",
        sections,
    )
    response = HttpResponse(html)
    response["Cache-Control"] = "no-store"
    return response


app_name = "django_hubs_status"
urlpatterns = [
    path("", staff_only(page_view, login=True), name="page"),
    path("json", staff_only(json_view), name="json"),
    path("metrics", if_prometheus_enabled(staff_only(_exposition)), name="metrics"),
]
