"""Authentication refresh on a live connection (``HUBS_AUTH_REFRESH``, .NET 11's ``POST <hub>/refresh``).

In process, through Django's ASGI handler and the whole WebSocket stack: the official
server's answers, the connection's new user and expiry, the hook, what does not change.
``hubs/refresh`` has the setting on (tests/settings.py), ``hubs/test`` has it off.
tests/interop/test_refresh_live.py does the same on the wire, under daphne and uvicorn.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import path

from django_hubs.checks import check_negotiate_routes
from django_hubs.conf import HubOptions
from django_hubs.security.cors import is_hub_http_path
from django_hubs.server.connection import HubConnection, State
from django_hubs.transports.manager import manager
from django_hubs.transports.negotiate import negotiate as negotiate_view
from tests.asgi import application
from tests.test_auth import access_token, bearer, forged_token, handshake, invoke, next_message
from tests.test_transports_http import event_stream, records, request
from tests.testapp import refresh as refresh_hub

pytestmark = pytest.mark.django_db(transaction=True)

HUB = "/hubs/refresh"


@pytest.fixture
def alice() -> User:
    return User.objects.create(username="alice")


@pytest.fixture
def bob() -> User:
    return User.objects.create(username="bob")


@pytest.fixture(autouse=True)
def _clear_hook() -> Any:
    refresh_hub.refreshes.clear()
    refresh_hub.refuse.clear()
    yield
    refresh_hub.refreshes.clear()
    refresh_hub.refuse.clear()


def header(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


async def negotiate(token: str | None, path: str = HUB, version: str | None = "1") -> dict[str, Any]:
    query = "" if version is None else f"negotiateVersion={version}"
    status, _, body = await request("POST", query, headers=header(token) if token else (), path=path + "/negotiate")
    assert status == 200, body
    negotiated: dict[str, Any] = json.loads(body)
    return negotiated


async def refresh(connection_token: str | None, token: str | None, path: str = HUB, method: str = "POST") -> Any:
    query = "" if connection_token is None else f"id={connection_token}"
    status, headers, body = await request(method, query, headers=header(token) if token else (), path=path + "/refresh")
    return status, headers, (json.loads(body) if headers.get("content-type") == "application/json" else body)


def connection_of(connection_token: str) -> HubConnection:
    record = manager.get(connection_token)
    assert record is not None and record.connection is not None
    return record.connection


async def open_socket(connection_token: str, token: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"{HUB}?id={connection_token}", headers=bearer(token))
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    await handshake(communicator)
    return communicator


# --- the setting and the routes ----------------------------------------------------------


def test_off_by_default_validated_and_overridable_per_hub():
    assert HubOptions.load().auth_refresh is False
    assert HubOptions.load({"AUTH_REFRESH": True}).auth_refresh is True
    with override_settings(HUBS_AUTH_REFRESH="yes"):
        errors = [m for m in run_checks() if m.id == "django_hubs.E004" and m.obj == "HUBS_AUTH_REFRESH"]
    assert errors, "a non-boolean HUBS_AUTH_REFRESH must fail the system checks"


#: A URLconf that routes negotiate by hand and forgets refresh (the check below).
urlpatterns = [path("hubs/refresh/negotiate", negotiate_view, {"hub_path": "hubs/refresh"})]


def test_a_refresh_url_that_is_not_routed_is_an_error_where_refresh_is_on():
    hubs = {"hubs/refresh": {"hub": "tests.testapp.refresh.RefreshHub", "AUTH_REFRESH": True}}
    with override_settings(HUBS=hubs, ROOT_URLCONF=__name__):
        (message,) = check_negotiate_routes()
    assert message.id == "django_hubs.E021"
    assert "/hubs/refresh/refresh reaches nothing" in message.msg and "HUBS_AUTH_REFRESH" in message.msg
    with override_settings(HUBS={"hubs/refresh": "tests.testapp.refresh.RefreshHub"}, ROOT_URLCONF=__name__):
        assert check_negotiate_routes() == []  # refresh off: nothing to route


def test_the_refresh_path_gets_the_hubs_cors():
    assert is_hub_http_path("/hubs/refresh/refresh")
    assert is_hub_http_path("/hubs/test/refresh")  # answered refresh_disabled, with CORS so a page can read it
    assert not is_hub_http_path("/nohub/refresh")


# --- negotiate ------------------------------------------------------------------------------


async def test_negotiate_gives_the_token_lifetime_when_refresh_is_on(alice):
    body = await negotiate(access_token(alice, timedelta(seconds=120)))
    assert 110 <= body["tokenLifetimeSeconds"] <= 120
    # No token, no lifetime; the setting off, none either (the official server's negotiate).
    assert "tokenLifetimeSeconds" not in await negotiate(None)
    assert "tokenLifetimeSeconds" not in await negotiate(access_token(alice), path="/hubs/test")


# --- the answers -------------------------------------------------------------------------------


async def test_every_error_answer_is_the_official_servers(alice):
    token = access_token(alice)
    connection_token = (await negotiate(token))["connectionToken"]

    status, headers, body = await refresh(connection_token, token, method="GET")
    assert (status, headers["content-type"], body) == (405, "text/plain", b"")
    status, headers, body = await refresh(connection_token, token, method="PUT")
    assert status == 405

    other = (await negotiate(token, path="/hubs/test"))["connectionToken"]
    status, headers, body = await refresh(other, token, path="/hubs/test")
    assert (status, headers["content-type"]) == (404, "application/json")
    assert body == {"error": "refresh_disabled", "error_description": "Auth refresh is not enabled for this endpoint."}
    status, _, body = await refresh(None, token)
    assert (status, body["error"]) == (400, "missing_connection_token")
    status, _, body = await refresh("nope", token)
    assert (status, body["error"]) == (404, "connection_not_found")
    # Another hub's connection is not this hub's.
    status, _, body = await refresh(other, token)
    assert (status, body["error"]) == (404, "connection_not_found")

    for bad in [None, forged_token(alice), access_token(alice, timedelta(seconds=-30)), "not-a-jwt"]:
        status, headers, body = await refresh(connection_token, bad)
        assert (status, headers["content-type"], body["error"]) == (401, "application/json", "invalid_token"), body
        assert body["error_description"] and (bad is None or bad not in body["error_description"])


async def test_a_negotiated_connection_without_transport_yet_refreshes_to_200(alice):
    token = access_token(alice)
    negotiated = await negotiate(token)
    status, _, body = await refresh(negotiated["connectionToken"], access_token(alice, timedelta(seconds=60)))
    assert status == 200
    assert body["connectionId"] == negotiated["connectionId"]
    assert 50 <= body["tokenLifetimeSeconds"] <= 60
    assert body["refreshedAt"].endswith("+00:00")


# --- a WebSocket connection ------------------------------------------------------------------


async def test_a_refresh_moves_the_expiry_calls_the_hook_and_keeps_user_and_groups(alice):
    first = access_token(alice, timedelta(seconds=30))
    connection_token = (await negotiate(first))["connectionToken"]
    socket = await open_socket(connection_token, first)
    try:
        await invoke(socket, "join", "room")
        connection = connection_of(connection_token)
        old_expiry = connection.expires_at
        assert old_expiry is not None

        status, _, body = await refresh(connection_token, access_token(alice, timedelta(seconds=600)))
        assert status == 200, body
        assert 590 <= body["tokenLifetimeSeconds"] <= 600
        assert connection.expires_at is not None and connection.expires_at > old_expiry + 500
        assert connection.scope["hubs_token_expires_at"] == connection.expires_at
        assert await invoke(socket, "whoami") == str(alice.pk)
        assert await invoke(socket, "same_user_object") is True
        assert await invoke(socket, "hook_calls") == [[str(alice.pk), str(alice.pk)]]
        # Groups and user routing are as they were.
        assert connection.group_names == {"room"}
        await socket.send_to(
            text_data=json.dumps({"type": 1, "target": "to_group", "arguments": ["room", "still here"]}) + "\x1e"
        )
        assert (await next_message(socket))["arguments"] == ["still here"]
        await socket.send_to(
            text_data=json.dumps({"type": 1, "target": "to_user", "arguments": [str(alice.pk), "me"]}) + "\x1e"
        )
        assert (await next_message(socket))["arguments"] == ["me"]
    finally:
        await socket.disconnect()


async def test_a_token_for_another_user_is_refused_and_the_connection_keeps_its_user(alice, bob):
    first = access_token(alice, timedelta(seconds=30))
    connection_token = (await negotiate(first))["connectionToken"]
    socket = await open_socket(connection_token, first)
    try:
        connection = connection_of(connection_token)
        expiry = connection.expires_at
        status, _, body = await refresh(connection_token, access_token(bob, timedelta(seconds=600)))
        assert (status, body["error"]) == (401, "invalid_token")
        assert "another user" in body["error_description"]
        assert connection.expires_at == expiry
        assert await invoke(socket, "whoami") == str(alice.pk)
        assert await invoke(socket, "hook_calls") == []
    finally:
        await socket.disconnect()


async def test_the_hook_may_refuse_and_nothing_changes(alice):
    first = access_token(alice, timedelta(seconds=30))
    negotiated = await negotiate(first)
    connection_token = negotiated["connectionToken"]
    socket = await open_socket(connection_token, first)
    try:
        connection = connection_of(connection_token)
        expiry, user = connection.expires_at, connection.user
        refresh_hub.refuse.add(negotiated["connectionId"])
        status, _, body = await refresh(connection_token, access_token(alice, timedelta(seconds=600)))
        assert (status, body) == (401, {"error": "invalid_token", "error_description": "This hub refuses the refresh."})
        assert (connection.expires_at, connection.user) == (expiry, user)
    finally:
        await socket.disconnect()


async def test_only_a_refreshed_connection_outlives_its_first_token(alice):
    """``HUBS_CLOSE_ON_TOKEN_EXPIRY`` at the refreshed expiry: the heartbeat's tick, with the clock given."""
    tokens = [access_token(alice, timedelta(seconds=30)) for _ in range(2)]
    connection_tokens = [(await negotiate(token))["connectionToken"] for token in tokens]
    sockets = [await open_socket(ct, token) for ct, token in zip(connection_tokens, tokens, strict=True)]
    try:
        refreshed, unrefreshed = (connection_of(ct) for ct in connection_tokens)
        status, _, _ = await refresh(connection_tokens[0], access_token(alice, timedelta(seconds=600)))
        assert status == 200
        old_expiry = unrefreshed.expires_at
        assert old_expiry is not None
        loop_now = refreshed._loop.time()
        for connection in (refreshed, unrefreshed):
            connection.last_sent = loop_now  # no ping due: the tick only looks at the expiry
            connection.tick(loop_now, old_expiry + 1)
        assert refreshed.state is State.CONNECTED
        assert unrefreshed.state is State.CLOSING
        close = await next_message(sockets[1])
        assert close == {"type": 7, "allowReconnect": True}
        refreshed.tick(loop_now, time.time() + 601)
        assert refreshed.state is State.CLOSING
    finally:
        for socket in sockets:
            await socket.disconnect()


async def test_skip_negotiation_has_no_connection_token_to_refresh(alice):
    token = access_token(alice)
    communicator = WebsocketCommunicator(application, HUB, headers=bearer(token))
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    try:
        await handshake(communicator)
        connection_id = await invoke(communicator, "connection_id")
        assert isinstance(connection_id, str)
        status, _, body = await refresh(connection_id, token)
        assert (status, body["error"]) == (404, "connection_not_found")
    finally:
        await communicator.disconnect()


async def test_negotiate_version_0_refreshes_with_its_connection_id(alice):
    token = access_token(alice, timedelta(seconds=30))
    negotiated = await negotiate(token, version=None)
    assert negotiated["negotiateVersion"] == 0 and "connectionToken" not in negotiated
    assert 20 <= negotiated["tokenLifetimeSeconds"] <= 30
    connection_id = negotiated["connectionId"]
    socket = await open_socket(connection_id, token)
    try:
        status, _, body = await refresh(connection_id, access_token(alice, timedelta(seconds=600)))
        assert status == 200 and body["connectionId"] == connection_id
        assert await invoke(socket, "hook_calls") == [[str(alice.pk), str(alice.pk)]]
    finally:
        await socket.disconnect()


# --- long polling and Server-Sent Events -------------------------------------------------------


async def test_long_polling_refreshes_and_an_older_token_on_a_poll_does_not_undo_it(alice):
    first = access_token(alice, timedelta(seconds=30))
    connection_token = (await negotiate(first))["connectionToken"]
    hub_headers = header(first)
    status, _, _ = await poll_on(connection_token, hub_headers)  # the first poll starts the connection
    assert status == 200
    await post_on(connection_token, b'{"protocol":"json","version":1}\x1e', hub_headers)
    status, _, body = await poll_on(connection_token, hub_headers)
    assert records(body) == [{}]
    connection = connection_of(connection_token)
    status, _, _ = await refresh(connection_token, access_token(alice, timedelta(seconds=600)))
    assert status == 200
    refreshed_expiry = connection.expires_at
    assert refreshed_expiry is not None and refreshed_expiry > time.time() + 500
    # The client still polls with its first token: the expiry stays the refreshed one.
    await post_on(
        connection_token, b'{"type":1,"invocationId":"1","target":"hook_calls","arguments":[]}\x1e', hub_headers
    )
    status, _, body = await poll_on(connection_token, hub_headers)
    assert records(body)[0]["result"] == [[str(alice.pk), str(alice.pk)]]
    assert connection.expires_at == refreshed_expiry


async def test_server_sent_events_refresh(alice):
    first = access_token(alice, timedelta(seconds=30))
    connection_token = (await negotiate(first))["connectionToken"]
    stream = event_stream(connection_token, header(first), path=HUB)
    try:
        assert await stream.start() == 200
        connection = connection_of(connection_token)
        status, _, _ = await refresh(connection_token, access_token(alice, timedelta(seconds=600)))
        assert status == 200
        assert connection.expires_at is not None and connection.expires_at > time.time() + 500
        assert connection.transport == "ServerSentEvents"
    finally:
        await stream.disconnect()


async def poll_on(connection_token: str, headers: Any) -> Any:
    return await request("GET", f"id={connection_token}&_=1", headers=headers, path=HUB)


async def post_on(connection_token: str, body: bytes, headers: Any) -> None:
    status, _, answer = await request(
        "POST", f"id={connection_token}", body, [("content-type", "text/plain"), *headers], path=HUB
    )
    assert status == 200, answer
