"""The ``json`` hub protocol: UTF-8 JSON records, each ended by the record separator 0x1E.

Records are read and written with ``orjson`` (several times faster than ``json``; measured
in bench/). Where ``orjson`` would give a different answer than the standard library,
the standard library decides, so what a client sees never depends on which one ran:
integers beyond 64 bits (``orjson`` reads them as floats, and cannot write them), nesting
deep enough that ``json`` refuses it, NaN and infinities (``orjson`` writes ``null``), and
every error (its text comes from the ``json`` path).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import json
import math
import re
import uuid
from typing import Any

import orjson

from .errors import MessageTooLargeError, ProtocolError
from .messages import (
    ACK,
    CANCEL_INVOCATION,
    CLOSE,
    COMPLETION,
    INVOCATION,
    PING,
    PING_MESSAGE,
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

INT32 = range(-(2**31), 2**31)
INT64 = range(-(2**63), 2**63)

#: ``\uD800``-``\uDFFF`` escapes: the only way a JSON text can carry a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

#: 19 digits in a row may be an integer beyond 64 bits, which ``orjson`` would read as a
#: float. Looked for by mapping every byte to "0" (a digit) or " " and searching for 19
#: zeros: five times cheaper than a regular expression.
_DIGITS_AS_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGITS = b"0" * 19

#: Arrays and objects nest at most this deep. The standard library's own limit depends on the
#: Python version (3.11 stops near 1,000 levels, 3.13 goes past 10,000) and orjson's is 1,024:
#: an explicit one answers every record the same on every Python, far from either.
MAX_DEPTH = 512
TOO_DEEP = f"Error reading JSON: the message nests deeper than {MAX_DEPTH} levels."
#: Strings, whose brackets do not nest anything; linear (a string ends at its first unescaped quote).
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")


def _check_depth(record: bytes) -> None:
    """``ProtocolError`` for a record nested deeper than :data:`MAX_DEPTH`; costs two counts for most records."""
    if record.count(b"[") + record.count(b"{") <= MAX_DEPTH:
        return
    depth = 0
    for byte in _STRING.sub(b"", record).translate(None, _NOT_BRACKETS):
        if byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                raise ProtocolError(TOO_DEEP)
        else:
            depth -= 1


#: datetime, date and time go to :func:`to_jsonable` (``isoformat``), as with ``json``:
#: ``orjson`` would drop the seconds of a UTC offset.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME

_NO_OFFSET = datetime.timedelta(0)


def to_jsonable(value: Any) -> Any:
    """Fallback for values ``json`` cannot write: the conventions of the .NET JSON protocol."""
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
        # UTC as System.Text.Json writes it: "Z", not "+00:00".
        return text[:-6] + "Z" if value.utcoffset() == _NO_OFFSET else text
    if isinstance(value, datetime.date | datetime.time):
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


def _reject_constant(name: str) -> Any:
    # Python reads NaN and Infinity, JSON has neither: echoing one back would break JSON.parse.
    raise ProtocolError(f"Error reading JSON: '{name}' is not a JSON value.")


def _finite_float(text: str) -> float:
    # 1e400 reads as infinity, which could not be written back either (see allow_nan below).
    value = float(text)
    if value in (math.inf, -math.inf):
        raise ProtocolError(f"Error reading JSON: '{text}' is out of range.")
    return value


# allow_nan=False: a NaN result raises ValueError (a Completion error) instead of writing
# a token that no JSON client can read.
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=to_jsonable, allow_nan=False)
_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _has_lone_surrogate(value: Any) -> bool:
    """A ``str`` that cannot be written as UTF-8 again, anywhere in a decoded value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
    return False


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
    return headers or None


def _stream_ids(obj: dict[str, Any]) -> list[str] | None:
    ids = _optional(obj, "streamIds", list, "Array")
    if ids is not None and not all(isinstance(i, str) for i in ids):
        raise ProtocolError("Expected 'streamIds' to be an array of strings.")
    return ids or None


def _non_empty(obj: dict[str, Any], key: str) -> str:
    """A required string where null and "" count as missing, as in the .NET reader."""
    value = _optional(obj, key, str, "String")
    if not value:
        raise ProtocolError(f"Missing required property '{key}'.")
    return value


def _invocation_id(obj: dict[str, Any]) -> str:
    return _non_empty(obj, "invocationId")


def _sequence_id(obj: dict[str, Any]) -> int:
    value = _require(obj, "sequenceId", int, "Number")
    if value not in INT64:
        raise ProtocolError("Expected 'sequenceId' to be an Int64.")
    return value


def message_from_dict(obj: Any) -> HubMessage | None:
    """Validate one decoded record; ``None`` for message types this server does not know."""
    if type(obj) is dict:
        # Fast path for what clients send most: a plain invocation and a ping. Anything
        # unusual (headers, streams, a wrong type) takes the full checks below.
        kind = obj.get("type")
        if kind == INVOCATION and type(kind) is int and "streamIds" not in obj and "headers" not in obj:
            target = obj.get("target")
            arguments = obj.get("arguments")
            invocation_id = obj.get("invocationId")
            if (
                type(target) is str
                and target
                and type(arguments) is list
                and (invocation_id is None or type(invocation_id) is str)
            ):
                return InvocationMessage(target, arguments, invocation_id or None)
        elif kind == PING and type(kind) is int:
            return PING_MESSAGE
    if not isinstance(obj, dict):
        raise ProtocolError("Expected a JSON object.")
    kind = _require(obj, "type", int, "Number")
    if kind not in INT32:
        raise ProtocolError("Expected 'type' to be of type Number.")
    if kind == INVOCATION:
        return InvocationMessage(
            target=_non_empty(obj, "target"),
            arguments=_require(obj, "arguments", list, "Array"),
            invocation_id=_optional(obj, "invocationId", str, "String") or None,
            stream_ids=_stream_ids(obj),
            headers=_headers(obj),
        )
    if kind == STREAM_INVOCATION:
        return StreamInvocationMessage(
            invocation_id=_invocation_id(obj),
            target=_non_empty(obj, "target"),
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
        return AckMessage(_sequence_id(obj))
    if kind == SEQUENCE:
        return SequenceMessage(_sequence_id(obj))
    return None


def message_to_dict(message: HubMessage) -> dict[str, Any]:
    """The .NET server's field order; optional fields only when set (spec 5.1)."""
    obj: dict[str, Any] = {"type": message.type}
    if isinstance(message, InvocationMessage):
        if message.headers:
            obj["headers"] = message.headers
        if message.invocation_id:
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
        """Take every complete record out of ``buffer``; an incomplete tail stays in it.

        ``max_size`` counts the record with its separator, as the .NET server does; a
        tail that already reaches it cannot end in time, so it fails without waiting.
        """
        messages: list[HubMessage] = []
        start = 0
        try:
            while True:
                end = buffer.find(RECORD_SEPARATOR, start)
                if end < 0:
                    if max_size is not None and len(buffer) - start >= max_size:
                        raise MessageTooLargeError(max_size)
                    break
                if max_size is not None and end + 1 - start > max_size:
                    raise MessageTooLargeError(max_size)
                message = self.decode(bytes(buffer[start:end]))
                if message is not None:
                    messages.append(message)
                start = end + 1
        except ProtocolError as exc:
            exc.parsed = messages
            raise
        finally:
            del buffer[:start]
        return messages

    def decode(self, record: bytes) -> HubMessage | None:
        _check_depth(record)
        if _LONG_DIGITS not in record.translate(_DIGITS_AS_ZERO):
            try:
                return message_from_dict(orjson.loads(record))
            except orjson.JSONDecodeError:
                pass  # the standard library says what is wrong, in the same words as always
        return self._decode_exactly(record)

    def _decode_exactly(self, record: bytes) -> HubMessage | None:
        _check_depth(record)
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("Message is not valid UTF-8.") from None
        try:
            obj = _decoder.decode(text)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"Error reading JSON: {exc.__class__.__name__}.") from None
        if _SURROGATE_ESCAPE.search(record) and _has_lone_surrogate(obj):
            raise ProtocolError("Error reading JSON: a string holds an unpaired surrogate.")
        return message_from_dict(obj)

    def encode(self, message: HubMessage) -> bytes:
        obj = message_to_dict(message)
        try:
            data = orjson.dumps(obj, default=to_jsonable, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError included: big ints, non-str keys, deep nesting
            pass
        else:
            if b"null" not in data:  # orjson writes NaN and infinities as null; json refuses them
                return data + RECORD_SEPARATOR
        return _encoder.encode(obj).encode("utf-8") + RECORD_SEPARATOR
