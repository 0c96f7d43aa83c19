"""Hubs as Channels consumers, in process: ``ChatHub.as_asgi()`` in a project's own routing.

The project is ``tests/channels_project`` (the Channels tutorial's ``asgi.py`` with a hub
added); the live versions of these scenarios are in ``tests/interop/test_channels_project.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.auth import AuthMiddlewareStack
from channels.consumer import AsyncConsumer
from channels.routing import URLRouter
from channels.sessions import SessionMiddlewareStack
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client, override_settings
from django.urls import path
from rest_framework_simplejwt.tokens import AccessToken

from django_hubs import HubConsumer, get_hub_context
from django_hubs.consumer import unwrapped_send
from tests.channels_project.hubs import ChatHub

pytestmark = pytest.mark.django_db(transaction=True)

RS = "\x1e"
IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


class Hub:
    """A raw SignalR JSON client on a ``WebsocketCommunicator``."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.next_id = 0
        self.pending: list[dict[str, Any]] = []

    async def handshake(self) -> None:
        await self.communicator.send_to(text_data=json.dumps({"protocol": "json", "version": 1}) + RS)
        assert await self.communicator.receive_from(timeout=5) == "{}" + RS

    async def message(self, timeout: float = 5) -> dict[str, Any]:
        while not self.pending:
            text = await self.communicator.receive_from(timeout=timeout)
            self.pending += [json.loads(record) for record in text.split(RS) if record]
        return self.pending.pop(0)

    async def invoke(self, target: str, *args: Any) -> Any:
        self.next_id += 1
        invocation_id = str(self.next_id)
        frame = {"type": 1, "invocationId": invocation_id, "target": target, "arguments": list(args)}
        await self.communicator.send_to(text_data=json.dumps(frame) + RS)
        while True:
            message = await self.message()
            if message.get("type") == 3 and message.get("invocationId") == invocation_id:
                assert "error" not in message, message["error"]
                return message.get("result")
            if message.get("type") != 6:
                self.pending.append(message)
                await asyncio.sleep(0)


async def open_hub(app: Any, url: str, headers: list[tuple[bytes, bytes]] | None = None) -> Hub:
    communicator = WebsocketCommunicator(app, url, headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"refused with {code}"
    hub = Hub(communicator)
    await hub.handshake()
    return hub


async def refused(app: Any, url: str, headers: list[tuple[bytes, bytes]] | None = None) -> int | None:
    communicator = WebsocketCommunicator(app, url, headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    assert not connected
    return code


def project_application() -> Any:
    from tests.channels_project.asgi import application

    return application


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="alice-pw")


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", password="bob-pw")


def session_cookie(user: User) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


# --- the public surface -----------------------------------------------------------------


def test_a_hub_is_a_channels_consumer():
    app = ChatHub.as_asgi()
    assert app.consumer_class is HubConsumer
    assert app.consumer_initkwargs == {"hub": ChatHub}
    assert issubclass(HubConsumer, AsyncConsumer)
    assert HubConsumer.as_asgi(hub=ChatHub).consumer_initkwargs == {"hub": ChatHub}


def test_as_asgi_says_what_it_needs():
    with pytest.raises(TypeError, match=r"needs hub=<a django_hubs\.Hub subclass>"):
        HubConsumer.as_asgi()
    with pytest.raises(TypeError, match="needs hub="):
        HubConsumer.as_asgi(hub=object)
    with pytest.raises(TypeError, match=r"takes only hub=, not \['room'\]"):
        HubConsumer.as_asgi(hub=ChatHub, room="x")


async def test_a_hubconsumer_subclass_names_its_hub():
    class ChatConsumer(HubConsumer):
        hub = ChatHub

    hub = await open_hub(ChatConsumer.as_asgi(), "/hubs/chat")
    assert await hub.invoke("scope_value", "path") == "/hubs/chat"
    await hub.communicator.disconnect()


async def test_a_hub_is_no_http_consumer():
    app = ChatHub.as_asgi()
    with pytest.raises(ValueError, match="serves WebSocket scopes, not 'http' ones"):
        await app({"type": "http", "path": "/hubs/chat"}, None, None)


async def test_a_hub_level_authorize_refuses_anonymous_users_before_accept(alice):
    from tests.testapp.hubs import PrivateHub

    assert await refused(PrivateHub.as_asgi(), "/hubs/private") == 1008
    cookie = await asyncio.to_thread(session_cookie, alice)
    app = AuthMiddlewareStack(URLRouter([path("hubs/private", PrivateHub.as_asgi())]))
    hub = await open_hub(app, "/hubs/private", headers=[cookie])
    assert await hub.invoke("whoami") == str(alice.pk)
    await hub.communicator.disconnect()


async def test_websocket_communicator_on_the_hub_alone():
    hub = await open_hub(ChatHub.as_asgi(), "/hubs/chat")
    assert await hub.invoke("whoami") is None
    assert await hub.invoke("join", "room") is None
    await hub.invoke("send_to_room", "room", "hello")
    message = await hub.message()
    assert message["target"] == "ReceiveMessage" and message["arguments"][1] == "hello"
    await hub.communicator.disconnect()


# --- inside the project's own stack ------------------------------------------------------


async def test_the_projects_middleware_sets_the_user_and_its_scope_keys_reach_the_hub(alice):
    app = project_application()
    hub = await open_hub(app, "/hubs/chat", headers=[(b"x-project-user", b"alice")])
    assert await hub.invoke("whoami") == "alice"
    assert await hub.invoke("scope_value", "project") == "tutorial"
    assert await hub.invoke("scope_value", "url_route") is not None  # URLRouter's own key
    await hub.communicator.disconnect()


async def test_the_projects_own_consumer_still_works(alice):
    communicator = WebsocketCommunicator(project_application(), "/ws/echo/", headers=[(b"x-project-user", b"alice")])
    assert (await communicator.connect(timeout=5))[0]
    await communicator.send_to(text_data="ping")
    assert json.loads(await communicator.receive_from(timeout=5)) == {
        "echo": "ping",
        "user": "alice",
        "project": "tutorial",
    }
    await communicator.disconnect()


async def test_session_login_through_auth_middleware_stack(alice):
    cookie = await asyncio.to_thread(session_cookie, alice)
    hub = await open_hub(project_application(), "/hubs/chat", headers=[cookie])
    assert await hub.invoke("whoami") == "alice"
    await hub.communicator.disconnect()


async def test_a_foreign_origin_is_refused_with_the_visitors_cookie(alice):
    """Cross-site WebSocket hijacking: the consumer checks Origin even inside the project's stack."""
    cookie = await asyncio.to_thread(session_cookie, alice)
    headers = [cookie, (b"host", b"testserver"), (b"origin", b"https://evil.example")]
    assert await refused(project_application(), "/hubs/chat", headers) == 1008
    same_site = [cookie, (b"host", b"testserver"), (b"origin", b"http://testserver")]
    hub = await open_hub(project_application(), "/hubs/chat", same_site)
    assert await hub.invoke("whoami") == "alice"
    await hub.communicator.disconnect()


async def test_simplejwt_tokens_from_the_query_string_compose_with_the_session(alice, bob):
    token = str(AccessToken.for_user(bob))
    hub = await open_hub(project_application(), f"/hubs/chat?access_token={token}")
    assert await hub.invoke("whoami") == "bob"
    await hub.communicator.disconnect()
    # A token wins over the session cookie; without one the session decides.
    cookie = await asyncio.to_thread(session_cookie, alice)
    hub = await open_hub(project_application(), f"/hubs/chat?access_token={token}", headers=[cookie])
    assert await hub.invoke("whoami") == "bob"
    await hub.communicator.disconnect()


async def test_an_invalid_token_is_refused_not_downgraded(alice):
    cookie = await asyncio.to_thread(session_cookie, alice)
    assert await refused(project_application(), "/hubs/chat?access_token=not-a-jwt", headers=[cookie]) == 1008


async def test_auth_middleware_and_the_hubs_own_stack_compose(bob):
    """A project that also puts the public middleware in its stack: the token is validated once."""
    from django_hubs.security.auth import HubsAuthMiddlewareStack
    from django_hubs.security.origins import OriginCheckMiddleware

    app = OriginCheckMiddleware(HubsAuthMiddlewareStack(URLRouter([path("hubs/chat", ChatHub.as_asgi())])))
    token = str(AccessToken.for_user(bob))
    with override_settings(HUBS={"hubs/chat": ChatHub}):
        hub = await open_hub(app, f"/hubs/chat?access_token={token}")
        assert await hub.invoke("whoami") == "bob"
        await hub.communicator.disconnect()


# --- the speed stays ------------------------------------------------------------------


@override_settings(CHANNEL_LAYERS=IN_MEMORY_LAYER)
async def test_no_layer_channel_no_task_per_event_no_thread_hop_per_message(monkeypatch):
    """What makes plain consumers slow is not brought back by subclassing ``AsyncConsumer``."""
    import channels.consumer
    import channels.layers

    calls: list[str] = []
    original_new_channel = channels.layers.InMemoryChannelLayer.new_channel

    async def new_channel(self: Any, prefix: str = "specific.") -> str:
        if not prefix.startswith("hubs-process"):
            calls.append("new_channel")
        return await original_new_channel(self, prefix)

    async def aclose_old_connections() -> None:
        calls.append("aclose_old_connections")

    async def await_many_dispatch(*args: Any) -> None:
        calls.append("await_many_dispatch")

    monkeypatch.setattr(channels.layers.InMemoryChannelLayer, "new_channel", new_channel)
    monkeypatch.setattr(channels.consumer, "aclose_old_connections", aclose_old_connections)
    monkeypatch.setattr(channels.consumer, "await_many_dispatch", await_many_dispatch)
    app = AuthMiddlewareStack(URLRouter([path("hubs/chat", ChatHub.as_asgi())]))
    hub = await open_hub(app, "/hubs/chat")
    for i in range(20):
        assert await hub.invoke("scope_value", "type") == "websocket", i
    await hub.communicator.disconnect()
    assert calls == []


async def test_frames_skip_the_session_middlewares_send_wrapper():
    seen: list[Any] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(unwrapped_send(send))
        await receive()
        await send({"type": "websocket.close"})

    communicator = WebsocketCommunicator(SessionMiddlewareStack(app), "/x")
    await communicator.connect(timeout=5)
    (send,) = seen
    assert getattr(send, "__self__", None) is None or "InstanceSessionWrapper" not in type(send.__self__).__name__


async def test_the_hub_writes_frames_below_auth_middleware_stacks_send_wrapper(monkeypatch):
    """``SessionMiddleware``'s wrapper costs a tenth of an echo's CPU per frame, for nothing on a WebSocket."""
    from channels.sessions import InstanceSessionWrapper

    from django_hubs import consumer
    from django_hubs.server.scope import RAW_SEND

    sends: list[Any] = []

    async def serve(endpoint: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
        sends.append((send, scope[RAW_SEND]))
        await receive()
        await send({"type": "websocket.close"})

    monkeypatch.setattr(consumer._transport, "serve", serve)
    communicator = WebsocketCommunicator(AuthMiddlewareStack(ChatHub.as_asgi()), "/hubs/chat")
    await communicator.connect(timeout=5)
    ((wrapped, raw),) = sends
    assert isinstance(getattr(wrapped, "__self__", None), InstanceSessionWrapper)
    assert not isinstance(getattr(raw, "__self__", None), InstanceSessionWrapper)


def test_old_database_connections_are_closed_on_a_timer_while_hubs_are_connected(monkeypatch):
    from django_hubs.server import dbclose
    from django_hubs.server.heartbeat import heartbeat

    closed: list[int] = []
    monkeypatch.setattr(dbclose, "close_old_connections", lambda: closed.append(1))
    monkeypatch.setattr(heartbeat, "connections", {object()})  # type: ignore[arg-type]

    async def scenario() -> None:
        closer = dbclose.OldConnectionCloser()
        monkeypatch.setattr(heartbeat, "hooks", [closer])
        closer(100.0, 0.0)
        closer(100.0 + dbclose.INTERVAL / 2, 0.0)
        assert closer.task is None  # not yet: nothing per message, nothing per tick
        closer(100.0 + dbclose.INTERVAL, 0.0)
        assert closer.task is not None
        await closer.task
        assert closed == [1]
        heartbeat.connections.clear()
        closer(200.0, 0.0)
        assert closer not in heartbeat.hooks  # idle: the hook leaves

    asyncio.run(scenario())


# --- get_asgi_application from the same parts -------------------------------------------


async def test_get_asgi_application_takes_the_projects_routing_by_dotted_path(alice):
    from django_hubs.asgi import get_asgi_application

    app = get_asgi_application(websocket="tests.channels_project.routing.echo_application")
    communicator = WebsocketCommunicator(app, "/ws/echo/")
    assert (await communicator.connect(timeout=5))[0]
    await communicator.send_to(text_data="x")
    assert json.loads(await communicator.receive_from(timeout=5))["echo"] == "x"
    await communicator.disconnect()
    hub = await open_hub(app, "/hubs/test")
    assert await hub.invoke("add", 1, 2) == 3
    await hub.communicator.disconnect()


# --- abort from outside the hub ------------------------------------------------------------


async def test_abort_from_outside_the_hub_ends_the_connection_without_reconnect():
    hub = await open_hub(ChatHub.as_asgi(), "/hubs/chat")
    other = await open_hub(ChatHub.as_asgi(), "/hubs/chat")
    connection_id = await hub.invoke("get_connection_id")
    await get_hub_context(ChatHub).abort(connection_id)
    assert await hub.message() == {"type": 7}  # no allowReconnect: the official Abort()
    assert (await hub.communicator.receive_output(timeout=5))["type"] == "websocket.close"
    assert await other.invoke("whoami") is None  # the others carry on
    await get_hub_context(ChatHub).abort("no-such-connection")  # not an error
    await other.communicator.disconnect()
