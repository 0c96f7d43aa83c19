"""The ``json`` hub protocol: UTF-8 JSON records, each ended by the record separator 0x1E."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import uuid
from typing import Any

from .errors import MessageTooLargeError, ProtocolError
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

RECORD_SEPARATOR = b"\x1e"


def to_jsonable(value: Any) -> Any:
    """Fallback for values ``json`` cannot write: the conventions of the .NET JSON protocol."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=to_jsonable)
_decoder = json.JSONDecoder()


def _require(obj: dict[str, Any], key: str, kind: type, kind_name: str) -> Any:
    try:
        value = obj[key]
    except KeyError:
        raise ProtocolError(f"Missing required property '{key}'.") from None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"Expected '{key}' to be of type {kind_name}.")
    return value


def _optional(obj: dict[str, Any], key: str, kind: type, kind_name: str) -> Any:
    value = obj.get(key)
    if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
        raise ProtocolError(f"Expected '{key}' to be of type {kind_name}.")
    return value


def _headers(obj: dict[str, Any]) -> dict[str, str] | None:
    headers = obj.get("headers")
    if headers is None:
        return None
    if not isinstance(headers, dict):
        raise ProtocolError("Expected 'headers' to be of type Object.")
    for key, value in headers.items():
        if not isinstance(value, str):
            raise ProtocolError(f"Expected header '{key}' to be of type String.")
    return headers


def _stream_ids(obj: dict[str, Any]) -> list[str] | None:
    ids = _optional(obj, "streamIds", list, "Array")
    if ids is not None and not all(isinstance(i, str) for i in ids):
        raise ProtocolError("Expected 'streamIds' to be an array of strings.")
    return ids or None


def _invocation_id(obj: dict[str, Any]) -> str:
    value = _require(obj, "invocationId", str, "String")
    if not value:
        raise ProtocolError("Expected 'invocationId' to be a non-empty string.")
    return value


def message_from_dict(obj: Any) -> HubMessage | None:
    """Validate one decoded record; ``None`` for message types this server does not know."""
    if not isinstance(obj, dict):
        raise ProtocolError("Expected a JSON object.")
    kind = _require(obj, "type", int, "Number")
    if kind == INVOCATION:
        return InvocationMessage(
            target=_require(obj, "target", str, "String"),
            arguments=_require(obj, "arguments", list, "Array"),
            invocation_id=_optional(obj, "invocationId", str, "String") or None,
            stream_ids=_stream_ids(obj),
            headers=_headers(obj),
        )
    if kind == STREAM_INVOCATION:
        return StreamInvocationMessage(
            invocation_id=_invocation_id(obj),
            target=_require(obj, "target", str, "String"),
            arguments=_require(obj, "arguments", list, "Array"),
            stream_ids=_stream_ids(obj),
            headers=_headers(obj),
        )
    if kind == STREAM_ITEM:
        if "item" not in obj:
            raise ProtocolError("Missing required property 'item'.")
        return StreamItemMessage(_invocation_id(obj), obj["item"], headers=_headers(obj))
    if kind == COMPLETION:
        invocation_id = _invocation_id(obj)
        error = _optional(obj, "error", str, "String")
        if error is not None and "result" in obj:
            raise ProtocolError("The 'error' and 'result' properties are mutually exclusive.")
        return CompletionMessage(
            invocation_id,
            result=obj.get("result"),
            error=error,
            has_result="result" in obj,
            headers=_headers(obj),
        )
    if kind == CANCEL_INVOCATION:
        return CancelInvocationMessage(_invocation_id(obj), headers=_headers(obj))
    if kind == PING:
        return PingMessage()
    if kind == CLOSE:
        allow = _optional(obj, "allowReconnect", bool, "Boolean")
        return CloseMessage(_optional(obj, "error", str, "String"), bool(allow))
    if kind == ACK:
        return AckMessage(_require(obj, "sequenceId", int, "Number"))
    if kind == SEQUENCE:
        return SequenceMessage(_require(obj, "sequenceId", int, "Number"))
    return None


def message_to_dict(message: HubMessage) -> dict[str, Any]:
    """The .NET server's field order; optional fields only when set (spec 5.1)."""
    obj: dict[str, Any] = {"type": message.type}
    if isinstance(message, InvocationMessage):
        if message.headers:
            obj["headers"] = message.headers
        if message.invocation_id is not None:
            obj["invocationId"] = message.invocation_id
        obj["target"] = message.target
        obj["arguments"] = message.arguments
        if message.stream_ids:
            obj["streamIds"] = message.stream_ids
    elif isinstance(message, StreamItemMessage):
        if message.headers:
            obj["headers"] = message.headers
        obj["invocationId"] = message.invocation_id
        obj["item"] = message.item
    elif isinstance(message, CompletionMessage):
        if message.headers:
            obj["headers"] = message.headers
        obj["invocationId"] = message.invocation_id
        if message.error:
            obj["error"] = message.error
        elif message.has_result:
            obj["result"] = message.result
    elif isinstance(message, CloseMessage):
        if message.error is not None:
            obj["error"] = message.error
        if message.allow_reconnect:
            obj["allowReconnect"] = True
    elif isinstance(message, AckMessage | SequenceMessage):
        obj["sequenceId"] = message.sequence_id
    elif isinstance(message, StreamInvocationMessage | CancelInvocationMessage):
        # Clients send these; the server only writes them in tests and tools.
        if message.headers:
            obj["headers"] = message.headers
        obj["invocationId"] = message.invocation_id
        if isinstance(message, StreamInvocationMessage):
            obj["target"] = message.target
            obj["arguments"] = message.arguments
            if message.stream_ids:
                obj["streamIds"] = message.stream_ids
    return obj


class JsonHubProtocol:
    name = "json"
    version = 2
    transfer_format = "Text"
    binary = False

    def parse(self, buffer: bytearray, max_size: int | None) -> list[HubMessage]:
        """Take every complete record out of ``buffer``; an incomplete tail stays in it."""
        messages: list[HubMessage] = []
        start = 0
        while True:
            end = buffer.find(RECORD_SEPARATOR, start)
            if end < 0:
                if max_size is not None and len(buffer) - start > max_size:
                    raise MessageTooLargeError(max_size)
                break
            if max_size is not None and end - start > max_size:
                raise MessageTooLargeError(max_size)
            message = self.decode(bytes(buffer[start:end]))
            if message is not None:
                messages.append(message)
            start = end + 1
        del buffer[:start]
        return messages

    def decode(self, record: bytes) -> HubMessage | None:
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("Message is not valid UTF-8.") from None
        try:
            obj = _decoder.decode(text)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"Error reading JSON: {exc.__class__.__name__}.") from None
        return message_from_dict(obj)

    def encode(self, message: HubMessage) -> bytes:
        return _encoder.encode(message_to_dict(message)).encode("utf-8") + RECORD_SEPARATOR
