"""Exceptions of the protocol layer.

``wire_name`` is the exception name the official server puts in error texts
(``... InvalidDataException: ...``), so clients see the same words from us.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .messages import HubMessage


class ProtocolError(Exception):
    """The peer sent bytes that are not a valid hub message: the connection must end.

    ``parsed`` holds the messages that came before the bad record in the same
    buffer. The official server dispatches each message before it parses the
    next, so the caller dispatches these before it fails the connection.
    """

    wire_name = "InvalidDataException"
    parsed: Sequence[HubMessage] = ()


class MessageTooLargeError(ProtocolError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The maximum message size of {limit}B was exceeded. "
            "The message size can be configured with HUBS_MAX_MESSAGE_SIZE."
        )
        self.limit = limit


class HandshakeError(Exception):
    """The handshake failed; ``str(self)`` is the text sent to the client."""
