"""A logout closes the hub connections its session opened, and only those."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model, logout
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from django_hubs.security import sessions
from django_hubs.server.endpoints import find_endpoint
from tests.asgi import application

RS = "\x1e"


async def login(username: str) -> tuple[object, str]:
    """A user and the session cookie a login gave their browser."""
    user = await get_user_model().objects.acreate_user(username, password="pw")
    client = Client()
    await sync_to_async(client.force_login)(user)
    return user, client.cookies["sessionid"].value


async def open_hub(path: str, cookie: str | None = None, query: str = "") -> WebsocketCommunicator:
    headers = [(b"host", b"testserver")]
    if cookie is not None:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    socket = WebsocketCommunicator(application, f"{path}{query}", headers=headers)
    connected, code = await socket.connect(timeout=5)
    assert connected, code
    await socket.send_to(text_data=json.dumps({"protocol": "json", "version": 1}) + RS)
    assert await socket.receive_from(5) == "{}" + RS
    return socket


async def whoami(socket: WebsocketCommunicator) -> str | None:
    await socket.send_to(
        text_data=json.dumps({"type": 1, "invocationId": "1", "target": "whoami", "arguments": []}) + RS
    )
    while True:
        message = json.loads((await socket.receive_from(5)).rstrip(RS))
        if message.get("type") == 3:
            return message.get("result")


async def log_out(user: object, cookie: str) -> None:
    """What ``LogoutView`` does in another request of that browser (sync views run in a thread)."""
    request = HttpRequest()
    request.session = SessionStore(cookie)
    request.user = user

    await sync_to_async(logout)(request)


@pytest.mark.django_db(transaction=True)
async def test_logout_closes_the_connections_of_that_session(caplog):
    caplog.set_level("INFO", logger="django_hubs.sessions")
    user, cookie = await login("carol")
    _, other_cookie = await login("dave")
    mine = await open_hub("/hubs/private", cookie)
    also_mine = await open_hub("/hubs/test", cookie)
    another_session = await open_hub("/hubs/private", await sync_to_async(second_session)(user))
    someone_else = await open_hub("/hubs/private", other_cookie)
    assert await whoami(mine) == str(user.pk)

    await log_out(user, cookie)

    for socket in (mine, also_mine):
        # A Close without error or allowReconnect: the JS client fires onclose, no silent reconnect.
        assert await socket.receive_from(5) == '{"type":7}' + RS
        assert (await socket.receive_output(5))["type"] == "websocket.close"
    assert "its session ended (the user logged out)" in caplog.text
    assert cookie not in caplog.text
    # The same user's other session (another browser) and other users keep their connections.
    assert await whoami(another_session) == str(user.pk)
    assert await whoami(someone_else) is not None
    # The browser's cookie no longer logs anyone in.
    refused = WebsocketCommunicator(
        application, "/hubs/private", headers=[(b"host", b"testserver"), (b"cookie", f"sessionid={cookie}".encode())]
    )
    assert (await refused.connect(timeout=5))[0] is False
    for socket in (another_session, someone_else):
        await socket.disconnect()


def second_session(user: object) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.mark.django_db(transaction=True)
async def test_token_connections_outlive_a_logout_of_the_same_browser():
    from rest_framework_simplejwt.tokens import AccessToken

    user, cookie = await login("erin")
    token = AccessToken.for_user(user)
    by_token = await open_hub("/hubs/private", cookie, f"?access_token={token}")
    await log_out(user, cookie)
    assert await whoami(by_token) == str(user.pk)  # the token, not the session, is its credential
    await by_token.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_another_process_closes_its_connections_on_the_backplane_message():
    user, cookie = await login("frank")
    socket = await open_hub("/hubs/private", cookie)
    lifetime = find_endpoint("hubs/private").lifetime
    message = {"type": sessions.MESSAGE_TYPE, "hub": lifetime.hub_name, "origin": "elsewhere", "user": str(user.pk)}
    sessions.handle_remote(lifetime, {**message, "session": sessions.fingerprint("not-this-one")}, "here")
    assert await whoami(socket) == str(user.pk)
    sessions.handle_remote(lifetime, {**message, "session": sessions.fingerprint(cookie)}, "here")
    assert await socket.receive_from(5) == '{"type":7}' + RS


def change_password(user: object, cookie: str) -> str:
    """What ``PasswordChangeView`` does: save the new password, keep this browser logged in; its new cookie."""
    from django.contrib.auth import update_session_auth_hash

    user.set_password("new-pw")
    user.save()
    request = HttpRequest()
    request.session = SessionStore(cookie)
    request.user = user
    update_session_auth_hash(request, user)
    request.session.save()
    return request.session.session_key


@pytest.mark.django_db(transaction=True)
async def test_a_password_change_closes_the_sessions_it_logged_out(caplog):
    caplog.set_level("INFO", logger="django_hubs.sessions")
    user, cookie = await login("gina")
    other_cookie = await sync_to_async(second_session)(user)
    here = await open_hub("/hubs/private", cookie)
    elsewhere = await open_hub("/hubs/private", other_cookie)
    token = await open_hub("/hubs/private", query=f"?access_token={AccessToken.for_user(user)}")
    # A save that leaves the password alone (a login's last_login) closes nothing.
    await sync_to_async(user.save)(update_fields=["last_login"])
    await sync_to_async(user.save)()
    assert await whoami(here) == await whoami(elsewhere) == str(user.pk)

    new_cookie = await sync_to_async(change_password)(user, cookie)

    for socket in (here, elsewhere):
        assert await socket.receive_from(5) == '{"type":7,"allowReconnect":true}' + RS
        assert (await socket.receive_output(5))["type"] == "websocket.close"
    assert "the user's password changed" in caplog.text
    assert await whoami(token) == str(user.pk)
    # The browser that changed it reconnects as the user; the other one is logged out.
    again = await open_hub("/hubs/private", new_cookie)
    assert await whoami(again) == str(user.pk)
    refused = WebsocketCommunicator(
        application,
        "/hubs/private",
        headers=[(b"host", b"testserver"), (b"cookie", f"sessionid={other_cookie}".encode())],
    )
    assert (await refused.connect(timeout=5))[0] is False
    for socket in (again, token):
        await socket.disconnect()


def test_the_session_engine_is_imported_as_a_module_path(monkeypatch):
    """``SESSION_ENGINE`` names a module: read as a class path it failed until something else had imported it."""
    import sys
    import types

    import django.contrib.sessions.backends as backends

    from django_hubs.security import sessions as hub_sessions

    monkeypatch.delattr(backends, "db", raising=False)
    monkeypatch.delitem(sys.modules, "django.contrib.sessions.backends.db", raising=False)
    cookieless = types.SimpleNamespace(scope={"headers": []}, user_identifier="1")
    assert hub_sessions._stale([cookieless], "hash") == []
