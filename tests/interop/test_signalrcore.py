"""signalrcore 1.0.2 driving the live server: WebSockets with JSON and MessagePack, then SSE and long polling.

signalrcore negotiates without ``negotiateVersion`` and then sends handshake version 0,
calls ``.json()`` on the negotiate and send replies, puts its HTTP headers into every
message and reads server Invocations in MessagePack as six-element arrays. Its callbacks
fire on reader threads; :mod:`.pyclients` bounds every wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import LiveServer
from .pyclients import GENERIC_FAIL, REFUSED, UNKNOWN, Completion, SignalRCore, hub_url, mint_access_token, unique

pytestmark = pytest.mark.interop


@pytest.fixture(params=["json", "messagepack"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


# --- WebSockets ------------------------------------------------------------------------


def test_invoke_returns_the_result(server: LiveServer, protocol: str) -> None:
    with SignalRCore(hub_url(server), protocol) as client:
        assert client.invoke("Add", 1, 2) == Completion(3, None)
        value = {"text": "héllo", "items": [1, 2.5, None, True]}
        assert client.invoke("Echo", value) == Completion(value, None)
        assert client.invoke("Nothing") == Completion(None, None)
        assert client.errors == []


def test_connects_with_the_negotiated_connection_id(server: LiveServer, protocol: str) -> None:
    """Negotiate v0: the id signalrcore puts in ``?id=`` is the hub's connection id."""
    with SignalRCore(hub_url(server), protocol) as client:
        connection_id = client.invoke("GetConnectionId").result
        assert isinstance(connection_id, str) and connection_id
        assert f"id={connection_id}" in client.connection.transport.url


def test_message_sent_with_the_handshake_reply_is_delivered(server: LiveServer, protocol: str) -> None:
    """``on_connected`` sends at once, so the first frame may carry the handshake reply and a message."""
    client = SignalRCore(hub_url(server, "hubs/test?greet=1"), protocol)
    client.on("Welcome")
    with client:
        (welcomed,) = client.next("Welcome")
        assert welcomed == client.invoke("GetConnectionId").result


def test_send_reaches_every_connection(server: LiveServer, protocol: str) -> None:
    sender, other = SignalRCore(hub_url(server), protocol), SignalRCore(hub_url(server), protocol)
    sender.on("ReceiveMessage")
    other.on("ReceiveMessage")
    with sender, other:
        sender.send("SendMessage", "alice", "hello all")
        assert other.next("ReceiveMessage") == ["alice", "hello all"]
        assert sender.next("ReceiveMessage") == ["alice", "hello all"]


def test_method_names_fold_case_and_underscores(server: LiveServer, protocol: str) -> None:
    client = SignalRCore(hub_url(server), protocol)
    client.on("ReceiveMessage")
    with client:
        for name in ("SendMessage", "sendMessage", "send_message", "SENDMESSAGE"):
            assert client.invoke(name, "user", name) == Completion(None, None)
            assert client.next("ReceiveMessage") == ["user", name]
        assert client.invoke("add", 2, 3) == Completion(5, None)


def test_others_and_caller(server: LiveServer, protocol: str) -> None:
    first, second = SignalRCore(hub_url(server), protocol), SignalRCore(hub_url(server), protocol)
    first.on("Receive")
    second.on("Receive")
    with first, second:
        first.invoke("ToOthers", "not for me")
        assert second.next("Receive") == ["others", "not for me"]
        # Messages to one connection keep their order: had "others" reached the sender too,
        # it would come before this reply to the caller.
        first.invoke("ToCaller", "mine")
        assert first.next("Receive") == ["caller", "mine"]


def test_group_after_joining(server: LiveServer, protocol: str) -> None:
    member, outsider = SignalRCore(hub_url(server), protocol), SignalRCore(hub_url(server), protocol)
    member.on("Receive")
    outsider.on("Receive")
    group = unique("room")
    with member, outsider:
        assert member.invoke("Join", group) == Completion(None, None)
        outsider.invoke("ToGroup", group, "hello members")
        assert member.next("Receive") == [f"group:{group}", "hello members"]
        outsider.invoke("ToCaller", "outsider")
        assert outsider.next("Receive") == ["caller", "outsider"]

        member.invoke("Leave", group)
        outsider.invoke("ToGroup", group, "after leaving")
        member.invoke("ToCaller", "member")
        assert member.next("Receive") == ["caller", "member"]


def test_exception_details_only_with_detailed_errors(server: LiveServer, protocol: str) -> None:
    with SignalRCore(hub_url(server), protocol) as client:
        completion = client.invoke("fail")
        assert completion == Completion(None, GENERIC_FAIL)
        assert "secret" not in (completion.error or "")
    with SignalRCore(hub_url(server, "hubs/detailed"), protocol) as client:
        assert client.invoke("fail") == Completion(None, f"{GENERIC_FAIL} ValueError: secret detail")


def test_hub_error_text_is_always_sent(server: LiveServer, protocol: str) -> None:
    for path in ("hubs/test", "hubs/detailed"):
        with SignalRCore(hub_url(server, path), protocol) as client:
            assert client.invoke("refuse") == Completion(None, REFUSED)


def test_unknown_method(server: LiveServer, protocol: str) -> None:
    with SignalRCore(hub_url(server), protocol) as client:
        assert client.invoke("nope") == Completion(None, UNKNOWN)
        assert client.invoke("Add", 1, 1) == Completion(2, None)  # the connection lives on


def test_server_to_client_stream(server: LiveServer, protocol: str) -> None:
    with SignalRCore(hub_url(server), protocol) as client:
        assert client.stream("Counter", 5) == ([0, 1, 2, 3, 4], Completion(None, None))
        assert client.stream("Counter", 0) == ([], Completion(None, None))


def test_server_close_fires_the_close_callback(server: LiveServer, protocol: str) -> None:
    client = SignalRCore(hub_url(server), protocol)
    watcher = SignalRCore(hub_url(server), protocol)
    watcher.on("Left")
    with client, watcher:
        connection_id = client.invoke("GetConnectionId").result
        client.send("Abort")
        client.wait_closed()
        # The server saw the connection go: its on_disconnected tells everyone. Connections
        # of earlier tests may still be leaving, so look for this one among them.
        left = [watcher.next("Left")]
        while left[-1] != [connection_id]:
            left.append(watcher.next("Left"))
        assert not watcher.closed.is_set()


# --- Server-Sent Events and long polling -------------------------------------------------
# JSON only: SSE carries text, and signalrcore's binary long-polling client cannot be
# constructed (its __init__ calls super() with the text client's class).

TRANSPORT_CLASSES = {"ServerSentEvents": "SSETransport", "LongPolling": "LongPollingTransport"}


@pytest.fixture(scope="module", params=["daphne", "uvicorn"])
def http_server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    """Like ``server``, with long polls that end after a second when there is nothing to send.

    signalrcore's long-polling client takes one message out of each poll response and
    keeps the rest buffered until another response arrives. A poll that returns two
    messages (a completion and a broadcast from another test's connection leaving) would
    otherwise hold the second for the default 90 s.
    """
    live = LiveServer(
        request.param,
        log_dir,
        env={
            "HUBS_TEST_DB": str(live_db),
            "HUBS_KEEP_ALIVE_INTERVAL": "2",
            "HUBS_CLIENT_TIMEOUT": "6",
            "HUBS_LONG_POLL_TIMEOUT": "1",
        },
    ).start()
    yield live
    live.stop()


@pytest.fixture(params=["ServerSentEvents", "LongPolling"])
def http_transport(request: pytest.FixtureRequest) -> str:
    return request.param


def test_invoke_over_http_transports(http_server: LiveServer, http_transport: str) -> None:
    with SignalRCore(hub_url(http_server), transport=http_transport) as client:
        # signalrcore falls back to WebSockets silently when negotiate does not offer the transport.
        assert type(client.connection.transport).__name__ == TRANSPORT_CLASSES[http_transport]
        assert client.invoke("Add", 1, 2) == Completion(3, None)
        assert client.invoke("refuse") == Completion(None, REFUSED)
        assert client.invoke("Add", 2, 2) == Completion(4, None)


def test_broadcast_over_http_transports(http_server: LiveServer, http_transport: str) -> None:
    """A message sent by a WebSocket connection reaches a client on an HTTP transport."""
    listener = SignalRCore(hub_url(http_server), transport=http_transport)
    listener.on("Receive")
    group = unique("http")
    with listener, SignalRCore(hub_url(http_server)) as sender:
        listener.invoke("Join", group)
        sender.invoke("ToGroup", group, "over http")
        assert listener.next("Receive") == [f"group:{group}", "over http"]


def test_stream_over_server_sent_events(http_server: LiveServer) -> None:
    with SignalRCore(hub_url(http_server), transport="ServerSentEvents") as client:
        assert client.stream("Counter", 3) == ([0, 1, 2], Completion(None, None))


def test_server_close_over_http_transports(http_server: LiveServer, http_transport: str) -> None:
    with SignalRCore(hub_url(http_server), transport=http_transport) as client:
        assert client.invoke("Add", 1, 2) == Completion(3, None)
        client.send("Abort")
        client.wait_closed()


# --- Authentication (last: the JWT middleware is the newest part) ------------------------


def test_user_addressed_messages_with_an_access_token(server: LiveServer, live_db: Path, protocol: str) -> None:
    """``access_token_factory`` puts ``Authorization: Bearer`` on negotiate and the WebSocket upgrade."""
    token = mint_access_token(live_db, "alice")
    alice = SignalRCore(hub_url(server), protocol, access_token=token)
    alice.on("Receive")
    with alice, SignalRCore(hub_url(server), protocol) as anonymous:
        alice_id = alice.invoke("Whoami").result
        assert alice_id is not None, "the access token did not authenticate the connection"
        assert anonymous.invoke("Whoami").result is None
        anonymous.invoke("ToUser", alice_id, "for alice")
        assert alice.next("Receive") == ["user", "for alice"]
        assert alice.invoke("Secret") == Completion("for members", None)
    assert token not in server.log(), "the server logged the bearer token"
