"""The official Python clients, pysignalr (asyncio) and signalrcore (threads), made testable.

Both clients report through callbacks fired from their own machinery: a ``run()`` task
for pysignalr, reader threads for signalrcore. The wrappers here turn each callback into
an awaitable or a queue and bound every wait by ``WAIT`` seconds, so a server that
misbehaves fails a test instead of hanging it. Everything on the wire is the clients'
own doing; the wrappers only collect what the clients hand back.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pysignalr.client import SignalRClient
from pysignalr.messages import CompletionMessage as PyCompletion
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol
from signalrcore.hub.handlers import StreamHandler
from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.messages.stream_invocation_message import StreamInvocationMessage
from signalrcore.types import HttpTransportType, HubProtocolEncoding

from .live import PYTHON, ROOT

#: Seconds any single wait may take before the test fails.
WAIT = 10.0

PYSIGNALR_PROTOCOLS = {"json": JSONProtocol, "messagepack": MessagepackProtocol}
SIGNALRCORE_PROTOCOLS = {"json": HubProtocolEncoding.text, "messagepack": HubProtocolEncoding.binary}


@dataclass(frozen=True)
class Completion:
    """What an invocation ended with, whichever client reported it."""

    result: Any
    error: str | None


def mint_access_token(live_db: Path, username: str) -> str:
    """A simplejwt access token for ``username``, minted by Django in a subprocess.

    The test process has no database; the live server's SQLite file has the users.
    """
    script = (
        "from django.contrib.auth import get_user_model;"
        "from rest_framework_simplejwt.tokens import AccessToken;"
        f"print(AccessToken.for_user(get_user_model().objects.get(username={username!r})))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "HUBS_TEST_DB": str(live_db),
        "PYTHONPATH": str(ROOT),
    }
    completed = subprocess.run(
        [PYTHON, "-m", "django", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip().splitlines()[-1]


# --- pysignalr -------------------------------------------------------------------------


class PySignalR:
    """A pysignalr ``SignalRClient`` running in a task; use it as ``async with``.

    Register ``on``/``answer`` handlers before entering so that messages sent during
    the connect are not missed.
    """

    def __init__(self, url: str, protocol: str = "json", headers: dict[str, str] | None = None) -> None:
        # retry_count=1: a refused negotiate fails the run task at once instead of retrying.
        self.client = SignalRClient(url, protocol=PYSIGNALR_PROTOCOLS[protocol](), headers=headers, retry_count=1)
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self.inbox: dict[str, asyncio.Queue[list[Any]]] = {}
        #: Error completions, as the client's global error callback saw them.
        self.errors: list[PyCompletion] = []
        self.task: asyncio.Task[None] | None = None
        self.client.on_open(self._opened)
        self.client.on_close(self._closed)
        # Without an error callback pysignalr raises from its receive loop on any error completion.
        self.client.on_error(self._error)

    async def _opened(self) -> None:
        self.opened.set()

    async def _closed(self) -> None:
        self.closed.set()

    async def _error(self, message: PyCompletion) -> None:
        self.errors.append(message)

    def on(self, target: str) -> None:
        """Collect the arguments of every ``target`` invocation the server sends."""
        inbox = self.inbox.setdefault(target, asyncio.Queue())

        async def handler(arguments: list[Any]) -> None:
            inbox.put_nowait(arguments)

        self.client.on(target, handler)

    def answer(self, target: str, reply: Any) -> None:
        """Answer the server's ``target`` invocations (client results) with ``reply(*arguments)``."""

        async def handler(arguments: list[Any]) -> Any:
            return reply(*arguments)

        self.client.on(target, handler)

    async def next(self, target: str) -> list[Any]:
        """The arguments of the next ``target`` invocation received."""
        inbox = self.inbox[target]
        try:
            return await asyncio.wait_for(inbox.get(), WAIT)
        except TimeoutError:
            raise AssertionError(f"pysignalr received no {target!r} within {WAIT} s") from None

    async def invoke(self, method: str, *args: Any) -> Completion:
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()

        async def completed(message: PyCompletion) -> None:
            if not future.done():
                future.set_result(Completion(message.result, message.error))

        await self.client.send(method, list(args), on_invocation=completed)
        try:
            return await asyncio.wait_for(future, WAIT)
        except TimeoutError:
            raise AssertionError(f"pysignalr got no completion for {method!r} within {WAIT} s") from None

    async def send(self, method: str, *args: Any) -> None:
        """An invocation without an id: the server sends no completion."""
        await self.client.send(method, list(args))

    async def stream(self, method: str, *args: Any) -> tuple[list[Any], Completion]:
        """The items of a server-to-client stream and the completion that ends it."""
        items: list[Any] = []
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()

        async def on_next(item: Any) -> None:
            items.append(item)

        async def on_complete(message: PyCompletion) -> None:
            if not future.done():
                future.set_result(Completion(message.result, message.error))

        async def on_error(message: PyCompletion) -> None:
            if not future.done():
                future.set_result(Completion(None, message.error))

        await self.client.stream(method, list(args), on_next=on_next, on_complete=on_complete, on_error=on_error)
        try:
            return items, await asyncio.wait_for(future, WAIT)
        except TimeoutError:
            raise AssertionError(f"pysignalr's stream {method!r} did not complete within {WAIT} s") from None

    async def wait_closed(self) -> None:
        try:
            await asyncio.wait_for(self.closed.wait(), WAIT)
        except TimeoutError:
            raise AssertionError(f"pysignalr's close callback did not fire within {WAIT} s") from None

    async def __aenter__(self) -> PySignalR:
        self.task = asyncio.create_task(self.client.run())
        opened = asyncio.create_task(self.opened.wait())
        done, _ = await asyncio.wait({self.task, opened}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
        if opened not in done:
            opened.cancel()
            if self.task in done:
                self.task.result()  # the client's own exception says why it stopped
            await self.stop()
            raise AssertionError(f"pysignalr did not connect within {WAIT} s")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Cancel the client's task (pysignalr has no stop) and close its WebSocket.

        Cancelling leaves the socket open: pysignalr iterates websockets' ``connect()``
        generator, which closes the connection only when the event loop finalizes the
        abandoned generator, often after pytest-asyncio closed the loop. The unclosed
        transports are then garbage-collected at random points of later tests. So the
        socket is closed here, with its closing handshake.

        After a server-initiated close pysignalr reconnects with the old id, which the
        server refuses, and its task ends with that error: expected here, so not raised.
        """
        if self.task is None:
            return
        websocket = self.client._transport._ws
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, WAIT)
        self.task = None
        if websocket is not None:
            await asyncio.wait_for(websocket.close(), WAIT)


# --- signalrcore -----------------------------------------------------------------------


class Pending:
    """One awaited completion, set from a signalrcore thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.completion: Completion | None = None

    def set(self, result: Any, error: str | None) -> None:
        if not self.event.is_set():
            self.completion = Completion(result, error)
            self.event.set()

    def wait(self, what: str) -> Completion:
        if not self.event.wait(WAIT):
            raise AssertionError(f"signalrcore got no completion for {what!r} within {WAIT} s")
        assert self.completion is not None
        return self.completion


class SignalRCore:
    """A signalrcore hub connection; use it as ``with``.

    signalrcore reports error completions only to its global ``on_error`` callback, so
    errors are routed back to the waiting call by invocation id.
    """

    def __init__(
        self,
        url: str,
        protocol: str = "json",
        transport: str = "WebSockets",
        access_token: str | None = None,
    ) -> None:
        options: dict[str, Any] = {"transport": HttpTransportType(transport)}
        if access_token is not None:
            options["access_token_factory"] = lambda: access_token
        builder = HubConnectionBuilder().with_url(url, options=options)
        builder.with_hub_protocol(SIGNALRCORE_PROTOCOLS[protocol])
        self.connection = builder.build()
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.inbox: dict[str, queue.Queue[list[Any]]] = {}
        self.pending: dict[str, Pending] = {}
        #: Error completions nobody was waiting for.
        self.errors: list[Any] = []
        self.connection.on_open(self.opened.set)
        self.connection.on_close(self.closed.set)
        self.connection.on_error(self._error)

    def _error(self, message: Any) -> None:
        pending = self.pending.get(getattr(message, "invocation_id", None) or "")
        if pending is None:
            self.errors.append(message)
        else:
            pending.set(None, message.error)

    def on(self, target: str) -> None:
        inbox = self.inbox.setdefault(target, queue.Queue())
        self.connection.on(target, inbox.put)

    def next(self, target: str) -> list[Any]:
        try:
            return self.inbox[target].get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"signalrcore received no {target!r} within {WAIT} s") from None

    def invoke(self, method: str, *args: Any) -> Completion:
        invocation_id = str(uuid.uuid4())
        pending = self.pending[invocation_id] = Pending()
        self.connection.send(
            method,
            list(args),
            on_invocation=lambda message: pending.set(message.result, message.error),
            invocation_id=invocation_id,
        )
        return pending.wait(method)

    def send(self, method: str, *args: Any) -> None:
        """Fire and forget. signalrcore always sends an invocation id, so the server still completes it."""
        self.connection.send(method, list(args))

    def stream(self, method: str, *args: Any) -> tuple[list[Any], Completion]:
        """The items of a server-to-client stream and the completion that ends it.

        ``connection.stream(...).subscribe(...)`` sends before it subscribes, so a fast
        server's first items reach signalrcore's reader thread before any callback is
        set and are dropped. This does what ``stream`` does, in the safe order.
        """
        invocation_id = str(uuid.uuid4())
        pending = self.pending[invocation_id] = Pending()
        items: list[Any] = []
        handler = StreamHandler(method, invocation_id)
        handler.subscribe(
            {
                "next": items.append,
                "complete": lambda message: pending.set(message.result, message.error),
                "error": lambda message: pending.set(None, getattr(message, "error", None) or "canceled"),
            }
        )
        self.connection.stream_handlers[invocation_id].append(handler)
        message = StreamInvocationMessage(invocation_id, method, list(args), headers=self.connection.headers)
        self.connection.transport.send(message)
        return items, pending.wait(method)

    def wait_closed(self) -> None:
        if not self.closed.wait(WAIT):
            raise AssertionError(f"signalrcore's close callback did not fire within {WAIT} s")

    def __enter__(self) -> SignalRCore:
        self.connection.start()
        if not self.opened.wait(WAIT):
            self.stop()
            raise AssertionError(f"signalrcore did not connect within {WAIT} s")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop the connection without waiting for the server's next message.

        signalrcore closes its socket while its reader thread is blocked in ``recv`` on
        it, then joins that thread; on Linux closing does not wake ``recv``, so ``stop``
        would last until the server's next keep-alive ping. Shutting the socket down
        first wakes the reader, which then ends quietly because the client is closing.
        """
        transport = self.connection.transport
        client = getattr(transport, "_client", None)
        sock = getattr(client, "sock", None)
        if client is not None and isinstance(sock, socket.socket):
            dispose = client.dispose

            def shutdown_then_dispose() -> None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                dispose()

            client.dispose = shutdown_then_dispose
        if transport is not None:
            self.connection.stop()
            # When an SSE response ends in the same read as its last event, signalrcore
            # reports the close without stopping its keep-alive thread; stop it here.
            checker = getattr(transport, "connection_checker", None)
            if checker is not None and checker.running:
                checker.stop()


# --- shared by test_pysignalr.py and test_signalrcore.py ----------------------------------

GENERIC_FAIL = "An unexpected error occurred invoking 'fail' on the server."
REFUSED = "An unexpected error occurred invoking 'refuse' on the server. HubException: Room is full"
UNKNOWN = "Failed to invoke 'nope' due to an error on the server. HubException: Method does not exist."


def hub_url(server: Any, path: str = "hubs/test") -> str:
    return f"{server.url}/{path}"


def unique(name: str) -> str:
    """A group name no other test (on this module's shared server) uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"
