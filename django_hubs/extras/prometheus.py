"""The hub counters for Prometheus, through ``prometheus_client`` (``pip install "django-hubs[prometheus]"``).

:class:`HubsCollector` turns :func:`django_hubs.server.metrics.snapshot` into metric families at
each scrape, so the figures are this process's own at that moment and the hot path keeps
counting with plain integer additions. Names are the Prometheus spelling of the
OpenTelemetry semantic conventions for SignalR where they exist
(``signalr.server.active_connections`` becomes ``signalr_server_active_connections``,
``signalr.server.connection.duration`` ``signalr_server_connection_duration_seconds``,
their attributes ``signalr_transport`` and ``signalr_connection_status`` with the
conventions' values); ``django_hubs_*`` names the rest.

Importing this module registers nothing on ``prometheus_client``'s default ``REGISTRY``:
:func:`exposition` scrapes a private registry. To publish the hubs beside your own metrics,
register a collector yourself: ``REGISTRY.register(HubsCollector())``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from ..conf import ALL_TRANSPORTS
from ..server import metrics

OTEL_TRANSPORTS = metrics.OTEL_TRANSPORTS


def _families() -> dict[str, Metric]:
    """Every family the collector reports, empty; their names are what ``describe`` announces."""
    families: list[Metric] = [
        GaugeMetricFamily(
            "signalr_server_active_connections",
            "Connections open now, by transport.",
            labels=["hub", "signalr_transport"],
        ),
        HistogramMetricFamily(
            "signalr_server_connection_duration",
            "How long connections lasted.",
            labels=["hub"],
            unit="seconds",
        ),
        CounterMetricFamily(
            "django_hubs_connections_opened", "Connections that completed the handshake.", labels=["hub"]
        ),
        CounterMetricFamily(
            "django_hubs_connections_closed",
            "Connections that ended, by how they ended.",
            labels=["hub", "signalr_connection_status"],
        ),
        GaugeMetricFamily("django_hubs_users", "Distinct users connected now.", labels=["hub"]),
        GaugeMetricFamily("django_hubs_groups", "Groups with members now.", labels=["hub"]),
        CounterMetricFamily("django_hubs_messages", "Hub messages received and sent.", labels=["hub", "direction"]),
        CounterMetricFamily("django_hubs_bytes", "Bytes received and sent.", labels=["hub", "direction"]),
        CounterMetricFamily(
            "django_hubs_invocations",
            "Hub method calls by outcome: ok, error (raised), rejected (refused before running).",
            labels=["hub", "method", "outcome"],
        ),
        HistogramMetricFamily(
            "django_hubs_invocation_duration",
            "How long hub methods ran.",
            labels=["hub", "method"],
            unit="seconds",
        ),
    ]
    return {family.name: family for family in families}


def _buckets(histogram: dict[str, Any]) -> list[tuple[str, float]]:
    return [*histogram["buckets"].items(), ("+Inf", histogram["count"])]


class HubsCollector:
    """A ``prometheus_client`` collector over :func:`django_hubs.server.metrics.snapshot`.

    Read it from the server's event loop (as :mod:`django_hubs.extras.status` does): the
    connection registry it reads belongs to that loop.
    """

    def describe(self) -> Iterator[Metric]:
        return iter(_families().values())

    def collect(self) -> Iterator[Metric]:
        families = _families()

        def add(name: str, labels: list[str], value: float) -> None:
            families[name].add_metric(labels, value)  # type: ignore[attr-defined]

        for hub in metrics.snapshot()["hubs"]:
            path, connections = hub["path"], hub["connections"]
            for transport in ALL_TRANSPORTS:  # every series exists from the start, at 0
                count = connections["by_transport"].get(transport, 0)
                add("signalr_server_active_connections", [path, OTEL_TRANSPORTS[transport]], count)
            duration = connections["duration"]
            families["signalr_server_connection_duration_seconds"].add_metric(  # type: ignore[attr-defined]
                [path], _buckets(duration), duration["sum"]
            )
            add("django_hubs_connections_opened", [path], connections["opened"])
            for status, count in connections["closed_by_status"].items():
                add("django_hubs_connections_closed", [path, status], count)
            add("django_hubs_users", [path], hub["users"])
            add("django_hubs_groups", [path], hub["groups"]["count"])
            for direction in ("in", "out"):
                add("django_hubs_messages", [path, direction], hub["messages"][direction])
                add("django_hubs_bytes", [path, direction], hub["bytes"][direction])
            for method, stats in hub["invocations"].items():
                outcomes = {
                    "ok": stats["calls"] - stats["errors"],
                    "error": stats["errors"],
                    "rejected": stats["rejected"],
                }
                for outcome, count in outcomes.items():
                    add("django_hubs_invocations", [path, method, outcome], count)
                if stats["duration"]["count"]:
                    families["django_hubs_invocation_duration_seconds"].add_metric(  # type: ignore[attr-defined]
                        [path, method], _buckets(stats["duration"]), stats["duration"]["sum"]
                    )
        return iter(families.values())


_registry = CollectorRegistry()
_registry.register(HubsCollector())


def exposition(accept: str | None = None) -> tuple[bytes, str]:
    """The hubs' metrics and their content type, in the format the ``Accept`` header asks for.

    Prometheus text by default; OpenMetrics when the scraper prefers it.
    """
    encoder, content_type = choose_encoder(accept or "")
    return encoder(_registry), content_type
