"""Hub messages as typed values, independent of any wire format.

Field names follow the protocol's own names (``invocationId`` becomes
``invocation_id``); see specs/signalr-protocol.md section 4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

INVOCATION = 1
STREAM_ITEM = 2
COMPLETION = 3
STREAM_INVOCATION = 4
CANCEL_INVOCATION = 5
PING = 6
CLOSE = 7
ACK = 8
SEQUENCE = 9

#: Message types counted and buffered by stateful reconnect.
TRACKABLE_TYPES = frozenset({INVOCATION, STREAM_ITEM, COMPLETION, STREAM_INVOCATION, CANCEL_INVOCATION})


@dataclass(slots=True)
class InvocationMessage:
    type: ClassVar[int] = INVOCATION
    target: str
    arguments: list[Any]
    invocation_id: str | None = None
    stream_ids: list[str] | None = None
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class StreamInvocationMessage:
    type: ClassVar[int] = STREAM_INVOCATION
    invocation_id: str
    target: str
    arguments: list[Any]
    stream_ids: list[str] | None = None
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class StreamItemMessage:
    type: ClassVar[int] = STREAM_ITEM
    invocation_id: str
    item: Any
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class CompletionMessage:
    """``has_result`` separates "result is None" from "no result at all" (void)."""

    type: ClassVar[int] = COMPLETION
    invocation_id: str
    result: Any = None
    error: str | None = None
    has_result: bool = False
    headers: dict[str, str] | None = None

    @classmethod
    def with_result(cls, invocation_id: str, result: Any) -> CompletionMessage:
        return cls(invocation_id, result=result, has_result=True)

    @classmethod
    def with_error(cls, invocation_id: str, error: str) -> CompletionMessage:
        return cls(invocation_id, error=error)


@dataclass(slots=True)
class CancelInvocationMessage:
    type: ClassVar[int] = CANCEL_INVOCATION
    invocation_id: str
    headers: dict[str, str] | None = None


@dataclass(slots=True)
class PingMessage:
    type: ClassVar[int] = PING


@dataclass(slots=True)
class CloseMessage:
    type: ClassVar[int] = CLOSE
    error: str | None = None
    allow_reconnect: bool = False


@dataclass(slots=True)
class AckMessage:
    type: ClassVar[int] = ACK
    sequence_id: int


@dataclass(slots=True)
class SequenceMessage:
    type: ClassVar[int] = SEQUENCE
    sequence_id: int


HubMessage = (
    InvocationMessage
    | StreamInvocationMessage
    | StreamItemMessage
    | CompletionMessage
    | CancelInvocationMessage
    | PingMessage
    | CloseMessage
    | AckMessage
    | SequenceMessage
)

PING_MESSAGE = PingMessage()


@dataclass(slots=True)
class HandshakeRequest:
    protocol: str
    version: int


@dataclass(slots=True)
class Payload:
    """A message to many connections, encoded at most once per hub protocol."""

    message: HubMessage
    encoded: dict[str, bytes] = field(default_factory=dict)
