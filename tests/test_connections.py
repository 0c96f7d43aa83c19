"""Raw connection handlers in process: the three transports without the hub protocol.

WebSockets go through ``get_asgi_application()`` (``tests.asgi``) with Channels'
communicator; negotiate, Server-Sent Events and long polling through Django's ASGI
handler, as the hub transports' tests drive them (``tests.test_transports_http.Exchange``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.core.checks import run_checks
from django.test import override_settings
from django.urls import path

from django_hubs.connections import ConnectionHandler
from django_hubs.server.connection import State
from django_hubs.server.endpoints import HandlerEndpoint, hub_options
from django_hubs.server.outbox import Outbox
from django_hubs.server.raw import RawConnection
from django_hubs.transports.manager import manager
from django_hubs.urls import hub_urlpatterns
from tests.test_transports_http import Exchange
from tests.testapp import raw

pytestmark = pytest.mark.django_db(transaction=True)

RAW_HUBS = {
    "hubs/test": "tests.testapp.hubs.TestHub",
    "raw/echo": "tests.testapp.raw.EchoHandler",
    "raw/small": {"hub": "tests.testapp.raw.EchoHandler", "MAX_MESSAGE_SIZE": 16, "MAX_OUTGOING_BUFFER": 4096},
    "raw/failing": "tests.testapp.raw.FailingConnectHandler",
    "raw/private": "tests.testapp.raw.PrivateHandler",
}
TIMEOUT = 5.0

with override_settings(HUBS=RAW_HUBS):
    urlpatterns = hub_urlpatterns()


@pytest.fixture(autouse=True)
def _raw_settings() -> Iterator[None]:
    raw.events.clear()
    raw.left.clear()
    with override_settings(HUBS=RAW_HUBS, ROOT_URLCONF=__name__):
        yield
    raw.events.clear()
    raw.left.clear()


async def until(predicate: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.01)


def events_of(kind: str) -> list[tuple[str, str, Any]]:
    return [event for event in raw.events if event[0] == kind]


# --- WebSockets ---------------------------------------------------------------------------


async def websocket(url: str = "/raw/echo") -> WebsocketCommunicator:
    from tests.asgi import application

    communicator = WebsocketCommunicator(application, url)
    connected, _ = await communicator.connect(TIMEOUT)
    assert connected
    return communicator


async def test_websocket_echoes_text_and_binary_frames_as_they_came():
    ws = await websocket()
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "welcome"}
    await ws.send_to(text_data="héllo\x1e")  # a record separator is data here, not framing
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "héllo\x1e"}
    await ws.send_to(bytes_data=b"\x00\xff")
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "bytes": b"\x00\xff"}
    await ws.send_to(text_data="twice")  # each send() is one message
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "one"}
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "two"}
    await ws.send_to(text_data="later")  # a send outside receive()
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "on my own"}
    connection_id = events_of("connected")[0][1]
    assert events_of("received") == [
        ("received", connection_id, "héllo\x1e"),
        ("received", connection_id, b"\x00\xff"),
        ("received", connection_id, "twice"),
        ("received", connection_id, "later"),
    ]
    await ws.disconnect()
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected") == [("disconnected", connection_id, None)]


async def test_websocket_close_by_the_handler_ends_the_socket_cleanly():
    ws = await websocket()
    await ws.receive_output(TIMEOUT)
    await ws.send_to(text_data="close")
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 1000}
    await ws.send_input({"type": "websocket.disconnect", "code": 1000})
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected")[0][2] is None


async def test_a_close_without_a_status_is_a_clean_end():
    """daphne reports a client's close without a status code as ``"code": None``: no error."""
    ws = await websocket()
    await ws.receive_output(TIMEOUT)
    await ws.send_input({"type": "websocket.disconnect", "code": None})
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected")[0][2] is None


async def test_a_handler_that_raises_ends_its_connection_only(caplog: pytest.LogCaptureFixture):
    failing, other = await websocket(), await websocket()
    await failing.receive_output(TIMEOUT)
    await other.receive_output(TIMEOUT)
    with caplog.at_level(logging.ERROR, "django_hubs.connection"):
        await failing.send_to(text_data="raise")
        assert await failing.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 1000}
    failed_id = events_of("received")[0][1]
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [f"receive failed for {failed_id}"]
    assert "the handler failed" in caplog.text  # the traceback
    await failing.send_input({"type": "websocket.disconnect", "code": 1000})
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected") == [("disconnected", failed_id, "RuntimeError")]

    await other.send_to(text_data="still here")
    assert await other.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "still here"}
    await other.disconnect()


async def test_on_connected_raising_closes_the_connection(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.ERROR, "django_hubs.connection"):
        ws = await websocket("/raw/failing")
        assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 1000}
    assert "on_connected failed for" in caplog.text
    await ws.send_input({"type": "websocket.disconnect", "code": 1000})


async def test_a_message_over_the_size_limit_closes_the_connection(caplog: pytest.LogCaptureFixture):
    ws = await websocket("/raw/small")
    await ws.receive_output(TIMEOUT)
    await ws.send_to(text_data="x" * 16)  # at the limit: fine
    assert await ws.receive_output(TIMEOUT) == {"type": "websocket.send", "text": "x" * 16}
    with caplog.at_level(logging.WARNING, "django_hubs.connection"):
        await ws.send_to(text_data="é" * 9)  # 9 characters, 18 bytes of UTF-8
        assert await ws.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 1000}
    assert "a message of 18 bytes, limit 16 (HUBS_MAX_MESSAGE_SIZE)" in caplog.text
    assert [event[2] for event in events_of("received")] == ["x" * 16]  # the handler never saw it
    await ws.send_input({"type": "websocket.disconnect", "code": 1000})
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected")[0][2] == "MessageTooLargeError"


async def test_a_client_that_does_not_read_is_closed_at_the_outgoing_bound(caplog: pytest.LogCaptureFixture):
    token = await negotiate("/raw/small")
    assert (await poll("/raw/small", token))[0] == 200  # starts the connection
    with caplog.at_level(logging.WARNING, "django_hubs.connection"):
        assert (await post("/raw/small", token, b"flood:8"))[0] == 200  # 8 KiB, limit 4 KiB, nobody polls
    assert "the client is not reading" in caplog.text
    assert (await poll("/raw/small", token))[0] == 204  # aborted: what waited is dropped
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected")[0][2] == "OutboxOverflow"


async def test_as_asgi_serves_a_handler_in_a_projects_own_router():
    router = URLRouter([path("ws/echo", raw.EchoHandler.as_asgi())])
    ws = WebsocketCommunicator(router, "/ws/echo")
    connected, _ = await ws.connect(TIMEOUT)
    assert connected
    assert await ws.receive_from(TIMEOUT) == "welcome"
    await ws.send_to(bytes_data=b"raw")
    assert await ws.receive_from(TIMEOUT) == b"raw"
    await ws.disconnect()


# --- negotiate, Server-Sent Events, long polling -------------------------------------------


async def request(method: str, url: str, query: str = "", body: bytes = b"", headers: Any = ()) -> Any:
    return await Exchange(method, url, query, body, headers).response()


async def negotiate(url: str = "/raw/echo", query: str = "negotiateVersion=1&useStatefulReconnect=true") -> str:
    status, _, body = await request("POST", url + "/negotiate", query)
    assert status == 200, body
    answer = json.loads(body)
    assert "useStatefulReconnect" not in answer  # no hub protocol, no Sequence and Ack to resume with
    assert answer["availableTransports"] == [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
        {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
        {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
    ]
    return str(answer["connectionToken"])


async def post(url: str, token: str, body: bytes, content_type: str = "text/plain;charset=UTF-8") -> Any:
    return await request("POST", url, f"id={token}", body, [("content-type", content_type)])


async def poll(url: str, token: str) -> Any:
    return await request("GET", url, f"id={token}&_=1")


async def test_server_sent_events_carry_one_event_per_send():
    token = await negotiate()
    stream = Exchange("GET", "/raw/echo", f"id={token}", headers=[("accept", "text/event-stream")])
    assert await stream.start() == 200
    assert await stream.chunk() == b":\r\n"
    assert await stream.chunk() == b"data: welcome\r\n\r\n"
    assert (await post("/raw/echo", token, b"two\nlines"))[0] == 200
    assert await stream.chunk() == b"data: two\r\ndata: lines\r\n\r\n"
    await post("/raw/echo", token, b"twice")
    assert [await stream.chunk(), await stream.chunk()] == [b"data: one\r\n\r\n", b"data: two\r\n\r\n"]
    await post("/raw/echo", token, b"bytes", content_type="application/octet-stream")  # still text on SSE
    assert (
        await stream.chunk() == b"data: TypeError: Server-Sent Events carry text only: send a str, not bytes.\r\n\r\n"
    )
    assert [event[2] for event in events_of("received")] == ["two\nlines", "twice", "bytes"]
    await post("/raw/echo", token, b"close")
    assert await stream.read() == b""  # the stream ends: the client sees its connection close
    await until(lambda: events_of("disconnected"))
    assert manager.get(token) is None


async def test_long_polling_text_and_binary_posts_and_delete():
    token = await negotiate()
    assert (await poll("/raw/echo", token))[::2] == (200, b"")  # the first poll only starts it
    assert (await poll("/raw/echo", token))[::2] == (200, b"welcome")
    assert (await post("/raw/echo", token, "é".encode()))[0] == 200
    assert (await post("/raw/echo", token, b"\x00\x01", "application/octet-stream"))[0] == 200
    # Everything queued since the last poll is one response, as the official server answers.
    assert (await poll("/raw/echo", token))[::2] == (200, "é".encode() + b"\x00\x01")
    assert [event[2] for event in events_of("received")] == ["é", b"\x00\x01"]
    assert (await request("DELETE", "/raw/echo", f"id={token}"))[0] == 202
    assert events_of("disconnected") == [("disconnected", events_of("connected")[0][1], None)]
    assert manager.get(token) is None


async def test_posts_before_the_first_poll_reach_the_handler_after_on_connected_in_order():
    token = await negotiate()
    assert (await post("/raw/echo", token, b"early"))[0] == 200
    assert (await post("/raw/echo", token, b"\x02", "application/octet-stream"))[0] == 200
    assert (await poll("/raw/echo", token))[::2] == (200, b"")
    assert [event[0] for event in raw.events] == ["connected", "received", "received"]
    assert [event[2] for event in events_of("received")] == ["early", b"\x02"]
    assert (await poll("/raw/echo", token))[::2] == (200, b"welcomeearly\x02")
    await request("DELETE", "/raw/echo", f"id={token}")


async def test_a_connection_nobody_polls_is_disposed_after_the_disconnect_timeout():
    token = await negotiate()
    await poll("/raw/echo", token)
    record = manager.get(token)
    assert record is not None and record.active == 0
    manager.reap(asyncio.get_running_loop().time() + 3600, 0.0)  # far past HUBS_DISCONNECT_TIMEOUT
    assert manager.get(token) is None
    await until(lambda: events_of("disconnected"))
    assert events_of("disconnected")[0][2] is None


async def test_long_polling_post_over_the_size_limit_is_refused_and_closes(caplog: pytest.LogCaptureFixture):
    token = await negotiate("/raw/small")
    await poll("/raw/small", token)
    with caplog.at_level(logging.WARNING, "django_hubs.connection"):
        status, _, body = await post("/raw/small", token, b"y" * 17, "application/octet-stream")
    assert (status, body) == (413, b"The message is larger than HUBS_MAX_MESSAGE_SIZE.")
    assert "limit 16 (HUBS_MAX_MESSAGE_SIZE)" in caplog.text
    assert (await poll("/raw/small", token))[::2] == (200, b"welcome")  # flushed, then the end
    assert (await poll("/raw/small", token))[0] == 204
    assert events_of("received") == []


async def test_handler_authorization_is_the_hubs():
    status, _, _ = await request("POST", "/raw/private/negotiate", "negotiateVersion=1")
    assert status == 401
    from tests.asgi import application

    ws = WebsocketCommunicator(application, "/raw/private")
    connected, _ = await ws.connect(TIMEOUT)
    assert not connected


# --- the hubs' security, on the same path -----------------------------------------------------


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
@pytest.mark.parametrize("url", ["/raw/echo/negotiate", "/raw/echo"])
async def test_cors_preflight_is_answered_as_for_a_hub(url: str):
    from tests.test_cors import preflight

    response = await preflight(url, "https://app.example.com")
    assert response["status"] == 200
    assert response["headers"]["access-control-allow-origin"] == "https://app.example.com"
    assert response["headers"]["access-control-allow-credentials"] == "true"


async def test_a_foreign_origin_is_refused_on_the_websocket():
    from tests.asgi import application

    ws = WebsocketCommunicator(application, "/raw/echo", headers=[(b"origin", b"https://evil.example")])
    connected, _ = await ws.connect(TIMEOUT)
    assert not connected
    assert raw.events == []  # no handler ran


async def test_an_access_token_authenticates_websockets_and_long_polling():
    from django.contrib.auth.models import User

    from tests.test_auth import access_token

    alice = await User.objects.acreate(username="raw-alice")
    token = await asyncio.to_thread(access_token, alice)
    ws = await websocket(f"/raw/private?access_token={token}")
    await ws.receive_from(TIMEOUT)
    await ws.send_to(text_data="whoami")
    assert json.loads(await ws.receive_from(TIMEOUT))["user"] == str(alice.pk)
    await ws.disconnect()

    bearer = [("authorization", f"Bearer {token}")]
    status, _, body = await request("POST", "/raw/private/negotiate", "negotiateVersion=1", headers=bearer)
    assert status == 200
    connection = json.loads(body)["connectionToken"]
    assert (await request("GET", "/raw/private", f"id={connection}", headers=bearer))[0] == 200
    assert (await request("GET", "/raw/private", f"id={connection}"))[0] == 401  # the token is needed each time


# --- bounds driven by the heartbeat, and checks ----------------------------------------------


async def test_a_send_that_never_completes_and_an_expired_token_end_the_connection():
    endpoint = HandlerEndpoint("raw/unit", ConnectionHandler, hub_options({"TRANSPORT_SEND_TIMEOUT": 1}))
    stuck = RawConnection(endpoint, "stuck", {}, None, "WebSockets", Outbox())
    stuck.outbox.sending_since = 0.0
    stuck.tick(2.0, 0.0)
    assert stuck.outbox.aborted and stuck.state is State.CLOSING
    await stuck.transport_closed()

    expired = RawConnection(endpoint, "expired", {"hubs_token_expires_at": 100.0}, None, "LongPolling", Outbox())
    expired.tick(0.0, 99.0)
    assert expired.state is State.CONNECTED
    expired.tick(0.0, 100.0)
    assert (
        expired.state is State.CLOSING
        and expired.outbox.closed
        and str(expired.close_reason) == ("The access token expired.")
    )
    await expired.transport_closed()


def test_checks_accept_a_handler_and_name_both_base_classes():
    assert [m for m in run_checks() if m.id == "django_hubs.E002"] == []
    with override_settings(HUBS={"raw/bad": "tests.testapp.raw.events"}):
        (message,) = [m for m in run_checks() if m.id == "django_hubs.E002"]
    assert "is not a subclass of django_hubs.Hub or django_hubs.connections.ConnectionHandler" in message.msg


#: ASGI applications for the routing checks below.
routed_by_as_asgi = URLRouter([path("raw/echo", raw.EchoHandler.as_asgi())])
routed_elsewhere = URLRouter([path("other", raw.EchoHandler.as_asgi())])


def test_routing_checks_cover_handlers():
    from django_hubs.checks import check_negotiate_routes, check_websocket_routes

    only_raw = {"raw/echo": "tests.testapp.raw.EchoHandler"}
    with override_settings(HUBS=only_raw, ASGI_APPLICATION="tests.asgi.application"):
        assert check_negotiate_routes() == []
        assert check_websocket_routes() == []
    with override_settings(HUBS=only_raw, ASGI_APPLICATION=f"{__name__}.routed_by_as_asgi"):
        assert check_websocket_routes() == []
    with override_settings(HUBS=only_raw, ASGI_APPLICATION=f"{__name__}.routed_elsewhere"):
        (message,) = check_websocket_routes()
    assert message.id == "django_hubs.E022"
    assert "HUBS['raw/echo'] (EchoHandler) is not reachable over WebSockets" in message.msg
    with override_settings(HUBS=only_raw, ROOT_URLCONF="tests.channels_project.urls_without_hubs"):
        (message,) = check_negotiate_routes()
    assert message.id == "django_hubs.E021"
