"""The bytes waiting to go out on one connection, whatever its transport.

Writers append whole records; the transport takes everything buffered at once and
sends it as one unit (a WebSocket message, an SSE event, a long-poll response), as
the official server does. That batches bursts into few frames.
"""

from __future__ import annotations

import asyncio


class OutboxOverflow(Exception):
    """More bytes are waiting than ``limit`` allows: the peer is not reading."""


class Outbox:
    __slots__ = ("_chunks", "_ready", "_size", "binary", "closed", "limit")

    def __init__(self, limit: int | None = None) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._ready = asyncio.Event()
        self.limit = limit
        #: Frame type for WebSockets: fixed once the hub protocol is known.
        self.binary = False
        #: Set once nothing more will be put: the transport ends after the last bytes.
        self.closed = False

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

    def take_nowait(self) -> bytes:
        data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
        self._chunks.clear()
        self._size = 0
        if not self.closed:
            self._ready.clear()
        return data

    async def take(self) -> bytes | None:
        """Everything buffered, waiting for some; ``None`` once closed and drained."""
        while not self._chunks:
            if self.closed:
                return None
            await self._ready.wait()
        return self.take_nowait()

    async def wait(self, timeout: float) -> bool:
        """Whether bytes (or the close) arrived within ``timeout`` seconds."""
        if self._chunks or self.closed:
            return True
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True
