"""Live counters of this process's hubs, cheap enough to keep on all the time.

Events are counted where they happen with plain integer additions on one object per
hub endpoint (connections opened and closed, messages and bytes in and out, invocations
by method with their outcome and duration). What can be read from the connection
registry instead (active connections by transport and protocol, users, groups) is read
from it when someone asks, so it costs the hot path nothing.

:func:`snapshot` gives everything as a dict. ``django_hubs.extras.status`` serves it to staff
users, and ``django_hubs.extras.prometheus`` turns it into Prometheus metrics (with the names of
the OpenTelemetry semantic conventions for SignalR where they exist) when
``HUBS_PROMETHEUS`` is on.
"""

from __future__ import annotations

import bisect
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lifetime import HubConnection

#: Seconds; the bucket boundaries OpenTelemetry advises for ``signalr.server.connection.duration``.
CONNECTION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
#: Seconds; for hub method durations.
INVOCATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: ``signalr.transport`` values of the OpenTelemetry conventions, by SignalR transport name.
OTEL_TRANSPORTS = {"WebSockets": "web_sockets", "ServerSentEvents": "server_sent_events", "LongPolling": "long_polling"}
#: Label for invocations of names that are no hub method (the set of names stays bounded).
UNKNOWN_METHOD = "(unknown)"
#: At most this many groups are listed by name in a snapshot, the largest first.
MAX_LISTED_GROUPS = 100


class Histogram:
    __slots__ = ("bounds", "count", "counts", "max", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.count = 0
        self.sum = 0.0
        self.max = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        if value > self.max:
            self.max = value
        self.counts[bisect.bisect_left(self.bounds, value)] += 1

    def as_dict(self) -> dict[str, Any]:
        cumulative, buckets = 0, {}
        for bound, count in zip(self.bounds, self.counts, strict=False):
            cumulative += count
            buckets[repr(float(bound))] = cumulative
        return {
            "count": self.count,
            "sum": self.sum,
            "max": self.max,
            "mean": self.sum / self.count if self.count else 0.0,
            "buckets": buckets,
        }


class MethodStats:
    """One hub method: calls that ran (``errors`` of them raised), calls refused before running."""

    __slots__ = ("calls", "duration", "errors", "rejected")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.rejected = 0
        self.duration = Histogram(INVOCATION_BUCKETS)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "rejected": self.rejected,
            "duration": self.duration.as_dict(),
        }


class HubMetrics:
    """The counters of one hub endpoint (a path in ``HUBS``) in this process."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "closed_by_status",
        "connection_duration",
        "connections_closed",
        "connections_opened",
        "messages_in",
        "messages_out",
        "methods",
        "path",
        "started",
    )

    def __init__(self, path: str) -> None:
        self.path = path
        self.started = time.time()
        self.connections_opened = 0
        self.connections_closed = 0
        self.closed_by_status: dict[str, int] = {}
        self.connection_duration = Histogram(CONNECTION_BUCKETS)
        self.messages_in = 0
        self.messages_out = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.methods: dict[str, MethodStats] = {}

    def method(self, name: str) -> MethodStats:
        stats = self.methods.get(name)
        if stats is None:
            stats = self.methods[name] = MethodStats()
        return stats

    def invoked(self, name: str, seconds: float, failed: bool) -> None:
        stats = self.method(name)
        stats.calls += 1
        if failed:
            stats.errors += 1
        stats.duration.observe(seconds)

    def rejected(self, name: str | None) -> None:
        self.method(name or UNKNOWN_METHOD).rejected += 1

    def closed(self, seconds: float, reason: BaseException | None) -> None:
        self.connections_closed += 1
        status = connection_status(reason)
        self.closed_by_status[status] = self.closed_by_status.get(status, 0) + 1
        self.connection_duration.observe(seconds)


def connection_status(reason: BaseException | None) -> str:
    """As OpenTelemetry's ``signalr.connection.status``: ``normal_closure``, ``timeout``, or ``error``."""
    if reason is None:
        return "normal_closure"
    if isinstance(reason, TimeoutError):
        return "timeout"
    return "error"


_registry: dict[str, HubMetrics] = {}


def hub_metrics(path: str) -> HubMetrics:
    """The counters of the endpoint at ``path``; they outlive setting changes and reloads."""
    metrics = _registry.get(path)
    if metrics is None:
        metrics = _registry[path] = HubMetrics(path)
    return metrics


def reset() -> None:
    """Forget every counter (for tests)."""
    _registry.clear()


# --- reading ----------------------------------------------------------------------------------


def _live(path: str, connections: list[HubConnection]) -> dict[str, Any]:
    """What the registry says of one endpoint's connections, read now."""
    mine = [c for c in connections if c.endpoint.path == path]
    transports: dict[str, int] = {}
    protocols: dict[str, int] = {}
    users: set[str] = set()
    groups: dict[str, int] = {}
    for connection in mine:
        transports[connection.transport] = transports.get(connection.transport, 0) + 1
        name = connection.protocol.name if connection.protocol else "none"
        protocols[name] = protocols.get(name, 0) + 1
        if connection.user_identifier is not None:
            users.add(connection.user_identifier)
        for group in list(connection.group_names):
            groups[group] = groups.get(group, 0) + 1
    return {"active": len(mine), "transports": transports, "protocols": protocols, "users": users, "groups": groups}


def snapshot() -> dict[str, Any]:
    """Every hub endpoint of ``settings.HUBS``: live state and counters of this process."""
    from .endpoints import endpoints

    hubs = []
    for path, endpoint in list(endpoints().items()):
        live = _live(path, list(endpoint.lifetime.connections.values()))
        metrics = hub_metrics(path)
        groups = sorted(live["groups"].items(), key=lambda item: (-item[1], item[0]))
        hubs.append(
            {
                "path": path,
                "hub": f"{endpoint.hub_class.__module__}.{endpoint.hub_class.__qualname__}",
                "connections": {
                    "active": live["active"],
                    "opened": metrics.connections_opened,
                    "closed": metrics.connections_closed,
                    "closed_by_status": dict(metrics.closed_by_status),
                    "by_transport": live["transports"],
                    "by_protocol": live["protocols"],
                    "duration": metrics.connection_duration.as_dict(),
                },
                "users": len(live["users"]),
                "groups": {"count": len(groups), "members": dict(groups[:MAX_LISTED_GROUPS])},
                "messages": {"in": metrics.messages_in, "out": metrics.messages_out},
                "bytes": {"in": metrics.bytes_in, "out": metrics.bytes_out},
                "invocations": {name: stats.as_dict() for name, stats in sorted(metrics.methods.items())},
            }
        )
    return {"time": time.time(), "hubs": hubs}
