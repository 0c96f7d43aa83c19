"""A logout, or a password change, ends the hub connections its session authenticated.

Django reads the session on every HTTP request, so after ``logout()`` the next request
is anonymous. A hub connection authenticated once, when it opened: without this it
would go on acting as the user for as long as it stays open. On ``user_logged_out``
every hub connection opened with that session's cookie, as that user, is closed (a
Close message without error and without ``allowReconnect``, so that the official clients
do not silently reconnect as someone else; ``onclose`` fires), here at once and in every
other process through the backplane. Connections that authenticated with a token are
left alone: the token, not the session, is their credential, and it expires on its own.

A password change is Django's other way of ending sessions: every session keeps the
user's "session auth hash", and one whose hash no longer matches is logged out at its
next request. When a user is saved with a new password, each of their session connections
whose session holds another hash is closed with ``allowReconnect``: the browser that made
the change (``update_session_auth_hash`` gave it a fresh cookie) reconnects as the user,
the others reconnect as anonymous. That waits for the transaction to commit, so that the
reconnect sees the new password.

Sessions are named by a hash of their key, never by the key, on the layer and in logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import post_save
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare

from ..errors import HubError
from ..server.backplane import Backplane, register_handler
from ..server.scope import scope_header

if TYPE_CHECKING:
    from ..hub import Hub
    from ..server.connection import HubConnection
    from ..server.lifetime import HubLifetimeManager

logger = logging.getLogger("django_hubs.sessions")

MESSAGE_TYPE = "hubs.session_ended"


def fingerprint(session_key: str) -> str:
    return hashlib.blake2b(session_key.encode("utf-8"), digest_size=16).hexdigest()


def connection_session_key(connection: HubConnection) -> str | None:
    """The key of the session that authenticated ``connection``; ``None`` for tokens and anonymous users."""
    scope = connection.scope
    if connection.user_identifier is None or "hubs_token_expires_at" in scope:
        return None
    cookies = scope_header(scope, b"cookie")
    key = parse_cookie(cookies).get(settings.SESSION_COOKIE_NAME) if cookies else None
    return key or None


def connection_session(connection: HubConnection) -> str | None:
    """The fingerprint of the session that authenticated ``connection`` (see :func:`connection_session_key`)."""
    key = connection_session_key(connection)
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
    # The registry holds the connections this process made: HubConnection objects.
    return [cast("HubConnection", member) for member in members.values()]


def _close_if_opened_by(connection: HubConnection, session: str) -> bool:
    from ..server.connection import State

    if connection.state is not State.CONNECTED or connection_session(connection) != session:
        return False
    logger.info("closing %s: its session ended (the user logged out)", connection.connection_id)
    connection.close_reason = HubError("The session ended: the user logged out.")
    connection.close_nowait()
    return True


def _lifetimes() -> Iterable[tuple[HubLifetimeManager, type[Hub]]]:
    """Each hub's lifetime manager once, with how that hub names the user being logged out."""
    from ..server.endpoints import endpoints

    seen: set[int] = set()
    for endpoint in endpoints().values():
        if id(endpoint.lifetime) not in seen:
            seen.add(id(endpoint.lifetime))
            yield endpoint.lifetime, endpoint.hub_class


def _on_loop_of(connection: HubConnection, close: Callable[..., object], *args: Any) -> None:
    """Run ``close(connection, *args)`` on the connection's loop, from whatever thread the view runs in."""
    loop: asyncio.AbstractEventLoop = connection._loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        close(connection, *args)
    elif not loop.is_closed():
        loop.call_soon_threadsafe(close, connection, *args)


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
            _on_loop_of(connection, _close_if_opened_by, session)
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
    """A ``hubs.session_ended`` or ``hubs.password_changed`` from another process (the backplane's reader)."""
    if message.get("origin") is not None and message.get("origin") == channel:
        return
    if message["type"] == PASSWORD_MESSAGE_TYPE:
        task = asyncio.get_running_loop().create_task(_close_stale_remote(lifetime, message["user"], message["hash"]))
        _pending.add(task)
        task.add_done_callback(_pending.discard)
        return
    close_local(lifetime, message.get("user"), message["session"])


# --- password changes ---------------------------------------------------------------------

PASSWORD_MESSAGE_TYPE = "hubs.password_changed"


def _stale(connections: list[HubConnection], auth_hash: str) -> list[HubConnection]:
    """The connections whose session no longer holds the user's auth hash (reads the sessions: a thread)."""
    from django.contrib.auth import HASH_SESSION_KEY
    from django.contrib.sessions.backends.base import SessionBase

    if not connections:
        return []
    # A module path, as Django's SessionMiddleware reads it (import_string would want a class).
    store: type[SessionBase] = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    stale = []
    for connection in connections:
        key = connection_session_key(connection)
        if key is None:
            continue
        held = store(session_key=key).get(HASH_SESSION_KEY)
        if not isinstance(held, str) or not constant_time_compare(fingerprint(held), auth_hash):
            stale.append(connection)
    return stale


def _close_stale(connection: HubConnection) -> None:
    from ..server.connection import State

    if connection.state is not State.CONNECTED:
        return
    logger.info("closing %s: the user's password changed", connection.connection_id)
    connection.close_reason = HubError("The user's password changed.")
    connection.close_nowait(allow_reconnect=True)


async def _close_stale_remote(lifetime: HubLifetimeManager, user: str, auth_hash: str) -> None:
    from ..server.threads import run_auth

    for connection in await run_auth(_stale, _candidates(lifetime, user), auth_hash):
        _close_stale(connection)


def password_changed(user: Any) -> None:
    """Close the session connections of ``user`` that a password change logged out, in every process.

    Runs in the thread that saved the user (the ORM is synchronous).
    """
    auth_hash = fingerprint(user.get_session_auth_hash())
    for lifetime, hub_class in _lifetimes():
        identifier = hub_class.get_user_identifier(user)
        if identifier is None:
            continue
        for connection in _stale(_candidates(lifetime, identifier), auth_hash):
            _on_loop_of(connection, _close_stale)
        backplane = lifetime.backplane
        if backplane is not None:
            message = {"type": PASSWORD_MESSAGE_TYPE, "hub": lifetime.hub_name, "origin": backplane.channel}
            message.update(user=identifier, hash=auth_hash)
            async_to_sync(backplane.publish)(Backplane.group_of(lifetime.hub_name, "u", identifier), message)


def _user_saved(sender: Any, instance: Any, created: bool = False, update_fields: Any = None, **kwargs: Any) -> None:
    if created or (update_fields is not None and "password" not in update_fields):
        return  # a login saving last_login, say: the session auth hash cannot have changed
    if not hasattr(instance, "get_session_auth_hash"):
        return
    transaction.on_commit(lambda: password_changed(instance), using=kwargs.get("using"))


def _logged_out(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)
    if session_key:
        end_session(session_key, user)


def connect() -> None:
    from django.contrib.auth import get_user_model

    register_handler(MESSAGE_TYPE, handle_remote)
    register_handler(PASSWORD_MESSAGE_TYPE, handle_remote)
    user_logged_out.connect(_logged_out, dispatch_uid="django_hubs.sessions")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="django_hubs.sessions.password")
