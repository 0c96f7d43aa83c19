"""Hubs the test suite drives, in process and over real sockets."""

from __future__ import annotations

import asyncio
import contextvars
import datetime
import gc
import threading
from collections.abc import AsyncIterator
from typing import Any

from django.contrib.auth import get_user_model

from django_hubs import Hub, HubError, authorize

events: list[tuple[str, Any]] = []
#: What streaming hub methods did, read back by ``stream_state`` (a test cannot see inside a
#: generator otherwise): whether a ``finally`` ran, which items an upload got, in which order.
stream_log: dict[str, Any] = {}
#: Gates that ``gated_upload`` waits on before it reads its stream; ``open_gate`` opens one.
gates: dict[str, asyncio.Event] = {}


#: Gates that the sync ``blocking_gate`` waits on, in its thread; a test opens them.
thread_gates: dict[str, threading.Event] = {}


#: Set by ``mark_context``: an invocation must never see what another one set.
marker: contextvars.ContextVar[str | None] = contextvars.ContextVar("marker", default=None)


class TestHub(Hub):
    async def on_connected(self) -> None:
        query = self.context.scope.get("query_string", b"").decode()
        if "fail_connect=1" in query:
            raise RuntimeError("on_connected secret")
        if "greet=1" in query:
            await self.clients.caller.send("Welcome", self.context.connection_id)

    async def on_disconnected(self, exception: BaseException | None) -> None:
        events.append(("disconnected", type(exception).__name__ if exception else None))
        await self.clients.all.send("Left", self.context.connection_id)

    async def echo(self, value: Any) -> Any:
        return value

    async def add(self, a: int, b: int) -> int:
        return a + b

    async def nothing(self) -> None:
        return None

    async def get_connection_id(self) -> str:
        return self.context.connection_id

    async def whoami(self) -> str | None:
        return self.context.user_identifier

    def count_users(self) -> int:
        """A sync method: it runs in a thread, so the ORM works."""
        return get_user_model().objects.count()

    async def send_message(self, user: str, message: str) -> None:
        await self.clients.all.send("ReceiveMessage", user, message)

    async def to_others(self, message: str) -> None:
        await self.clients.others.send("Receive", "others", message)

    async def to_caller(self, message: str) -> None:
        await self.clients.caller.send("Receive", "caller", message)

    async def to_connection(self, connection_id: str, message: str) -> None:
        await self.clients.client(connection_id).send("Receive", "client", message)

    async def to_connections(self, connection_ids: list[str], message: str) -> None:
        await self.clients.connections(connection_ids).send("Receive", "connections", message)

    async def to_all_except(self, connection_ids: list[str], message: str) -> None:
        await self.clients.all_except(connection_ids).send("Receive", "all_except", message)

    async def join(self, group: str) -> None:
        await self.groups.add(self.context.connection_id, group)

    async def leave(self, group: str) -> None:
        await self.groups.remove(self.context.connection_id, group)

    async def to_group(self, group: str, message: str) -> None:
        await self.clients.group(group).send("Receive", f"group:{group}", message)

    async def to_groups(self, groups: list[str], message: str) -> None:
        await self.clients.groups(groups).send("Receive", "groups", message)

    async def to_group_except(self, group: str, connection_ids: list[str], message: str) -> None:
        await self.clients.group_except(group, connection_ids).send("Receive", "group_except", message)

    async def to_others_in_group(self, group: str, message: str) -> None:
        await self.clients.others_in_group(group).send("Receive", "others_in_group", message)

    async def to_user(self, user_id: str, message: str) -> None:
        await self.clients.user(user_id).send("Receive", "user", message)

    async def to_users(self, user_ids: list[str], message: str) -> None:
        await self.clients.users(user_ids).send("Receive", "users", message)

    async def fail(self) -> None:
        raise ValueError("secret detail")

    async def refuse(self) -> None:
        raise HubError("Room is full")

    async def abort(self) -> None:
        await self.context.abort()

    async def sleep(self, seconds: float) -> float:
        await asyncio.sleep(seconds)
        return seconds

    async def probe(self, seconds: float) -> int:
        """How many probes of this connection run at once (for HUBS_MAX_PARALLEL_INVOCATIONS)."""
        running = self.context.items["running"] = self.context.items.get("running", 0) + 1
        await asyncio.sleep(seconds)
        self.context.items["running"] -= 1
        return running

    async def mark_context(self, mark: str, seconds: float) -> list[str | None]:
        """What ``marker`` held on entry and after a pause, having set it to ``mark``."""
        seen = [marker.get()]
        marker.set(mark)
        await asyncio.sleep(seconds)
        return [*seen, marker.get()]

    async def time_out(self, limit: float, seconds: float) -> str:
        """``asyncio.timeout`` inside a hub method: it must cancel this method, nothing else."""
        try:
            async with asyncio.timeout(limit):
                await asyncio.sleep(seconds)
        except TimeoutError:
            task = asyncio.current_task()
            return f"timed out, cancelling={task.cancelling() if task else None}"
        return "finished"

    async def start_numbers(self, count: int, delay: float) -> None:
        """Send ``Number(i)`` to the caller in the background, for the stateful-reconnect test."""

        async def numbers() -> None:
            for i in range(count):
                await self.clients.caller.send("Number", i)
                await asyncio.sleep(delay)

        self.context.items["numbers"] = asyncio.get_running_loop().create_task(numbers())

    async def record(self, value: int) -> None:
        self.context.items.setdefault("recorded", []).append(value)

    async def recorded(self) -> list[int]:
        return self.context.items.get("recorded", [])

    async def counter(self, count: int, delay: float = 0.0) -> AsyncIterator[int]:
        for i in range(count):
            yield i
            if delay:
                await asyncio.sleep(delay)

    async def padded(self, count: int, size: int) -> AsyncIterator[list[Any]]:
        """``[i, size bytes]`` items as fast as the connection takes them (stateful backpressure)."""
        pad = "x" * size
        for i in range(count):
            yield [i, pad]

    async def burst(self, group: str, count: int, size: int) -> None:
        """``count`` messages of ``size`` bytes to a group, in one go: a broadcast awaits no member."""
        pad = "x" * size
        for i in range(count):
            await self.clients.group(group).send("Receive", i, pad)

    async def upload_sum(self, numbers: AsyncIterator[int]) -> int:
        return sum([n async for n in numbers])

    async def ask_caller(self, question: str) -> Any:
        return await self.clients.caller.invoke("Ask", question, timeout=5)

    async def ask_client(self, connection_id: str, question: str) -> Any:
        return await self.clients.client(connection_id).invoke("Ask", question, timeout=5)

    @authorize
    async def secret(self) -> str:
        return "for members"

    @authorize(perms=["auth.delete_user"])
    async def moderate(self) -> str:
        return "moderated"

    # --- streaming and client results in depth (tests/test_streaming.py, test_js_matrix.py) ---

    async def failing_stream(self, count: int, hub_error: bool = False) -> AsyncIterator[int]:
        """``count`` items, then an exception: the client gets the items, then the error."""
        for i in range(count):
            yield i
        if hub_error:
            raise HubError("stream refused")
        raise ValueError("stream secret")

    async def stream_values(self, values: list[Any]) -> AsyncIterator[Any]:
        """Each value as one item, ``None`` included (a StreamItem must keep its ``item``)."""
        for value in values:
            yield value

    async def returned_stream(self, count: int) -> AsyncIterator[int]:
        """Not a generator: a coroutine that returns an async iterable, streamed just the same."""
        return self.stream_values(list(range(count)))

    async def not_a_stream(self) -> AsyncIterator[int]:
        return 42  # type: ignore[return-value]  # the mistake the server reports

    async def ticker(self, key: str, delay: float = 0.01) -> AsyncIterator[int]:
        """Counts until the client cancels; ``stream_state(key)`` shows that ``finally`` ran."""
        state = stream_log[key] = {"yielded": 0, "exit": None, "closed": False}
        try:
            while True:
                yield state["yielded"]
                state["yielded"] += 1
                await asyncio.sleep(delay)
        except BaseException as exc:
            state["exit"] = type(exc).__name__
            raise
        finally:
            state["closed"] = True

    async def stream_census(self) -> dict[str, int]:
        """Hub-method tasks and upload streams alive in this process, this call's own task aside.

        Counted from the event loop and the heap, not from the registry of connections: what a
        connection that has gone left behind must show too.
        """
        from django_hubs.server.dispatcher import Dispatcher, UploadStream

        runners = {Dispatcher._run.__qualname__, Dispatcher._runner.__qualname__, Dispatcher._run_stream.__qualname__}
        current = asyncio.current_task()
        gc.collect()  # an ended upload may sit in a reference cycle (its error's traceback) until then
        tasks = sum(
            1
            for task in asyncio.all_tasks()
            if task is not current and getattr(task.get_coro(), "__qualname__", None) in runners
        )
        uploads = sum(1 for item in gc.get_objects() if isinstance(item, UploadStream))
        return {"tasks": tasks, "uploads": uploads}

    def stream_fails_at_call(self, hub_error: bool) -> AsyncIterator[int]:
        """Declared to stream, but raises before it returns a stream."""
        if hub_error:
            raise HubError("no stream today")
        raise ValueError("call secret")

    async def next_day(self, when: datetime.datetime) -> datetime.datetime:
        """The same instant a day later, in UTC: a datetime written back to the client."""
        return (when + datetime.timedelta(days=1)).astimezone(datetime.UTC)

    async def wait_until_canceled(self, key: str) -> str:
        """Waits until the client cancels the invocation; ``stream_state(key)`` shows how it ended."""
        state = stream_log[key] = {"started": True, "exit": None}
        try:
            await asyncio.Event().wait()
        except BaseException as exc:
            state["exit"] = type(exc).__name__
            raise
        return "never"

    async def catch_cancel(self, key: str) -> str:
        """Catches the client's cancellation, awaits on, and answers anyway (cancellation is cooperative)."""
        stream_log[key] = "waiting"
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stream_log[key] = "caught"
        await asyncio.sleep(0.01)
        return "finished anyway"

    async def open_streams(self) -> int:
        """Server-to-client streams the server still holds open for this connection."""
        from django_hubs.server.endpoints import lifetime_for

        return len(lifetime_for(type(self)).connections[self.context.connection_id].dispatcher.streams)

    async def cancelling(self) -> int:
        """Cancellation requests pending on the task running this method (0 unless it is being canceled)."""
        task = asyncio.current_task()
        return task.cancelling() if task is not None else -1

    def blocking_gate(self, key: str) -> str:
        """A sync method, in a thread: waits for ``thread_gates[key]`` (set by the test)."""
        if not thread_gates.setdefault(key, threading.Event()).wait(10):
            raise TimeoutError(f"gate {key!r} was never opened")
        return "done"

    async def collector(self, enabled: bool) -> None:
        """Turn this process's cyclic GC on or off (tests/interop/test_gc_live.py)."""
        if enabled:
            gc.enable()
        else:
            gc.disable()

    async def cycles(self) -> dict[str, int]:
        """Objects only the cyclic GC would free, by type; then freed."""
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found: dict[str, int] = {}
            for item in gc.garbage:
                name = f"{type(item).__module__}.{type(item).__qualname__}"
                found[name] = found.get(name, 0) + 1
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        gc.collect()
        return found

    async def stream_state(self, key: str) -> Any:
        return stream_log.get(key)

    async def upload_pair(
        self, numbers: AsyncIterator[int], separator: str, words: AsyncIterator[str]
    ) -> dict[str, Any]:
        """Two upload streams and a plain argument in one invocation; the streams are read side by side."""

        async def total() -> int:
            return sum([n async for n in numbers])

        async def joined() -> str:
            return separator.join([w async for w in words])

        count, text = await asyncio.gather(total(), joined())
        return {"sum": count, "words": text}

    async def upload_record(self, key: str, items: AsyncIterator[Any]) -> list[Any]:
        """Records each item and how the upload ended, for uploads that end abnormally."""
        state = stream_log[key] = {"items": [], "end": None}
        try:
            async for item in items:
                state["items"].append(item)
        except Exception as exc:
            state["end"] = f"{type(exc).__name__}: {exc}"
            raise
        state["end"] = "completed"
        return state["items"]

    async def double_stream(self, numbers: AsyncIterator[int]) -> AsyncIterator[int]:
        """A server-to-client stream fed by a client-to-server stream."""
        async for n in numbers:
            yield n * 2

    async def gated_upload(self, key: str, numbers: AsyncIterator[int]) -> int:
        """Reads nothing until ``open_gate(key)``, so the upload buffer fills (backpressure)."""
        log = stream_log.setdefault(key, [])
        await gates.setdefault(key, asyncio.Event()).wait()
        total = 0
        async for n in numbers:
            log.append(["item", n])
            total += n
        return total

    async def open_gate(self, key: str) -> None:
        gates.setdefault(key, asyncio.Event()).set()

    async def note(self, key: str, value: Any) -> None:
        stream_log.setdefault(key, []).append(["note", value])

    async def connection_info(self) -> dict[str, Any]:
        """The transport and protocol under this connection, which hub code never needs otherwise."""
        return {"transport": self.context.transport, "protocol": self.context.protocol}

    async def try_ask(
        self, connection_id: str | None, method: str, argument: Any, timeout: float | None = None
    ) -> dict[str, Any]:
        """Ask a client (the caller when ``connection_id`` is None); report the value or the error seen.

        Without ``timeout`` the wait is ``HUBS_CLIENT_RESULT_TIMEOUT``.
        """
        target = self.clients.caller if connection_id is None else self.clients.client(connection_id)
        try:
            return {"result": await target.invoke(method, argument, timeout=timeout)}
        except Exception as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}


@authorize
class PrivateHub(Hub):
    async def whoami(self) -> str | None:
        return self.context.user_identifier
