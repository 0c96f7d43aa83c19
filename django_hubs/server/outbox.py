"""The bytes waiting to go out on one connection, whatever its transport.

Writers append whole records; the transport takes everything buffered at once and
sends it as one unit (a WebSocket message, an SSE event, a long-poll response), as
the official server does. That batches bursts into few frames.

A peer that stops reading must not cost unbounded memory: ``limit`` bounds the bytes
waiting here, and the transport notes when a send started (``sending_since``) so that
a send the server's socket never completes is noticed (``HUBS_TRANSPORT_SEND_TIMEOUT``).
Either way the connection calls :meth:`Outbox.abort`, which drops what waits and has
the transport end at once instead of flushing to a peer that does not read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class TextRecord(bytes):
    """A record of a raw connection that goes out as a WebSocket text frame (plain ``bytes`` go as binary)."""

    __slots__ = ()


class OutboxOverflow(Exception):
    """More bytes are waiting than ``limit`` allows: the peer is not reading."""


class Outbox:
    __slots__ = (
        "_chunks",
        "_ready",
        "_size",
        "aborted",
        "binary",
        "closed",
        "framed",
        "limit",
        "on_abort",
        "on_close",
        "sending_since",
    )

    def __init__(self, limit: int | None = None) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._ready = asyncio.Event()
        self.limit = limit
        #: Frame type for WebSockets: fixed once the hub protocol is known.
        self.binary = False
        #: Each record is one message (raw connections): WebSockets and SSE send them one by one,
        #: a WebSocket frame text or binary as the record is a :class:`TextRecord` or not.
        self.framed = False
        #: Set once nothing more will be put: the transport ends after the last bytes.
        self.closed = False
        #: Set by :meth:`abort`: the transport ends without sending what is left.
        self.aborted = False
        #: The transport's way to stop a send that blocks and a read that waits, on abort.
        self.on_abort: Callable[[], None] | None = None
        #: Called once when the outbox closes: a reader waiting for an invocation slot gives up.
        self.on_close: Callable[[], None] | None = None
        #: ``loop.time()`` when the transport began sending a batch, ``None`` when idle.
        self.sending_since: float | None = None

    @property
    def size(self) -> int:
        return self._size

    def put(self, data: bytes) -> None:
        if self.closed:
            return
        if self.limit is not None and self._size + len(data) > self.limit:
            raise OutboxOverflow(f"{self._size + len(data)} bytes waiting, limit {self.limit}")
        self._chunks.append(data)
        self._size += len(data)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()

    def abort(self) -> None:
        """The peer is not reading: forget what waits and end the transport now."""
        if self.aborted:
            return
        self.aborted = True
        self._chunks.clear()
        self._size = 0
        self.close()
        if self.on_abort is not None:
            self.on_abort()

    def take_nowait(self, max_bytes: int | None = None) -> bytes:
        """What is buffered, whole records only: all of it, or as many as reach ``max_bytes`` (at least one)."""
        chunks = self._chunks
        if max_bytes is None or self._size <= max_bytes:
            count = len(chunks)
        else:
            count, total = 0, 0
            while total < max_bytes:
                total += len(chunks[count])
                count += 1
        data = chunks[0] if count == 1 else b"".join(chunks[:count])
        del chunks[:count]
        self._size -= len(data)
        if not chunks and not self.closed:
            self._ready.clear()
        return data

    async def take(self, max_bytes: int | None = None) -> bytes | None:
        """What is buffered (see :meth:`take_nowait`), waiting for some; ``None`` once closed and drained."""
        while not self._chunks:
            if self.closed:
                return None
            await self._ready.wait()
        return self.take_nowait(max_bytes)

    async def take_one(self) -> bytes | None:
        """The oldest record alone, waiting for one; ``None`` once closed and drained."""
        while not self._chunks:
            if self.closed:
                return None
            await self._ready.wait()
        data = self._chunks.pop(0)
        self._size -= len(data)
        if not self._chunks and not self.closed:
            self._ready.clear()
        return data

    async def wait(self, timeout: float) -> bool:
        """Whether bytes (or the close) arrived within ``timeout`` seconds."""
        if self._chunks or self.closed:
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True
