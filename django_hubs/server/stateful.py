"""Stateful reconnect (spec section 7): number messages both ways, replay what was not acknowledged.

Only trackable messages (types 1 to 5) are counted. The peer acknowledges what it processed
with Ack; after a dropped WebSocket the new socket starts with Sequence, then the
unacknowledged messages in order, and each side drops the duplicates it already processed.

The buffer size is a window, as in the official server: once ``limit`` bytes are sent and
not acknowledged, further messages are *held* (not yet numbered nor sent) until an Ack
makes room. Nobody awaits a slow client to append to it: a broadcast holds its copy and
moves on. What is held is bounded per connection (the caller's check) and across the
process (:data:`budget`, ``HUBS_STATEFUL_RECONNECT_TOTAL_BUFFER``).
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..protocol.errors import ProtocolError


class SequenceError(ProtocolError):
    def __init__(self) -> None:
        super().__init__("Sequence ID greater than amount of messages we've received.")


class Budget:
    """Bytes held for acknowledgements by every connection of this process."""

    __slots__ = ("used",)

    def __init__(self) -> None:
        self.used = 0


#: Shared by all connections: one peer that never acknowledges cannot take everyone's memory.
budget = Budget()


class MessageBuffer:
    __slots__ = (
        "_buffer",
        "_held",
        "acked_to_peer",
        "buffered_bytes",
        "held_bytes",
        "last_processed",
        "limit",
        "received",
        "room",
        "sent",
        "stalled_since",
    )

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Trackable messages sent over the life of the logical connection.
        self.sent = 0
        self._buffer: deque[tuple[int, bytes]] = deque()
        self.buffered_bytes = 0
        #: Messages waiting for the window to open, in order; not numbered yet.
        self._held: deque[bytes] = deque()
        self.held_bytes = 0
        #: Set while nothing is held: a stream producing for this connection waits on it.
        self.room = asyncio.Event()
        self.room.set()
        #: ``loop.time()`` since when messages are held with no Ack making room; ``None`` otherwise.
        self.stalled_since: float | None = None
        #: Trackable messages received (ids computed by counting, as the peer numbers them).
        self.received = 0
        self.last_processed = 0
        self.acked_to_peer = 0

    # --- output ---------------------------------------------------------------------

    @property
    def window_open(self) -> bool:
        """Whether a message may be sent now (as the official server: until more than ``limit`` waits)."""
        return not self._held and self.buffered_bytes <= self.limit

    def add(self, data: bytes) -> None:
        """Number ``data`` and keep it until acknowledged (it is being sent now)."""
        self.sent += 1
        self._buffer.append((self.sent, data))
        self.buffered_bytes += len(data)

    def hold(self, data: bytes, now: float) -> None:
        """Keep ``data`` until an Ack opens the window; the caller checks the bounds."""
        if not self._held:
            self.room.clear()
            if self.stalled_since is None:
                self.stalled_since = now
        self._held.append(data)
        self.held_bytes += len(data)
        budget.used += len(data)

    def acknowledge(self, sequence_id: int, now: float) -> list[bytes]:
        """The peer processed everything up to ``sequence_id``: forget it; return what may go out now."""
        buffer = self._buffer
        progress = False
        while buffer and buffer[0][0] <= sequence_id:
            self.buffered_bytes -= len(buffer.popleft()[1])
            progress = True
        released: list[bytes] = []
        held = self._held
        while held and self.buffered_bytes <= self.limit:
            data = held.popleft()
            self.held_bytes -= len(data)
            budget.used -= len(data)
            self.add(data)
            released.append(data)
        if not held:
            self.stalled_since = None
            self.room.set()
        elif progress:
            self.stalled_since = now  # progress: the wait for the next Ack starts again
        return released

    def discard(self) -> None:
        """The connection ended: give back what was held and wake whoever waits for room."""
        budget.used -= self.held_bytes
        self._held.clear()
        self.held_bytes = 0
        self.stalled_since = None
        self.room.set()

    def replay_from(self) -> int:
        """The Sequence id to announce: the oldest unacknowledged message, or the next one."""
        return self._buffer[0][0] if self._buffer else self.sent + 1

    def unacknowledged(self) -> list[bytes]:
        return [data for _, data in self._buffer]

    # --- input ----------------------------------------------------------------------

    def accept(self) -> bool:
        """Count one inbound trackable message; ``False`` if it was already processed."""
        self.received += 1
        if self.received <= self.last_processed:
            return False
        self.last_processed = self.received
        return True

    def restart_at(self, sequence_id: int) -> None:
        """The peer resends from ``sequence_id`` after a reconnect."""
        if sequence_id > self.received + 1:
            raise SequenceError()
        self.received = sequence_id - 1

    def ack_due(self) -> int | None:
        """The id to acknowledge, when messages were processed since the last Ack."""
        if self.last_processed > self.acked_to_peer:
            self.acked_to_peer = self.last_processed
            return self.last_processed
        return None
