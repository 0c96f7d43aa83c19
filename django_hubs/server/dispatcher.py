"""Hub messages from one connection: invocations, streams both ways, cancellation, client results."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import itertools
import logging
import time
import weakref
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from .. import errors
from ..errors import HubError, InvalidDataError
from ..hub import HubMethod
from ..protocol.messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HubMessage,
    InvocationMessage,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)
from .aio import in_context
from .authorization import is_authorized
from .binding import BindingError, converter, mismatch_text
from .filtering import (
    InvocationContext,
    InvokeNext,
    LifetimeContext,
    chain_connected,
    chain_disconnected,
    chain_invoke,
    hub_filters,
    installed_filters,
)
from .metrics import hub_metrics
from .slots import InvocationSlots
from .threads import run_hub_method

if TYPE_CHECKING:
    from ..conf import HubOptions
    from ..hub import Hub
    from .outbox import Outbox


class HubConnection(Protocol):
    """What the dispatcher reads and does of its connection (``connection.HubConnection`` is one).

    A protocol, so that the connection can own its dispatcher without the two importing each other.
    """

    connection_id: str
    user: Any
    user_identifier: str | None
    options: HubOptions
    outbox: Outbox
    hub: Hub
    created: float
    received_ping: bool
    in_on_connected: bool
    close_reason: BaseException | None

    @property
    def endpoint(self) -> Any: ...

    @property
    def protocol(self) -> Any: ...

    @property
    def state(self) -> Any: ...

    def send(self, message: HubMessage) -> None: ...

    async def writable(self) -> None: ...

    def close_nowait(self, error: str | None = None, allow_reconnect: bool = False) -> None: ...


logger = logging.getLogger("django_hubs.dispatch")

#: Client-result ids are ``s1``, ``s2``, ... per process, as the official server's.
_client_result_ids = itertools.count(1)

#: The dispatcher whose invocation slot the running hub method holds (released while
#: it awaits a client result, so that the reply can be read).
_current_slot: contextvars.ContextVar[Dispatcher | None] = contextvars.ContextVar("django_hubs_slot", default=None)


def _weakly(dispatcher: Dispatcher) -> InvokeNext:
    """The innermost link of a released dispatcher's chain, holding the dispatcher weakly.

    Whoever still runs or queues an invocation holds the dispatcher, so the link finds it.
    """
    ref = weakref.ref(dispatcher)

    async def innermost(invocation: InvocationContext) -> Any:
        owner = ref()
        if owner is None:  # nothing held the dispatcher, so nothing could have called this
            raise ConnectionError("The underlying connection was closed.")
        return await owner._innermost(invocation)

    return innermost


class UploadStream:
    """A client-to-server stream, consumed by the hub method as an async iterator."""

    def __init__(self, stream_id: str, capacity: int) -> None:
        self.stream_id = stream_id
        self._capacity = max(1, capacity)
        self._items: deque[Any] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._ended = False
        self._error: BaseException | None = None

    async def put(self, item: Any) -> None:
        """Waits while the buffer is full: the connection stops reading (backpressure)."""
        while len(self._items) >= self._capacity and not self._ended:
            self._not_full.clear()
            await self._not_full.wait()
        if not self._ended:
            self._items.append(item)
            self._not_empty.set()

    def end(self, error: BaseException | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._error = error
            self._not_empty.set()
            self._not_full.set()

    def __aiter__(self) -> UploadStream:
        return self

    async def __anext__(self) -> Any:
        while not self._items:
            if self._ended:
                if self._error is not None:
                    # Raised once, then the upload is exhausted, as an async generator is after its
                    # error: kept, the error's traceback (its frames hold this upload) would be a cycle.
                    error, self._error = self._error, None
                    try:
                        raise error
                    finally:
                        del error  # nor in this frame, which its traceback holds
                raise StopAsyncIteration
            self._not_empty.clear()
            await self._not_empty.wait()
        item = self._items.popleft()
        self._not_full.set()
        return item

    def __repr__(self) -> str:
        return f"<UploadStream {self.stream_id}>"


#: Marks the ``ConnectionError`` that ends an upload whose client left (a plain one, so
#: that hub code sees the type it always saw).
_DISCONNECT_MARK = "_django_hubs_disconnect"


def upload_closed() -> ConnectionError:
    """A new exception for each upload: a shared one would grow its traceback at each re-raise."""
    exc = ConnectionError("The underlying connection was closed.")
    setattr(exc, _DISCONNECT_MARK, True)
    return exc


def ended_by_disconnect(exc: BaseException) -> bool:
    """``exc`` is, or was raised while handling, the end of an upload whose client left."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if getattr(current, _DISCONNECT_MARK, False):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


#: An invocation waiting for a slot: message, method, bound arguments, the context it was read in.
Queued = tuple[InvocationMessage, HubMethod, list[Any], contextvars.Context | None]


class Dispatcher:
    def __init__(self, connection: HubConnection) -> None:
        self.connection = connection
        self.hub = connection.hub
        self.hub_class = type(connection.hub)
        self.slots = InvocationSlots(connection.options.max_parallel_invocations, self._start_queued)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.streams: dict[str, asyncio.Task[Any]] = {}
        self.uploads: dict[str, UploadStream] = {}
        self.results: dict[str, asyncio.Future[Any]] = {}
        #: Async invocations a CancelInvocation can reach: the task running each, ``None`` until it starts.
        self.running: dict[str, asyncio.Task[Any] | None] = {}
        #: Ids of invocations and streams the client canceled that have not ended yet.
        self.canceled: set[str] = set()
        self.hub_path: str = connection.endpoint.path
        self.metrics = hub_metrics(self.hub_path)
        #: ``HUBS_FILTERS`` (or the hub's ``FILTERS`` in ``HUBS``), then the class's ``filters``.
        self.filters = (*installed_filters(), *connection.options.filters, *hub_filters(self.hub_class))
        chain = chain_invoke(self.filters, self._innermost)
        #: ``None`` when no filter wraps invocations: the hub method is called directly.
        self._invoke_chain = None if chain == self._innermost else chain

    @property
    def detailed(self) -> bool:
        return self.connection.options.detailed_errors

    async def dispatch(self, message: HubMessage) -> None:
        self.metrics.messages_in += 1
        if isinstance(message, InvocationMessage):
            await self._invocation(message)
        elif isinstance(message, StreamItemMessage):
            await self._stream_item(message)
        elif isinstance(message, CompletionMessage):
            self._completion(message)
        elif isinstance(message, StreamInvocationMessage):
            await self._stream_invocation(message)
        elif isinstance(message, CancelInvocationMessage):
            self._cancel(message.invocation_id)
        elif isinstance(message, PingMessage):
            self.connection.received_ping = True
        elif isinstance(message, CloseMessage):
            self.connection.close_reason = HubError(message.error) if message.error else None
            self.connection.close_nowait()
        elif isinstance(message, AckMessage | SequenceMessage):
            logger.debug("ignoring %s on %s: stateful reconnect is not active", message, self.connection)

    def _reply(self, invocation_id: str | None, message: CompletionMessage) -> None:
        if invocation_id is not None:
            self.connection.send(message)

    def _error(self, invocation_id: str | None, text: str) -> None:
        if invocation_id is not None:
            self.connection.send(CompletionMessage.with_error(invocation_id, text))

    # --- invocations ----------------------------------------------------------------

    async def _prepare(
        self, message: InvocationMessage | StreamInvocationMessage, streaming: bool
    ) -> tuple[HubMethod, list[Any]] | None:
        """Find, check and bind a method; on failure answer the client and return ``None``."""
        target, invocation_id = message.target, message.invocation_id
        method = self.hub_class.find_method(target)
        if method is None:
            logger.info("%s: unknown hub method %r", self.connection.connection_id, target)
            self.metrics.rejected(None)
            self._error(invocation_id, f"{errors.binding_failed(target)} HubException: {errors.METHOD_DOES_NOT_EXIST}")
            return None
        if method.is_stream and not streaming:
            self.metrics.rejected(method.name)
            self._error(invocation_id, errors.streaming_as_plain(target))
            return None
        if streaming and not method.is_stream:
            self.metrics.rejected(method.name)
            self._error(invocation_id, errors.plain_as_streaming(target))
            return None
        try:
            arguments = self._bind(method, message.arguments)
        except Exception as exc:  # whatever a value's own validation raises, it fails this call only
            logger.info("%s: cannot bind arguments of %r: %s", self.connection.connection_id, target, exc)
            self.metrics.rejected(method.name)
            self._error(invocation_id, errors.error_text(errors.binding_failed(target), exc, self.detailed))
            return None
        if (self.hub_class.authorization or method.requirements) and not await is_authorized(
            (*self.hub_class.authorization, *method.requirements), self.connection.user
        ):
            logger.info(
                "%s: refused %r for user %s", self.connection.connection_id, target, self.connection.user_identifier
            )
            self.metrics.rejected(method.name)
            self._error(invocation_id, errors.unauthorized(target))
            return None
        return self._open_streams(message, method, arguments, streaming)

    @staticmethod
    def _binders(method: HubMethod) -> tuple[tuple[int, Any], ...]:
        binders = method.binders
        if binders is None:
            untyped = (inspect.Parameter.empty, Any, object)
            binders = tuple(
                (i, None if method.hints[i] in untyped else converter(method.hints[i]))
                for i in range(len(method.hints))
                if i not in method.stream_parameters
            )
            method.untyped = all(convert is None for _, convert in binders)
            method.binders = binders
        return binders

    def _bind(self, method: HubMethod, values: list[Any]) -> list[Any]:
        count = len(values)
        expected = method.argument_count
        if (count > expected and not method.accepts_any_count) or count < method.required:
            raise InvalidDataError(f"Invocation provides {count} argument(s) but target expects {expected}.")
        binders = self._binders(method)
        if method.untyped:
            return list(values)
        bound = []
        for index, value in enumerate(values):
            if index >= len(binders):  # beyond the named parameters, into *args: untyped
                bound.append(value)
                continue
            position, convert = binders[index]
            if convert is None:
                bound.append(value)
                continue
            try:
                bound.append(convert(value))
            except BindingError as exc:
                text = mismatch_text(index + 1, method.parameters[position].name, exc)
                raise InvalidDataError(text) from None
        return bound

    async def _invocation(self, message: InvocationMessage) -> None:
        prepared = await self._prepare(message, streaming=False)
        if prepared is None:
            return
        method, arguments = prepared
        if message.invocation_id is not None and method.is_async:
            self.running[message.invocation_id] = None  # cancelable from now on
        if method.stream_parameters:  # it waits for its uploads: it must not hold a slot meanwhile
            self._spawn(self._run(message, method, arguments, takes_slot=False))
            return
        slots = self.slots
        if slots.take_nowait():
            self._spawn(self._runner((message, method, arguments, None)))
            return
        # In the context it was read in, as if it had a task of its own from now.
        slots.queue((message, method, arguments, contextvars.copy_context()))
        if slots.full:
            await self._wait_for_room()

    def _start_queued(self, invocation: Queued) -> None:
        self._spawn(self._runner(invocation))

    async def _runner(self, invocation: Queued | None) -> None:
        """Run invocations with one slot: this one, then those queued behind it.

        Queued ones run in this task, each in its own context: no task to create per
        invocation, and the results of methods that return at once pile up in the outbox
        and leave in one frame.
        """
        try:
            while invocation is not None:
                message, method, arguments, context = invocation
                run = self._run(message, method, arguments, takes_slot=True)
                await (run if context is None else in_context(context, run))
                invocation = self.slots.next_or_release()
        except BaseException:
            self.slots.release()
            raise

    async def _wait_for_room(self) -> None:
        """Stop reading this connection until queued invocations have started, or its transport ends.

        The transport's reader waits here, so it cannot see its peer leave; the transport's
        writer can (a failed send closes the outbox), and closing the outbox ends the wait.
        """
        outbox = self.connection.outbox
        if outbox.closed:
            return
        outbox.on_close = self.slots.open_room
        try:
            await self.slots.room()
        finally:
            outbox.on_close = None

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _call(self, method: HubMethod, arguments: list[Any]) -> Any:
        if method.is_async:
            return await method.function(self.hub, *arguments)
        return await run_hub_method(method.function, self.hub, *arguments)

    async def _start_stream(self, method: HubMethod, arguments: list[Any]) -> Any:
        """A streaming method's async iterator (not iterated yet)."""
        result = method.function(self.hub, *arguments)
        if inspect.isawaitable(result):
            result = await result
        return result

    async def _innermost(self, invocation: InvocationContext) -> Any:
        """The end of the filter chain: the hub method itself."""
        if invocation.streaming:
            return await self._start_stream(invocation.method, invocation.arguments)
        return await self._call(invocation.method, invocation.arguments)

    async def _invoke(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        streaming: bool,
    ) -> Any:
        """Call the hub method through the filters; without filters, directly."""
        chain = self._invoke_chain
        if chain is None:
            if streaming:
                return await self._start_stream(method, arguments)
            return await self._call(method, arguments)
        invocation = InvocationContext(
            self.hub, method, message.target, arguments, message.invocation_id, streaming, self.hub_path
        )
        invocation.headers = message.headers
        return await chain(invocation)

    async def _run(self, message: InvocationMessage, method: HubMethod, arguments: list[Any], takes_slot: bool) -> None:
        invocation_id = message.invocation_id
        #: The task to cancel on a CancelInvocation (none without an id, or for a sync method).
        task: asyncio.Task[Any] | None = None
        cancel_id = invocation_id or ""
        if invocation_id is not None and method.is_async:
            if invocation_id in self.canceled:  # canceled before it started: it does not start
                self._answer_canceled(message, method)
                return
            task = asyncio.current_task()
            self.running[invocation_id] = task
        token = _current_slot.set(self if takes_slot else None)
        started = time.perf_counter()
        failed = True
        try:
            if self._invoke_chain is None and method.is_async:  # the common case, one await less
                result = await method.function(self.hub, *arguments)
            else:
                result = await self._invoke(message, method, arguments, streaming=False)
        except asyncio.CancelledError:
            if task is None or not self._withdraw_cancel(cancel_id, task):
                raise
            logger.debug("%s: %r canceled by the client", self.connection.connection_id, message.target)
            self._error(invocation_id, errors.canceled(message.target, self.detailed))
        except Exception as exc:
            self._log_failure(message.target, exc)
            self._error(invocation_id, errors.error_text(errors.invoke_failed(message.target), exc, self.detailed))
        else:
            failed = False
            if invocation_id is not None:
                try:
                    self.connection.send(CompletionMessage.with_result(invocation_id, result))
                except (TypeError, ValueError, OverflowError) as exc:
                    failed = True
                    logger.error(
                        "%s: cannot serialise the result of %r: %s", self.connection.connection_id, message.target, exc
                    )
                    self._error(
                        invocation_id, errors.error_text(errors.invoke_failed(message.target), exc, self.detailed)
                    )
        finally:
            if task is not None:
                self._forget(cancel_id, task)
            self.metrics.invoked(method.name, time.perf_counter() - started, failed)
            _current_slot.reset(token)
            self._end_uploads(message.stream_ids)

    # --- cancellation -------------------------------------------------------------------

    def _cancel(self, invocation_id: str) -> None:
        """A CancelInvocation: stop that stream or hub method. Each still ends with its Completion.

        A stream's task that has not started is not canceled (it would end before it began,
        Completion included): it starts, sees its id in ``canceled`` and ends at once. An
        invocation waiting for a slot leaves the line; one started runs in a task that may
        run queued invocations after it, so its own ``CancelledError`` is caught in :meth:`_run`
        and the task goes on with the next one. Sync methods run in a thread and cannot be
        interrupted: they finish and answer as usual.
        """
        stream = self.streams.get(invocation_id)
        if stream is not None:
            coroutine = stream.get_coro()
            if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                self.canceled.add(invocation_id)
            else:
                stream.cancel()
            return
        if self.slots.queued:
            queued = self.slots.remove_queued(lambda invocation: invocation[0].invocation_id == invocation_id)
            if queued is not None:
                self.running.pop(invocation_id, None)
                self._answer_canceled(queued[0], queued[1])
                return
        if invocation_id in self.running and invocation_id not in self.canceled:
            self.canceled.add(invocation_id)
            task = self.running[invocation_id]
            if task is not None:
                task.cancel()
            return
        logger.debug("%s: cancel of %r ignored: nothing to cancel", self.connection.connection_id, invocation_id)

    def _answer_canceled(self, message: InvocationMessage, method: HubMethod) -> None:
        """The Completion of an invocation canceled before it started (it never runs)."""
        invocation_id = message.invocation_id
        if invocation_id is not None:
            self.canceled.discard(invocation_id)
            self.running.pop(invocation_id, None)
        logger.debug("%s: %r canceled before it started", self.connection.connection_id, message.target)
        self._error(invocation_id, errors.canceled(message.target, self.detailed))
        self.metrics.invoked(method.name, 0.0, True)
        self._end_uploads(message.stream_ids)

    def _withdraw_cancel(self, invocation_id: str, task: asyncio.Task[Any]) -> bool:
        """This ``CancelledError`` is the client's: take its request back from the task.

        ``False`` when something else canceled the task too (the connection, the server):
        that cancellation must go on.
        """
        if invocation_id not in self.canceled:
            return False
        self.canceled.discard(invocation_id)
        task.uncancel()
        return task.cancelling() == 0

    def _forget(self, invocation_id: str, task: asyncio.Task[Any]) -> None:
        if self.running.get(invocation_id) is task:
            del self.running[invocation_id]
        if invocation_id in self.canceled:  # the method caught the cancellation and returned
            self.canceled.discard(invocation_id)
            task.uncancel()

    def _log_failure(self, target: str, exc: BaseException) -> None:
        if ended_by_disconnect(exc):  # the client left: shutdown logged one line for all its uploads
            logger.debug("%s: %r ended with its connection", self.connection.connection_id, target)
        elif isinstance(exc, HubError):
            logger.info("%s: %r raised %s", self.connection.connection_id, target, errors.describe(exc))
        else:
            logger.error(
                "%s: hub method %r failed",
                self.connection.connection_id,
                target,
                exc_info=(type(exc), exc, exc.__traceback__),
            )

    # --- server-to-client streams -----------------------------------------------------

    async def _stream_invocation(self, message: StreamInvocationMessage) -> None:
        if message.invocation_id in self.streams:
            self._error(message.invocation_id, errors.id_in_use(message.invocation_id))
            return
        prepared = await self._prepare(message, streaming=True)
        if prepared is None:
            return
        method, arguments = prepared
        self.streams[message.invocation_id] = self._spawn(self._run_stream(message, method, arguments))

    async def _run_stream(self, message: StreamInvocationMessage, method: HubMethod, arguments: list[Any]) -> None:
        invocation_id = message.invocation_id
        error: str | None = None
        iterator: Any = None
        started = time.perf_counter()
        try:
            try:
                result = await self._invoke(message, method, arguments, streaming=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # before any stream exists: the official server's text for calls
                self._log_failure(message.target, exc)
                error = errors.error_text(errors.invoke_failed(message.target), exc, self.detailed)
            else:
                if not hasattr(result, "__aiter__"):
                    error = errors.not_a_stream(message.target)
                elif invocation_id in self.canceled:  # canceled before it started: started, then ended
                    iterator = result.__aiter__()
                    logger.debug("%s: stream %s canceled at once", self.connection.connection_id, invocation_id)
                else:
                    iterator = result.__aiter__()
                    async for item in iterator:
                        self.connection.send(StreamItemMessage(invocation_id, item))
                        await self.connection.writable()  # stateful reconnect's backpressure, as the official server
        except asyncio.CancelledError:
            logger.debug("%s: stream %s canceled", self.connection.connection_id, invocation_id)
        except Exception as exc:
            self._log_failure(message.target, exc)
            error = errors.error_text(errors.STREAM_FAILED, exc, self.detailed)
        finally:
            if iterator is not None and hasattr(iterator, "aclose"):
                try:
                    await iterator.aclose()
                except Exception:
                    logger.exception("%s: closing stream %s failed", self.connection.connection_id, invocation_id)
            self.streams.pop(invocation_id, None)
            self.canceled.discard(invocation_id)
            self._end_uploads(message.stream_ids)
            self.metrics.invoked(method.name, time.perf_counter() - started, error is not None)
        self.connection.send(CompletionMessage(invocation_id, error=error))

    # --- client-to-server streams -----------------------------------------------------

    @property
    def open_streams(self) -> int:
        """Server-to-client streams and uploads open now: what ``HUBS_MAX_STREAMS_PER_CONNECTION`` bounds."""
        return len(self.streams) + len(self.uploads)

    def _open_streams(
        self,
        message: InvocationMessage | StreamInvocationMessage,
        method: HubMethod,
        arguments: list[Any],
        streaming: bool,
    ) -> tuple[HubMethod, list[Any]] | None:
        """Give the method its uploads; refuse stream ids in use and streams past the connection's bound.

        Streams and uploads take no invocation slot (they may run for the life of the
        connection), so they have a bound of their own. A stream id in use is refused as an
        invocation id in use is: replacing the first upload would leave its method waiting forever.
        """
        target, invocation_id = message.target, message.invocation_id
        stream_ids = message.stream_ids or []
        if not streaming and not stream_ids and not method.stream_parameters:
            return method, arguments
        if len(stream_ids) != len(method.stream_parameters):
            self.metrics.rejected(method.name)
            mismatch = HubError(errors.stream_count_mismatch(len(stream_ids), len(method.stream_parameters)))
            self._error(invocation_id, errors.error_text(errors.invoke_failed(target), mismatch, self.detailed))
            return None
        seen: set[str] = set()
        for stream_id in stream_ids:
            if stream_id in self.uploads or stream_id in seen:
                logger.info("%s: stream id %r of %r is in use", self.connection.connection_id, stream_id, target)
                self.metrics.rejected(method.name)
                self._error(invocation_id, errors.stream_id_in_use(stream_id))
                return None
            seen.add(stream_id)
        limit = self.connection.options.max_streams_per_connection
        if self.open_streams + len(stream_ids) + streaming > limit:
            logger.info(
                "%s: refused %r: %d of %d streams open", self.connection.connection_id, target, self.open_streams, limit
            )
            self.metrics.rejected(method.name)
            self._error(invocation_id, errors.too_many_streams(target, limit))
            return None
        capacity = self.connection.options.stream_buffer_capacity
        for position, stream_id in zip(method.stream_parameters, stream_ids, strict=True):
            upload = UploadStream(stream_id, capacity)
            self.uploads[stream_id] = upload
            arguments.insert(position, upload)
        return method, arguments

    async def _stream_item(self, message: StreamItemMessage) -> None:
        upload = self.uploads.get(message.invocation_id)
        if upload is None:
            logger.debug("%s: item for unknown stream %r dropped", self.connection.connection_id, message.invocation_id)
            return
        await upload.put(message.item)

    def _end_uploads(self, stream_ids: list[str] | None, error: BaseException | None = None) -> None:
        for stream_id in stream_ids or ():
            upload = self.uploads.pop(stream_id, None)
            if upload is not None:
                upload.end(error)

    # --- completions: upload ends and client results --------------------------------------

    def _completion(self, message: CompletionMessage) -> None:
        upload = self.uploads.pop(message.invocation_id, None)
        if upload is not None:
            upload.end(HubError(message.error) if message.error else None)
            return
        future = self.results.get(message.invocation_id)
        if future is None or future.done():
            logger.debug(
                "%s: completion for unknown id %r ignored", self.connection.connection_id, message.invocation_id
            )
            return
        if message.error:
            future.set_exception(HubError(message.error))
        else:
            future.set_result(message.result)

    async def invoke_client(self, method: str, arguments: list[Any], timeout: float | None) -> Any:
        connection = self.connection
        if connection.in_on_connected:
            raise HubError("Client results inside on_connected are not allowed.")
        if connection.protocol is None or connection.state.value != "connected":
            raise HubError(f"Connection '{connection.connection_id}' disconnected.")
        if timeout is None:
            timeout = connection.options.client_result_timeout
        invocation_id = f"s{next(_client_result_ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.results[invocation_id] = future
        caller = _current_slot.get()
        try:
            connection.send(InvocationMessage(method, arguments, invocation_id))
            if caller is not None:
                caller.slots.release()
            try:
                return await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"Client '{connection.connection_id}' did not return a result for '{method}' within {timeout:g} s."
                ) from None
            finally:
                if caller is not None:
                    await caller.slots.take()
        finally:
            self.results.pop(invocation_id, None)

    # --- connect and disconnect, through the filters ---------------------------------------

    def release(self) -> None:
        """Once the connection has ended, rebuild the filter chain around a weak link to this dispatcher.

        The chain's innermost link was a bound method of this dispatcher, which holds the chain:
        a cycle only the cyclic GC frees. Invocations that still start (queued ones) go through
        the same filters as before.
        """
        if self._invoke_chain is not None:
            self._invoke_chain = chain_invoke(self.filters, _weakly(self))

    async def connected(self) -> None:
        """Run the hub's ``on_connected`` through the filters; exceptions propagate (they end the connection)."""
        self.metrics.connections_opened += 1
        chain = chain_connected(self.filters, self._on_connected)
        await chain(LifetimeContext(self.hub, self.hub_path))

    async def _on_connected(self, context: LifetimeContext) -> None:
        await self.hub.on_connected()

    async def disconnected(self, exception: BaseException | None) -> None:
        """Run the hub's ``on_disconnected`` through the filters; exceptions propagate (they are logged)."""
        self.metrics.closed(asyncio.get_running_loop().time() - self.connection.created, exception)
        chain = chain_disconnected(self.filters, self._on_disconnected)
        await chain(LifetimeContext(self.hub, self.hub_path), exception)

    async def _on_disconnected(self, context: LifetimeContext, exception: BaseException | None) -> None:
        await self.hub.on_disconnected(exception)

    # --- end of the connection ------------------------------------------------------------

    async def shutdown(self) -> None:
        dropped = self.slots.drop_queued()
        if dropped:
            logger.debug("%s: %d queued invocation(s) dropped", self.connection.connection_id, dropped)
        uploads = list(self.uploads)
        for stream_id in uploads:
            self._end_uploads([stream_id], upload_closed())
        if uploads:
            logger.info("%s: closed with %d upload(s) open", self.connection.connection_id, len(uploads))
        disconnected = HubError(f"Connection '{self.connection.connection_id}' disconnected.")
        for future in self.results.values():
            if not future.done():
                future.set_exception(disconnected)
        # Streams produce for this client only: stop them. Plain invocations finish (a hub
        # method may be half-way through a database write); their results go nowhere.
        streams = list(self.streams.values())
        for task in streams:
            task.cancel()
        if streams:
            await asyncio.gather(*streams, return_exceptions=True)
