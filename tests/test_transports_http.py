"""Server-Sent Events, long polling and sends, driven through Django's ASGI handler in process.

Each request is a raw ASGI exchange, read as the server writes it, so the tests see what
a client on the wire sees: status, headers, the first bytes of a stream, and what happens
when the client goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.handlers.asgi import ASGIHandler
from django.test import override_settings
from django.utils.decorators import async_only_middleware

from django_hubs.transports.manager import manager
from django_hubs.transports.sse import format_event
from tests.testapp.hubs import events

RS = b"\x1e"
HANDSHAKE = b'{"protocol":"json","version":1}' + RS
HUB = "/hubs/test"
TIMEOUT = 5.0


class Exchange:
    """One HTTP request to Django's ASGI handler; the response is read as it is written."""

    def __init__(self, method: str, path: str, query: str = "", body: bytes = b"", headers: Any = ()) -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"testserver"), *((k.encode(), v.encode()) for k, v in headers)],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        self.body = body
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()
        self._requested = False
        self.more = True
        self.task = asyncio.get_running_loop().create_task(ASGIHandler()(self.scope, self._receive, self.messages.put))

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def start(self) -> int:
        message = await asyncio.wait_for(self.messages.get(), TIMEOUT)
        assert message["type"] == "http.response.start"
        self.status = message["status"]
        self.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        return self.status

    async def chunk(self) -> bytes:
        """The next body message (for streams: what one write sent)."""
        message = await asyncio.wait_for(self.messages.get(), TIMEOUT)
        assert message["type"] == "http.response.body"
        self.more = message.get("more_body", False)
        return message.get("body", b"")

    async def read(self) -> bytes:
        body = b""
        while self.more:
            body += await self.chunk()
        await asyncio.wait_for(self.task, TIMEOUT)
        return body

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        status = await self.start()
        return status, self.headers, await self.read()

    async def disconnect(self) -> None:
        """The client goes away, as a closed socket tells the server."""
        self.gone.set()
        await asyncio.wait_for(self.task, TIMEOUT)


async def request(method: str, query: str = "", body: bytes = b"", headers: Any = (), path: str = HUB) -> Any:
    return await Exchange(method, path, query, body, headers).response()


async def negotiate(path: str = HUB, headers: Any = ()) -> str:
    status, _, body = await request("POST", "negotiateVersion=1", headers=headers, path=path + "/negotiate")
    assert status == 200, body
    return json.loads(body)["connectionToken"]


def event_stream(token: str, headers: Any = (), path: str = HUB) -> Exchange:
    return Exchange("GET", path, f"id={token}", headers=[("accept", "text/event-stream"), *headers])


async def post(token: str, body: bytes, headers: Any = ()) -> tuple[int, dict[str, str], bytes]:
    return await request("POST", f"id={token}", body, [("content-type", "text/plain;charset=UTF-8"), *headers])


async def poll(token: str, headers: Any = ()) -> tuple[int, dict[str, str], bytes]:
    return await request("GET", f"id={token}&_=1", headers=headers)


def records(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(part) for part in data.split(RS) if part]


async def until(predicate: Any) -> None:
    async with asyncio.timeout(TIMEOUT):
        while not predicate():
            await asyncio.sleep(0.01)


async def wait_for_event(event: tuple[str, Any]) -> None:
    await until(lambda: event in events)


async def poll_records(token: str, count: int) -> list[dict[str, Any]]:
    """Poll until ``count`` records arrived (the server may answer them in several polls)."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        status, _, body = await poll(token)
        assert status == 200
        found += records(body)
    return found


def polling(token: str) -> Exchange:
    """A poll left waiting on the server: returns once the server holds it."""
    return Exchange("GET", HUB, f"id={token}&_=0")


# --- Server-Sent Events ------------------------------------------------------------------


async def test_sse_stream_headers_first_bytes_and_events():
    token = await negotiate()
    stream = event_stream(token)
    assert await stream.start() == 200
    assert stream.headers["content-type"] == "text/event-stream"
    assert stream.headers["cache-control"] == "no-cache,no-store"
    assert stream.headers["pragma"] == "no-cache"
    assert stream.headers["content-encoding"] == "identity"
    assert await stream.chunk() == b":\r\n"

    status, headers, body = await post(token, HANDSHAKE)
    assert (status, headers["content-type"], body) == (200, "text/plain", b"")
    assert await stream.chunk() == b"data: {}\x1e\r\n\r\n"

    await post(token, b'{"type":1,"invocationId":"1","target":"add","arguments":[1,2]}' + RS)
    event = await stream.chunk()
    assert event.startswith(b"data: ") and event.endswith(b"\r\n\r\n")
    assert records(event[len(b"data: ") : -4]) == [{"type": 3, "invocationId": "1", "result": 3}]

    await post(token, b'{"type":7}' + RS)  # the client's Close: the server answers and ends the stream
    assert records((await stream.read()).removeprefix(b"data: ").removesuffix(b"\r\n\r\n")) == [{"type": 7}]
    await wait_for_event(("disconnected", None))
    assert manager.get(token) is None


def test_sse_event_format_splits_lines_and_drops_cr():
    assert format_event(b'{"type":6}\x1e') == b'data: {"type":6}\x1e\r\n\r\n'
    assert format_event(b"one\ntwo\r\nthree") == b"data: one\r\ndata: two\r\ndata: three\r\n\r\n"
    assert format_event(b"last\n") == b"data: last\r\ndata: \r\n\r\n"


async def test_sse_client_going_away_ends_the_connection():
    token = await negotiate()
    stream = event_stream(token)
    await stream.start()
    await stream.chunk()
    await post(token, HANDSHAKE)
    await stream.chunk()

    await stream.disconnect()
    await wait_for_event(("disconnected", None))
    assert manager.get(token) is None
    assert (await post(token, b'{"type":6}' + RS))[::2] == (404, b"No Connection with that ID")


async def test_sse_second_stream_is_a_conflict():
    token = await negotiate()
    stream = event_stream(token)
    await stream.start()
    status, headers, body = await event_stream(token).response()
    assert (status, headers["content-type"], body) == (409, "text/plain", b"")
    await stream.disconnect()


async def test_sse_refuses_a_binary_protocol_at_handshake():
    token = await negotiate()
    stream = event_stream(token)
    await stream.start()
    await stream.chunk()
    await post(token, b'{"protocol":"messagepack","version":1}' + RS)
    body = await stream.read()
    assert records(body.removeprefix(b"data: ").removesuffix(b"\r\n\r\n")) == [
        {
            "error": "Cannot use the 'messagepack' protocol on the current transport. "
            "The transport does not support 'Binary' transfer format."
        }
    ]
    assert manager.get(token) is None


# --- long polling ------------------------------------------------------------------------------


async def test_long_polling_round_trip_headers_and_delete():
    token = await negotiate()
    status, headers, body = await poll(token)
    assert (status, body) == (200, b"")
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-length"] == "0"
    assert headers["cache-control"] == "no-cache, no-store"
    assert headers["pragma"] == "no-cache"
    assert headers["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"

    assert (await post(token, HANDSHAKE))[::2] == (200, b"")
    status, headers, body = await poll(token)
    assert (status, body, headers["content-length"]) == (200, b"{}\x1e", "3")

    # Two records posted in one body, split across two POSTs: both are answered, in one poll.
    calls = b'{"type":1,"invocationId":"1","target":"add","arguments":[1,2]}\x1e{"type":1,"invocationId":"2","tar'
    await post(token, calls)
    await post(token, b'get":"echo","arguments":["x"]}\x1e')
    assert await poll_records(token, 2) == [
        {"type": 3, "invocationId": "1", "result": 3},
        {"type": 3, "invocationId": "2", "result": "x"},
    ]

    record = manager.get(token)
    waiting = polling(token)
    await until(lambda: record.active == 1)
    status, headers, body = await request("DELETE", f"id={token}")
    assert (status, headers["content-type"], body) == (202, "text/plain", b"")
    assert (await waiting.response())[::2] == (204, b"")
    await wait_for_event(("disconnected", None))
    assert (await poll(token))[::2] == (404, b"No Connection with that ID")


@override_settings(HUBS_LONG_POLL_TIMEOUT=0.05)
async def test_long_poll_answers_empty_after_the_poll_timeout():
    token = await negotiate()
    await poll(token)
    await post(token, HANDSHAKE)
    assert (await poll(token))[::2] == (200, b"{}\x1e")
    status, headers, body = await poll(token)
    assert (status, headers["content-length"], body) == (200, "0", b"")
    assert (await post(token, b'{"type":1,"invocationId":"1","target":"add","arguments":[2,2]}' + RS))[0] == 200
    assert records((await poll(token))[2]) == [{"type": 3, "invocationId": "1", "result": 4}]


async def test_newer_poll_releases_the_older_with_204():
    token = await negotiate()
    await poll(token)
    await post(token, HANDSHAKE)
    await poll(token)
    record = manager.get(token)
    older = polling(token)
    await until(lambda: record.current_poll is not None)
    first = record.current_poll
    newer = polling(token)
    assert (await older.response())[::2] == (204, b"")
    assert first.is_set() and record.current_poll is not first
    await post(token, b'{"type":1,"invocationId":"1","target":"echo","arguments":["for the newer"]}' + RS)
    status, _, body = await newer.response()
    assert (status, records(body)) == (200, [{"type": 3, "invocationId": "1", "result": "for the newer"}])
    await request("DELETE", f"id={token}")


async def test_poll_after_the_hub_closed_gets_the_close_then_204():
    token = await negotiate()
    await poll(token)
    await post(token, HANDSHAKE)
    await poll(token)
    await post(token, b'{"type":1,"target":"abort","arguments":[]}' + RS)
    assert records((await poll(token))[2]) == [{"type": 7}]
    assert (await poll(token))[::2] == (204, b"")
    await wait_for_event(("disconnected", None))
    assert manager.get(token) is None


async def test_send_before_the_first_poll_is_kept_for_the_connection():
    """signalrcore posts its handshake before it polls."""
    token = await negotiate()
    assert (await post(token, HANDSHAKE))[::2] == (200, b"")
    assert (await poll(token))[::2] == (200, b"")
    assert (await poll(token))[::2] == (200, b"{}\x1e")
    await request("DELETE", f"id={token}")


async def test_data_before_the_transport_is_bounded():
    token = await negotiate()
    assert (await post(token, b" " * 60_000))[0] == 200
    status, _, body = await post(token, b" " * 10_000)
    assert (status, body) == (413, b"Too much data sent before the transport started.")


async def test_idle_long_polling_connection_is_reaped_but_not_while_polling():
    token = await negotiate()
    await poll(token)
    await post(token, HANDSHAKE)
    await poll(token)
    record = manager.get(token)
    assert record is not None and record.connection is not None and not record.connection.pings

    waiting = polling(token)
    await until(lambda: record.active == 1)
    manager.reap(asyncio.get_running_loop().time() + 3600, time.time())
    assert manager.get(token) is record

    await waiting.disconnect()  # the client aborts its poll: the connection turns inactive
    assert record.active == 0
    manager.reap(asyncio.get_running_loop().time() + 3600, time.time())
    assert manager.get(token) is None
    await wait_for_event(("disconnected", None))
    assert (await poll(token))[::2] == (404, b"No Connection with that ID")


# --- status codes of spec 2.0 --------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers"),
    [("GET", [("accept", "text/event-stream")]), ("GET", []), ("POST", []), ("DELETE", [])],
)
async def test_missing_and_unknown_ids(method, headers):
    status, response_headers, body = await request(method, headers=headers)
    assert (status, response_headers["content-type"], body) == (400, "text/plain", b"Connection ID required")
    status, _, body = await request(method, "id=nobody-has-this-id", headers=headers)
    assert (status, body) == (404, b"No Connection with that ID")


async def test_other_methods_are_not_allowed():
    assert (await request("PUT", "id=x"))[0] == 405


@override_settings(HUBS_TRANSPORTS=["LongPolling"])
async def test_disabled_transport_is_not_supported_by_this_end_point():
    token = await negotiate()
    status, _, body = await event_stream(token).response()
    assert (status, body) == (404, b"ServerSentEvents transport not supported by this end point type")
    assert (await poll(token))[0] == 200
    await request("DELETE", f"id={token}")


@override_settings(HUBS_TRANSPORTS=["WebSockets", "ServerSentEvents"])
async def test_long_polling_disabled():
    token = await negotiate()
    assert (await poll(token))[::2] == (404, b"LongPolling transport not supported by this end point type")


async def test_cannot_change_transports_mid_connection():
    token = await negotiate()
    await poll(token)
    status, _, body = await event_stream(token).response()
    assert (status, body) == (400, b"Cannot change transports mid-connection")

    other = await negotiate()
    stream = event_stream(other)
    await stream.start()
    assert (await poll(other))[::2] == (400, b"Cannot change transports mid-connection")
    status, _, body = await request("DELETE", f"id={other}")
    assert (status, body) == (400, b"Cannot terminate this connection using the DELETE endpoint.")
    await stream.disconnect()
    await request("DELETE", f"id={token}")


async def test_post_and_delete_on_a_websocket_connection():
    from tests.asgi import application

    token = await negotiate()
    communicator = WebsocketCommunicator(application, f"{HUB}?id={token}")
    connected, _ = await communicator.connect()
    assert connected
    status, _, body = await post(token, b'{"type":6}' + RS)
    assert (status, body) == (405, b"POST requests are not allowed for WebSocket connections.")
    status, _, body = await request("DELETE", f"id={token}")
    assert (status, body) == (400, b"Cannot terminate this connection using the DELETE endpoint.")
    await communicator.disconnect()


# --- identity ---------------------------------------------------------------------------------


async def session_cookie(user: User) -> tuple[str, str]:
    from django.test import AsyncClient

    client = AsyncClient()
    await client.aforce_login(user)
    return ("cookie", f"sessionid={client.cookies['sessionid'].value}")


@pytest.mark.django_db(transaction=True)
async def test_later_requests_must_come_from_the_negotiating_user():
    alice = await User.objects.acreate_user("alice", password="alice-pw")
    bob = await User.objects.acreate_user("bob", password="bob-pw")
    as_alice, as_bob = await session_cookie(alice), await session_cookie(bob)

    token = await negotiate(headers=[as_alice])
    assert (await poll(token))[0] == 403
    assert (await poll(token, [as_bob]))[::2] == (403, b"Forbidden")
    assert (await poll(token, [as_alice]))[0] == 200
    assert (await post(token, HANDSHAKE, [as_bob]))[0] == 403
    assert (await post(token, HANDSHAKE, [as_alice]))[0] == 200
    assert (await poll(token, [as_alice]))[2] == b"{}\x1e"
    await post(token, b'{"type":1,"invocationId":"1","target":"whoami","arguments":[]}' + RS, [as_alice])
    assert records((await poll(token, [as_alice]))[2]) == [{"type": 3, "invocationId": "1", "result": str(alice.pk)}]
    assert (await request("DELETE", f"id={token}", headers=[as_bob]))[0] == 403
    assert (await request("DELETE", f"id={token}", headers=[as_alice]))[0] == 202

    private = await negotiate("/hubs/private", headers=[as_alice])
    await User.objects.filter(pk=alice.pk).aupdate(is_active=False)  # the session no longer authenticates
    status, _, _ = await event_stream(private, path="/hubs/private").response()
    assert status == 401


# --- token expiry ------------------------------------------------------------------------------


@async_only_middleware
def expiring_token(get_response: Any) -> Any:
    """Stands in for the JWT middleware: a header says when the request's token expires."""

    async def middleware(request: Any) -> Any:
        if "HTTP_X_TEST_TOKEN_EXPIRES" in request.META:
            request.hubs_token_expires_at = float(request.META["HTTP_X_TEST_TOKEN_EXPIRES"])
        return await get_response(request)

    return middleware


async def test_sse_connection_closes_when_its_token_expires(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.test_transports_http.expiring_token"]
    token = await negotiate()
    stream = event_stream(token, headers=[("x-test-token-expires", str(time.time() + 0.5))])
    await stream.start()
    await stream.chunk()
    await post(token, HANDSHAKE)
    assert await stream.chunk() == b"data: {}\x1e\r\n\r\n"
    rest = (await stream.read()).split(b"\r\n\r\n")
    assert [records(event.removeprefix(b"data: ")) for event in rest if event] == [
        [{"type": 7, "allowReconnect": True}]
    ]
