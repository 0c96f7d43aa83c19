"""Stateful reconnect (spec section 7): number messages both ways, replay what was not acknowledged.

Only trackable messages (types 1 to 5) are counted. The peer acknowledges what it processed
with Ack; after a dropped WebSocket the new socket starts with Sequence, then the
unacknowledged messages in order, and each side drops the duplicates it already processed.
"""

from __future__ import annotations

from collections import deque

from ..protocol.errors import ProtocolError


class SequenceError(ProtocolError):
    def __init__(self) -> None:
        super().__init__("Sequence ID greater than amount of messages we've received.")


class MessageBuffer:
    __slots__ = ("_buffer", "acked_to_peer", "buffered_bytes", "last_processed", "limit", "received", "sent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Trackable messages sent over the life of the logical connection.
        self.sent = 0
        self._buffer: deque[tuple[int, bytes]] = deque()
        self.buffered_bytes = 0
        #: Trackable messages received (ids computed by counting, as the peer numbers them).
        self.received = 0
        self.last_processed = 0
        self.acked_to_peer = 0

    # --- output ---------------------------------------------------------------------

    def add(self, data: bytes) -> None:
        self.sent += 1
        self._buffer.append((self.sent, data))
        self.buffered_bytes += len(data)

    @property
    def over_limit(self) -> bool:
        return self.buffered_bytes > self.limit

    def acknowledge(self, sequence_id: int) -> None:
        """The peer processed everything up to ``sequence_id``: forget it."""
        buffer = self._buffer
        while buffer and buffer[0][0] <= sequence_id:
            self.buffered_bytes -= len(buffer.popleft()[1])

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
