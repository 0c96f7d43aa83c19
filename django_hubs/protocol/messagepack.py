"""The ``messagepack`` hub protocol: MessagePack arrays, each prefixed by a VarInt length.

Layouts are those of spec section 5.4; values go through the ``msgpack`` library,
with the timestamp extension (-1) mapped to timezone-aware ``datetime``.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import MessageTooLargeError, ProtocolError
from .json import INT32, INT64, to_jsonable
from .messages import (
    ACK,
    CANCEL_INVOCATION,
    CLOSE,
    COMPLETION,
    INVOCATION,
    PING,
    SEQUENCE,
    STREAM_INVOCATION,
    STREAM_ITEM,
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

ERROR_RESULT = 1
VOID_RESULT = 2
NON_VOID_RESULT = 3

MAX_VARINT_LENGTH = 0x7FFFFFFF


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return to_jsonable(value)


def write_varint(length: int) -> bytes:
    out = bytearray()
    while True:
        byte = length & 0x7F
        length >>= 7
        if length:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(buffer: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """``(length, offset of the body)``, or ``None`` while the prefix is still incomplete."""
    length = 0
    shift = 0
    for index in range(5):
        if offset + index >= len(buffer):
            return None
        byte = buffer[offset + index]
        if index == 4 and byte > 0x07:
            raise ProtocolError("Messages bigger than 2GB are not supported.")
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return length, offset + index + 1
    raise ProtocolError("Messages bigger than 2GB are not supported.")  # pragma: no cover


def _str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"Reading '{name}' as String failed.")
    return value


def _int(value: Any, name: str, bounds: range) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value not in bounds:
        kind = "Int32" if bounds is INT32 else "Int64"
        raise ProtocolError(f"Reading '{name}' as {kind} failed.")
    return value


def _non_empty(value: Any, name: str, what: str) -> str:
    """The .NET reader's check: a string that is neither nil nor empty."""
    if value is not None and not isinstance(value, str):
        raise ProtocolError(f"Reading '{name}' as String failed.")
    if not value:
        raise ProtocolError(f"Null or empty {what}.")
    return value


def _id(value: Any, message: str) -> str:
    return _non_empty(value, "invocationId", f"invocation ID for {message} message")


def _headers(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict):
        raise ProtocolError("Reading map length for 'headers' failed.")
    for key, item in value.items():
        _non_empty(key, "headers.Key", "key in header")
        _non_empty(item, "headers.Value", "value in header")
    return value or None


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ProtocolError(f"Reading '{name}' as Array failed.")
    return value


def _stream_ids(body: list[Any]) -> list[str] | None:
    if len(body) < 6 or body[5] is None:
        return None
    ids = _list(body[5], "streamIds")
    for stream_id in ids:
        _non_empty(stream_id, "streamIds", "value in streamIds received")
    return ids or None


def _need(body: list[Any], count: int, name: str) -> None:
    if len(body) < count:
        raise ProtocolError(f"Invalid payload for {name} message.")


def message_from_array(body: Any) -> HubMessage | None:
    if not isinstance(body, list) or not body:
        raise ProtocolError("Message is not a non-empty MessagePack array.")
    kind = _int(body[0], "messageType", INT32)
    if kind == INVOCATION:
        _need(body, 5, "Invocation")
        invocation_id = body[2]
        if invocation_id is not None and not isinstance(invocation_id, str):
            raise ProtocolError("Reading 'invocationId' as String failed.")
        return InvocationMessage(
            target=_non_empty(body[3], "target", "target for Invocation message"),
            arguments=_list(body[4], "arguments"),
            invocation_id=invocation_id or None,
            stream_ids=_stream_ids(body),
            headers=_headers(body[1]),
        )
    if kind == STREAM_INVOCATION:
        _need(body, 5, "StreamInvocation")
        return StreamInvocationMessage(
            invocation_id=_id(body[2], "StreamInvocation"),
            target=_non_empty(body[3], "target", "target for StreamInvocation message"),
            arguments=_list(body[4], "arguments"),
            stream_ids=_stream_ids(body),
            headers=_headers(body[1]),
        )
    if kind == STREAM_ITEM:
        _need(body, 4, "StreamItem")
        return StreamItemMessage(_id(body[2], "StreamItem"), body[3], headers=_headers(body[1]))
    if kind == COMPLETION:
        _need(body, 4, "Completion")
        invocation_id = _id(body[2], "Completion")
        result_kind = _int(body[3], "resultKind", INT32)
        headers = _headers(body[1])
        if result_kind == ERROR_RESULT:
            _need(body, 5, "Completion")
            # A nil error reads as a void completion, as in the .NET reader.
            error = body[4] if body[4] is None else _str(body[4], "error")
            return CompletionMessage(invocation_id, error=error, headers=headers)
        if result_kind == VOID_RESULT:
            return CompletionMessage(invocation_id, headers=headers)
        if result_kind == NON_VOID_RESULT:
            _need(body, 5, "Completion")
            return CompletionMessage(invocation_id, result=body[4], has_result=True, headers=headers)
        raise ProtocolError("Invalid invocation result kind.")
    if kind == CANCEL_INVOCATION:
        _need(body, 3, "CancelInvocation")
        return CancelInvocationMessage(_id(body[2], "CancelInvocation"), headers=_headers(body[1]))
    if kind == PING:
        return PingMessage()
    if kind == CLOSE:
        _need(body, 2, "Close")
        error = body[1]
        if error is not None and not isinstance(error, str):
            raise ProtocolError("Reading 'error' as String failed.")
        allow = body[2] if len(body) > 2 else False
        if not isinstance(allow, bool):
            raise ProtocolError("Reading 'allowReconnect' as Boolean failed.")
        return CloseMessage(error, allow)
    if kind in (ACK, SEQUENCE):
        _need(body, 2, "Ack" if kind == ACK else "Sequence")
        sequence_id = _int(body[1], "sequenceId", INT64)
        return AckMessage(sequence_id) if kind == ACK else SequenceMessage(sequence_id)
    return None


def message_to_array(message: HubMessage) -> list[Any]:
    if isinstance(message, InvocationMessage):
        return [
            INVOCATION,
            message.headers or {},
            message.invocation_id or None,
            message.target,
            message.arguments,
            message.stream_ids or [],
        ]
    if isinstance(message, StreamItemMessage):
        return [STREAM_ITEM, message.headers or {}, message.invocation_id, message.item]
    if isinstance(message, CompletionMessage):
        head = [COMPLETION, message.headers or {}, message.invocation_id]
        if message.error:
            return [*head, ERROR_RESULT, message.error]
        if message.has_result:
            return [*head, NON_VOID_RESULT, message.result]
        return [*head, VOID_RESULT]
    if isinstance(message, PingMessage):
        return [PING]
    if isinstance(message, CloseMessage):
        return [CLOSE, message.error or None, message.allow_reconnect]
    if isinstance(message, AckMessage | SequenceMessage):
        return [message.type, message.sequence_id]
    if isinstance(message, StreamInvocationMessage):
        return [
            STREAM_INVOCATION,
            message.headers or {},
            message.invocation_id,
            message.target,
            message.arguments,
            message.stream_ids or [],
        ]
    return [CANCEL_INVOCATION, message.headers or {}, message.invocation_id]


class MessagePackHubProtocol:
    name = "messagepack"
    version = 2
    transfer_format = "Binary"
    binary = True

    def parse(self, buffer: bytearray, max_size: int | None) -> list[HubMessage]:
        """Take every complete record out of ``buffer``; an incomplete tail stays in it.

        ``max_size`` counts the length prefix too, as the .NET server does. The check
        runs as soon as the prefix is complete, so a huge declared length fails at once
        instead of being buffered.
        """
        messages: list[HubMessage] = []
        offset = 0
        try:
            while offset < len(buffer):
                prefix = read_varint(buffer, offset)
                if prefix is None:
                    break
                length, start = prefix
                if length == 0:
                    raise ProtocolError("Invalid payload.")
                if max_size is not None and start - offset + length > max_size:
                    raise MessageTooLargeError(max_size)
                end = start + length
                if end > len(buffer):
                    break
                message = self.decode(bytes(buffer[start:end]))
                if message is not None:
                    messages.append(message)
                offset = end
        except ProtocolError as exc:
            exc.parsed = messages
            raise
        finally:
            del buffer[:offset]
        return messages

    def decode(self, body: bytes) -> HubMessage | None:
        try:
            value = msgpack.unpackb(body, raw=False, strict_map_key=False, timestamp=3)
        # OverflowError: a timestamp beyond the years datetime can hold.
        except (ValueError, msgpack.UnpackException, RecursionError, TypeError, OverflowError) as exc:
            raise ProtocolError(f"Error reading MessagePack: {exc.__class__.__name__}.") from None
        return message_from_array(value)

    def encode(self, message: HubMessage) -> bytes:
        body = msgpack.packb(message_to_array(message), default=_default, datetime=True, use_bin_type=True)
        return write_varint(len(body)) + body
