"""A logout ends the hub connections its session authenticated.

Django reads the session on every HTTP request, so after ``logout()`` the next request
is anonymous. A hub connection authenticated once, when it opened: without this it
would go on acting as the user for as long as it stays open. On ``user_logged_out``
every hub connection opened with that session's cookie, as that user, is closed (a
Close message without error and without ``allowReconnect``, so that the official clients
do not silently reconnect as someone else; ``onclose`` fires), here at once and in every
other process through the backplane. Connections that authenticated with a token are
left alone: the token, not the session, is their credential, and it expires on its own.

Sessions are named by a hash of their key, never by the key, on the layer and in logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.http.cookie import parse_cookie

from .backplane import Backplane
from .errors import HubError
from .origins import scope_header

if TYPE_CHECKING:
    from .connection import HubConnection
    from .hub import Hub
    from .lifetime import HubLifetimeManager

logger = logging.getLogger("django_hubs.sessions")

MESSAGE_TYPE = "hubs.session_ended"


def fingerprint(session_key: str) -> str:
    return hashlib.blake2b(session_key.encode("utf-8"), digest_size=16).hexdigest()


def connection_session(connection: HubConnection) -> str | None:
    """The fingerprint of the session that authenticated ``connection``; ``None`` for tokens and anonymous users."""
    scope = connection.scope
    if connection.user_identifier is None or "hubs_token_expires_at" in scope:
        return None
    cookies = scope_header(scope, b"cookie")
    key = parse_cookie(cookies).get(settings.SESSION_COOKIE_NAME) if cookies else None
    return fingerprint(key) if key else None


def close_local(lifetime: HubLifetimeManager, user: str | None, session: str) -> int:
    """Close this process's connections of ``lifetime`` opened by ``session`` (as ``user``, if known).

    Runs on the connections' event loop; returns how many it closed.
    """
    closed = 0
    for connection in _candidates(lifetime, user):
        if _close_if_opened_by(connection, session):
            closed += 1
    return closed


def _candidates(lifetime: HubLifetimeManager, user: str | None) -> list[HubConnection]:
    members = lifetime.connections if user is None else lifetime.users.get(user, {})
    return list(members.values())


def _close_if_opened_by(connection: HubConnection, session: str) -> bool:
    from .connection import State

    if connection.state is not State.CONNECTED or connection_session(connection) != session:
        return False
    logger.info("closing %s: its session ended (the user logged out)", connection.connection_id)
    connection.close_reason = HubError("The session ended: the user logged out.")
    connection.close_nowait()
    return True


def _lifetimes() -> Iterable[tuple[HubLifetimeManager, type[Hub]]]:
    """Each hub's lifetime manager once, with how that hub names the user being logged out."""
    from .endpoints import endpoints

    seen: set[int] = set()
    for endpoint in endpoints().values():
        if id(endpoint.lifetime) not in seen:
            seen.add(id(endpoint.lifetime))
            yield endpoint.lifetime, endpoint.hub_class


def _on_loop_of(connection: HubConnection, session: str) -> None:
    """Close ``connection`` from whatever thread the logout view runs in."""
    loop: asyncio.AbstractEventLoop = connection._loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        _close_if_opened_by(connection, session)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(_close_if_opened_by, connection, session)


def end_session(session_key: str, user: Any = None) -> None:
    """Close every hub connection opened with ``session_key`` (as ``user``), in every process.

    What the ``user_logged_out`` receiver calls; call it yourself when you end sessions
    another way (deleting them, an admin action).
    """
    session = fingerprint(session_key)
    for lifetime, hub_class in _lifetimes():
        identifier = hub_class.get_user_identifier(user) if user is not None else None
        if user is not None and identifier is None:
            continue
        for connection in _candidates(lifetime, identifier):
            _on_loop_of(connection, session)
        _publish(lifetime, identifier, session)


def _publish(lifetime: HubLifetimeManager, user: str | None, session: str) -> None:
    backplane = lifetime.backplane
    if backplane is None:
        return
    hub = lifetime.hub_name
    group = Backplane.group_of(hub, "all") if user is None else Backplane.group_of(hub, "u", user)
    message = {"type": MESSAGE_TYPE, "hub": hub, "origin": backplane.channel, "user": user, "session": session}
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        async_to_sync(backplane.publish)(group, message)
        return
    task = loop.create_task(backplane.publish(group, message))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[Any]] = set()


def handle_remote(lifetime: HubLifetimeManager, message: dict[str, Any], channel: str | None) -> None:
    """A ``hubs.session_ended`` from another process (the backplane's reader calls it)."""
    if message.get("origin") is not None and message.get("origin") == channel:
        return
    close_local(lifetime, message.get("user"), message["session"])


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session_key:
        end_session(session_key, user)


def connect() -> None:
    user_logged_out.connect(_logged_out, dispatch_uid="django_hubs.sessions")
