"""Hardening, in process: hostile frames, clients that stop reading, floods and bursts.

Each test drives the real WebSocket transport (Channels' ``WebsocketCommunicator``) or
Django's ASGI handler, so a hub connection runs exactly as under a server. What must
hold: no unhandled exception is logged, a bad frame gets the official server's answer
(a Completion error, or a Close with the error text), other connections never notice,
memory is bounded, and nothing a connected client was sent is lost. The same checks
over real sockets, under daphne and uvicorn, are in ``tests/interop/test_hardening.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.handlers.asgi import ASGIHandler
from django.test import RequestFactory, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_hubs import Hub
from django_hubs.server.connection import State
from django_hubs.server.endpoints import find_endpoint
from django_hubs.server.heartbeat import heartbeat
from django_hubs.server.outbox import Outbox, OutboxOverflow
from django_hubs.testing import HubClient, HubInvocationError
from django_hubs.transports.manager import manager
from django_hubs.transports.negotiate import negotiate
from django_hubs.transports.websocket import WebSocketTransport
from tests.conftest import ErrorRecords
from tests.interop.fuzz import (
    CLOSE_ERROR,
    PROBE_RESULT,
    Case,
    Records,
    close_of,
    completion_of,
    handshake,
    hostile_case,
    message_type,
    named_cases,
    probe,
)
from tests.testapp.hubs import events

HUB = "hubs/test"
PROTOCOLS = ["json", "messagepack"]

#: Error logs a hostile client may cause on purpose: a hub method that raised (``fail``).
EXPECTED_ERRORS = ("%s: hub method %r failed",)


def lifetime() -> Any:
    return find_endpoint(HUB).lifetime


# --- hostile input ----------------------------------------------------------------------


class Victim:
    """A raw connection to the hub: handshake done, then any frame, read record by record."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self.communicator = WebsocketCommunicator(WebSocketTransport(), "/" + HUB)
        self.records = Records(protocol, handshaken=True)
        self.messages: list[Any] = []
        self.closed = False

    async def open(self) -> Victim:
        connected, _ = await self.communicator.connect()
        assert connected
        await self.communicator.send_to(text_data=handshake(self.protocol).decode())
        data = await self._output(2)
        assert data is not None and data.startswith(b"{}\x1e"), data
        self.messages += self.records.feed(data[3:])
        return self

    async def send(self, data: bytes, binary: bool) -> None:
        if not binary:
            try:
                await self.communicator.send_input({"type": "websocket.receive", "text": data.decode("utf-8")})
                return
            except UnicodeDecodeError:
                pass  # in process a text frame is a str; a real server refuses invalid UTF-8 itself
        await self.communicator.send_input({"type": "websocket.receive", "bytes": data})

    async def _output(self, timeout: float) -> bytes | None:
        """The next frame's bytes; ``None`` once the server closed the socket."""
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed = True
            return None
        return output.get("bytes") or output.get("text", "").encode()

    async def outcome(self, ident: str, wait: float = 2.0) -> str:
        """``"answered"`` once the probe's Completion came, ``"closed"`` once the socket closed,
        ``"waiting"`` if the server is still reading a record the client left unfinished."""
        while True:
            if self.closed:
                return "closed"
            if any(message_type(m) == 3 and completion_of(m)[0] == ident for m in self.messages):
                return "answered"
            # receive_output would cancel the application on a timeout: look first.
            if await self.communicator.receive_nothing(wait, interval=0.005):
                return "waiting"
            data = await self._output(1)
            if data is not None:
                self.messages += self.records.feed(data)

    def closes(self) -> list[Any]:
        return [m for m in self.messages if message_type(m) == 7]

    async def finish(self) -> None:
        """The client's side of the closing handshake (or its own close); the app must end."""
        await self.communicator.disconnect(timeout=2)


async def run_case(case: Case, protocol: str) -> tuple[str, Victim]:
    """Send a case's frames, then a probe; a record left unfinished is completed with padding."""
    victim = await Victim(protocol).open()
    for data, binary in case.frames:
        await victim.send(data, binary)
    await victim.send(probe(protocol), protocol == "messagepack")
    outcome = await victim.outcome("probe", wait=0.3 if protocol == "messagepack" else 2.0)
    if outcome == "waiting":
        # A MessagePack length prefix promised more bytes than came: per spec the server
        # waits for them. Supply them (zeros are no valid record), then it must close.
        assert protocol == "messagepack", case
        await victim.send(b"\x00" * (40 * 1024), True)
        outcome = await victim.outcome("probe")
    return outcome, victim


def check_answer(outcome: str, victim: Victim) -> None:
    """Per spec: the probe answered, or a Close (with only the generic error text) came first."""
    assert outcome in ("answered", "closed"), outcome
    for close in victim.closes():
        assert close_of(close) in (None, CLOSE_ERROR), close  # no exception detail leaks
    if outcome == "answered":
        [answer] = [m for m in victim.messages if message_type(m) == 3 and completion_of(m)[0] == "probe"]
        assert completion_of(answer)[1] == PROBE_RESULT
    else:
        assert victim.closes(), "the socket closed without a Close message"


async def still_serving(good: HubClient) -> None:
    """The bystander connection still works, and the victim left nothing behind."""
    assert await good.invoke("echo", [1, "two"]) == [1, "two"]
    assert list(lifetime().connections) == [await good.invoke("get_connection_id")]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(rng=st.randoms(use_true_random=True))
async def test_random_and_mutated_frames(protocol: str, rng: random.Random, error_log: ErrorRecords) -> None:
    case = hostile_case(rng, protocol)
    async with HubClient(HUB) as good:
        outcome, victim = await run_case(case, protocol)
        check_answer(outcome, victim)
        await victim.finish()
        await still_serving(good)
    assert error_log.unexpected(EXPECTED_ERRORS) == [], case


@pytest.mark.parametrize(
    ("protocol", "case"),
    [(p, c) for p in PROTOCOLS for c in named_cases(p)],
    ids=[f"{p}-{c.name}" for p in PROTOCOLS for c in named_cases(p)],
)
async def test_named_hostile_input_gets_the_official_answer(protocol: str, case: Case, error_log: ErrorRecords) -> None:
    async with HubClient(HUB) as good:
        outcome, victim = await run_case(case, protocol)
        completions = [completion_of(m) for m in victim.messages if message_type(m) == 3]
        if case.expect == "close":
            assert outcome == "closed"
            [close] = victim.closes()
            assert close_of(close) == CLOSE_ERROR
            assert (close.get("allowReconnect") if isinstance(close, dict) else close[2]) is True
        elif case.expect == "silent":
            assert outcome == "answered"
            assert [c[0] for c in completions] == ["probe"]  # nothing answered the hostile frame
        else:
            assert outcome == "answered"
            assert completions[0][2] == case.expect
        await victim.finish()
        await still_serving(good)
    assert error_log.unexpected(EXPECTED_ERRORS) == []


class Mixed(Hub):
    async def broadcast(self, group: str, value: Any) -> None:
        await self.clients.group(group).send("Value", value)

    async def join(self, group: str) -> None:
        await self.groups.add(self.context.connection_id, group)


@override_settings(HUBS={"hubs/mixed": "tests.test_hardening.Mixed"})
async def test_a_value_one_protocol_cannot_write_reaches_everyone_else(error_log: ErrorRecords) -> None:
    """Regression: an int over 64 bits (fine in JSON, not in MessagePack) stopped the fan-out
    at the first MessagePack connection, so later connections silently missed the message."""
    clients = [HubClient("hubs/mixed", protocol=p) for p in ("json", "messagepack", "json", "json")]
    for client in clients:
        await client.connect()
        await client.invoke("join", "g")
    sender = clients[0]
    with pytest.raises(HubInvocationError):
        await sender.invoke("broadcast", "g", 2**70)
    for client in clients:
        if client.protocol.name == "json":
            assert (await client.receive("Value")).arguments == [2**70]
    await sender.invoke("broadcast", "g", "next")
    for client in clients:
        assert (await client.receive("Value")).arguments == ["next"]  # in order, nothing skipped
        await client.close()
    assert [r.msg for r in error_log.records] == ["%s: hub method %r failed"]


# --- clients that stop reading ------------------------------------------------------------


class StuckSocket:
    """The WebSocket transport with a server ``send`` that blocks after the handshake, as
    uvicorn's does (and daphne's through ``django_hubs.extras.daphne``) when the peer stops reading."""

    def __init__(self, protocol: str = "json") -> None:
        self.protocol = protocol
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.stuck = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> StuckSocket:
        scope = {"type": "websocket", "path": "/" + HUB, "query_string": b"", "headers": [], "subprotocols": []}
        self.task = asyncio.get_running_loop().create_task(WebSocketTransport()(scope, self.incoming.get, self.send))
        await self.incoming.put({"type": "websocket.connect"})
        await self.incoming.put({"type": "websocket.receive", "text": handshake(self.protocol).decode()})
        async with asyncio.timeout(2):
            while not any(m["type"] == "websocket.send" for m in self.sent):
                await asyncio.sleep(0.005)
        self.stuck.set()
        return self

    async def send(self, message: dict[str, Any]) -> None:
        if self.stuck.is_set():
            await asyncio.Event().wait()  # the socket buffer never drains
        self.sent.append(message)


def connection_of(stuck_count_before: int) -> Any:
    [connection] = list(lifetime().connections.values())[stuck_count_before:]
    return connection


async def test_a_client_that_stops_reading_is_disconnected_at_the_outgoing_bound(
    error_log: ErrorRecords, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 64 * 1024
    with override_settings(HUBS_MAX_OUTGOING_BUFFER=limit):
        async with HubClient(HUB) as sender, HubClient(HUB, protocol="messagepack") as reader:
            stuck = await StuckSocket().start()
            connection = connection_of(2)
            messages = 200
            payload = "x" * 1000
            warnings = Warnings()
            for i in range(messages):
                await sender.send("send_message", str(i), payload)
                assert connection.outbox.size <= limit  # bounded at every step
            async with asyncio.timeout(5):
                await stuck.task  # the transport ended by itself
            for i in range(messages):
                assert (await reader.receive("ReceiveMessage")).arguments == [str(i), payload]  # in order
            assert connection.state is State.CLOSED
            assert connection.connection_id not in lifetime().connections
            assert isinstance(connection.close_reason, OutboxOverflow)
            assert ("disconnected", "OutboxOverflow") in events
            assert warnings.lines == [f"closing {connection.connection_id}: the client is not reading"]
            warnings.close()
    assert error_log.unexpected(EXPECTED_ERRORS) == []


class Warnings(logging.Handler):
    """WARNING lines of django_hubs.connection, up to the first parenthesis."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []
        logging.getLogger("django_hubs.connection").addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().split(" (")[0])

    def close(self) -> None:
        logging.getLogger("django_hubs.connection").removeHandler(self)
        super().close()


@override_settings(HUBS_TRANSPORT_SEND_TIMEOUT=0.3, HUBS_HANDSHAKE_TIMEOUT=0.4)
async def test_a_send_that_never_completes_ends_the_connection(error_log: ErrorRecords) -> None:
    """Little traffic never reaches the outgoing bound: the send timeout catches that client."""
    async with HubClient(HUB) as sender:
        stuck = await StuckSocket().start()
        connection = connection_of(1)
        warnings = Warnings()
        await sender.invoke("send_message", "u", "one message")
        async with asyncio.timeout(5):
            await stuck.task
        warnings.close()
        assert warnings.lines == [f"closing {connection.connection_id}: the client is not reading"]
        assert "did not complete within 0.3 s" in str(connection.close_reason)
        assert connection.connection_id not in lifetime().connections
        assert await sender.invoke("echo", 1) == 1
    assert error_log.unexpected(EXPECTED_ERRORS) == []


def test_an_aborted_outbox_drops_what_waits() -> None:
    async def run() -> None:
        outbox = Outbox(limit=10)
        outbox.put(b"12345")
        with pytest.raises(OutboxOverflow):
            outbox.put(b"123456")
        called = []
        outbox.on_abort = lambda: called.append(True)
        outbox.abort()
        outbox.abort()
        assert (outbox.size, outbox.closed, called) == (0, True, [True])
        assert await outbox.take() is None
        outbox.put(b"late")
        assert outbox.size == 0

    asyncio.run(run())


async def request(method: str, path: str, query: str = "", body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request through Django's ASGI handler, scope as a server builds it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    inputs = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if inputs:
            return inputs.pop()
        await asyncio.Event().wait()
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(ASGIHandler()(scope, receive, send), 5)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def long_poll_connection() -> tuple[str, str]:
    """Negotiate, start long polling, hand-shake; the client then never polls again."""
    status, body = await request("POST", f"/{HUB}/negotiate", "negotiateVersion=1")
    assert status == 200
    negotiated = json.loads(body)
    token = negotiated["connectionToken"]
    assert (await request("GET", f"/{HUB}", f"id={token}"))[0] == 200  # the first poll starts it
    assert (await request("POST", f"/{HUB}", f"id={token}", handshake("json")))[0] == 200
    return token, negotiated["connectionId"]


@override_settings(HUBS_MAX_OUTGOING_BUFFER=32 * 1024, HUBS_DISCONNECT_TIMEOUT=0.5, HUBS_HANDSHAKE_TIMEOUT=0.4)
async def test_a_long_poll_client_that_stops_polling(error_log: ErrorRecords) -> None:
    token, connection_id = await long_poll_connection()
    record = manager.get(token)
    connection = record.connection
    async with HubClient(HUB) as sender:
        warnings = Warnings()
        for i in range(60):
            await sender.send("send_message", str(i), "y" * 1000)
            assert connection.outbox.size <= 32 * 1024
        await sender.invoke("nothing")
        assert connection.state is State.CLOSING, (connection.close_reason, connection.outbox.size)
        assert warnings.lines == [f"closing {connection_id}: the client is not reading"]
        warnings.close()
        async with asyncio.timeout(5):
            while manager.get(token) is not None or connection.state is not State.CLOSED:
                await asyncio.sleep(0.05)  # reaped after HUBS_DISCONNECT_TIMEOUT
        assert connection_id not in lifetime().connections
        assert (await request("GET", f"/{HUB}", f"id={token}"))[0] == 404
        assert await sender.invoke("echo", 2) == 2
    assert error_log.unexpected(EXPECTED_ERRORS) == []


# --- floods -----------------------------------------------------------------------------


@override_settings(HUBS_HANDSHAKE_TIMEOUT=0.3)
async def test_sockets_that_never_handshake_are_closed(error_log: ErrorRecords) -> None:
    count = 200
    sockets = [WebsocketCommunicator(WebSocketTransport(), "/" + HUB) for _ in range(count)]
    for communicator in sockets:
        assert (await communicator.connect())[0]
    assert len(heartbeat.connections) >= count
    for communicator in sockets:
        answer = await communicator.receive_output(3)
        assert json.loads(answer["text"].rstrip("\x1e")) == {"error": "Handshake was canceled."}
        assert (await communicator.receive_output(1))["type"] == "websocket.close"
        await communicator.disconnect()
    assert not [c for c in heartbeat.connections if c.endpoint.path == HUB]
    assert not lifetime().connections
    assert error_log.unexpected(EXPECTED_ERRORS) == []


@override_settings(HUBS_DISCONNECT_TIMEOUT=1.5, HUBS_HANDSHAKE_TIMEOUT=0.4)
async def test_unused_negotiations_expire() -> None:
    """The negotiate view itself (the live test goes through HTTP and middleware)."""
    count = 2000
    factory = RequestFactory()
    tokens = set()
    for _ in range(count):
        response = await negotiate(factory.post(f"/{HUB}/negotiate?negotiateVersion=1"), HUB)
        tokens.add(json.loads(response.content)["connectionToken"])
    assert len(tokens & manager.records.keys()) == count
    async with asyncio.timeout(5):
        while tokens & manager.records.keys():  # each expires HUBS_DISCONNECT_TIMEOUT after its negotiate
            await asyncio.sleep(0.05)


# --- bursts -----------------------------------------------------------------------------


async def test_a_burst_reaches_every_client_in_order() -> None:
    clients = [HubClient(HUB, protocol=PROTOCOLS[i % 2]) for i in range(100)]
    for client in clients:
        await client.connect()
        await client.invoke("join", "burst")
    sender = clients[0]
    messages = 200
    for i in range(messages):
        await sender.send("to_group", "burst", str(i))
    for client in clients:
        received = [(await client.receive("Receive")).arguments for _ in range(messages)]
        assert received == [["group:burst", str(i)] for i in range(messages)]
    for client in clients:
        await client.close()


async def test_a_websocket_batch_is_whole_records_up_to_about_max_batch():
    # daphne never delivered a 1 MB batch to the JS client: the writer takes ~64 KiB at a time.
    from django_hubs.transports.websocket import MAX_BATCH

    outbox = Outbox()
    for i in range(100):
        outbox.put(bytes([i % 256]) * 1000)
    batches = []
    while outbox.size:
        batches.append(outbox.take_nowait(MAX_BATCH))
    assert all(len(batch) % 1000 == 0 for batch in batches)  # never a record cut in two
    assert [len(b) for b in batches] == [MAX_BATCH // 1000 * 1000 + 1000, 100_000 - (MAX_BATCH // 1000 * 1000 + 1000)]
    assert b"".join(batches) == b"".join(bytes([i % 256]) * 1000 for i in range(100))
    outbox.put(b"y" * (2 * MAX_BATCH))  # one record larger than a batch goes alone
    assert len(outbox.take_nowait(MAX_BATCH)) == 2 * MAX_BATCH
