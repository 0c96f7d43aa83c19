"""Settings, read lazily so that ``override_settings`` works in tests.

Global settings are ``HUBS_*`` names; a hub registered as a dict in ``HUBS`` may
override any of them for itself (``{"hub": "chat.hubs.ChatHub", "HUBS_DETAILED_ERRORS": True}``,
or the same key without the ``HUBS_`` prefix).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings

ALL_TRANSPORTS = ("WebSockets", "ServerSentEvents", "LongPolling")
ALL_PROTOCOLS = ("json", "messagepack")

DEFAULTS: dict[str, Any] = {
    "HUBS_DETAILED_ERRORS": False,
    "HUBS_TRANSPORTS": ALL_TRANSPORTS,
    "HUBS_PROTOCOLS": ALL_PROTOCOLS,
    "HUBS_KEEP_ALIVE_INTERVAL": 15.0,
    "HUBS_CLIENT_TIMEOUT": 30.0,
    "HUBS_HANDSHAKE_TIMEOUT": 15.0,
    "HUBS_MAX_MESSAGE_SIZE": 32 * 1024,
    "HUBS_MAX_PARALLEL_INVOCATIONS": 1,
    "HUBS_STREAM_BUFFER_CAPACITY": 10,
    "HUBS_MAX_STREAMS_PER_CONNECTION": 32,
    "HUBS_CLIENT_RESULT_TIMEOUT": 30.0,
    "HUBS_LONG_POLL_TIMEOUT": 90.0,
    "HUBS_DISCONNECT_TIMEOUT": 15.0,
    "HUBS_CLOSE_ON_TOKEN_EXPIRY": True,
    "HUBS_AUTH_REFRESH": False,
    "HUBS_STATEFUL_RECONNECT": True,
    "HUBS_STATEFUL_RECONNECT_BUFFER_SIZE": 100_000,
    "HUBS_STATEFUL_RECONNECT_ACK_TIMEOUT": 5.0,
    "HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER": 64 * 1024 * 1024,
    "HUBS_MAX_OUTGOING_BUFFER": 4 * 1024 * 1024,
    "HUBS_TRANSPORT_SEND_TIMEOUT": 10.0,
    "HUBS_REDACTED_QUERY_PARAMS": ("access_token",),
    "HUBS_FILTERS": (),
    #: Process-wide, not per hub: the threads of sync hub methods and of auth checks (django_hubs.threads).
    "HUBS_SYNC_THREADS": 16,
    "HUBS_AUTH_THREADS": 4,
}

DURATIONS = {
    "HUBS_KEEP_ALIVE_INTERVAL",
    "HUBS_CLIENT_TIMEOUT",
    "HUBS_HANDSHAKE_TIMEOUT",
    "HUBS_CLIENT_RESULT_TIMEOUT",
    "HUBS_LONG_POLL_TIMEOUT",
    "HUBS_DISCONNECT_TIMEOUT",
    "HUBS_TRANSPORT_SEND_TIMEOUT",
    "HUBS_STATEFUL_RECONNECT_ACK_TIMEOUT",
}


def seconds(value: Any) -> float:
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


def get(name: str, overrides: dict[str, Any] | None = None) -> Any:
    """One setting, with a hub's override winning over the global value."""
    if overrides:
        for key in (name, name.removeprefix("HUBS_")):
            if key in overrides:
                value = overrides[key]
                break
        else:
            value = getattr(settings, name, DEFAULTS[name])
    else:
        value = getattr(settings, name, DEFAULTS[name])
    if name in DURATIONS and value is not None:
        return seconds(value)
    return value


@dataclass(frozen=True, slots=True)
class HubOptions:
    """The effective settings of one hub endpoint."""

    detailed_errors: bool
    transports: tuple[str, ...]
    protocols: tuple[str, ...]
    keep_alive_interval: float
    client_timeout: float
    handshake_timeout: float
    max_message_size: int | None
    max_parallel_invocations: int
    stream_buffer_capacity: int
    #: Server-to-client streams and client-to-server uploads open at once on one connection.
    max_streams_per_connection: int
    client_result_timeout: float
    long_poll_timeout: float
    disconnect_timeout: float
    close_on_token_expiry: bool
    #: ``POST <hub>/refresh`` and negotiate's ``tokenLifetimeSeconds`` (.NET 11's authentication refresh).
    auth_refresh: bool
    stateful_reconnect: bool
    stateful_reconnect_buffer_size: int
    stateful_reconnect_ack_timeout: float
    max_outgoing_buffer: int | None
    transport_send_timeout: float
    #: ``HUBS_FILTERS`` or the hub's ``FILTERS`` as configured; the server builds them once per
    #: endpoint (:func:`django_hubs.server.endpoints.hub_options`).
    filters: Any

    @classmethod
    def load(cls, overrides: dict[str, Any] | None = None) -> HubOptions:
        values = {}
        for f in fields(cls):
            value = get("HUBS_" + f.name.upper(), overrides)
            if f.name in ("transports", "protocols"):
                value = tuple(value)
            values[f.name] = value
        return cls(**values)


def stateful_reconnect_total_buffer() -> int:
    """Process-wide, so not a per-hub option: the bytes all connections may hold for acknowledgements."""
    return int(get("HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER"))


def redacted_query_params() -> tuple[str, ...]:
    return tuple(get("HUBS_REDACTED_QUERY_PARAMS"))


__all__ = ["ALL_PROTOCOLS", "ALL_TRANSPORTS", "DEFAULTS", "HubOptions", "get", "seconds"]
