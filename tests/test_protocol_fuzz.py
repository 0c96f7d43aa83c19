"""Properties of the protocol layer over generated input (hypothesis).

* Whatever the server can write, it reads back unchanged, in both protocols.
* Records split anywhere and batched freely parse to the same messages.
* Arbitrary bytes, fed in arbitrary chunks, either parse or raise ``ProtocolError``;
  no other exception may escape, because the transport would crash instead of
  closing the connection with an error.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_hubs.protocol.errors import MessageTooLargeError, ProtocolError
from django_hubs.protocol.handshake import HandshakeFormatError, parse_handshake
from django_hubs.protocol.json import RECORD_SEPARATOR, JsonHubProtocol
from django_hubs.protocol.messagepack import MessagePackHubProtocol, read_varint, write_varint
from django_hubs.protocol.messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    HandshakeRequest,
    InvocationMessage,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)

JSON = JsonHubProtocol()
MSGPACK = MessagePackHubProtocol()
BOTH = pytest.mark.parametrize("protocol", [JSON, MSGPACK], ids=["json", "messagepack"])

FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)

# --- values and messages ---------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    INT64,
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
#: What a JSON payload can hold; MessagePack holds all of it too.
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)
ids = st.text(min_size=1, max_size=8)
names = st.text(min_size=1, max_size=12)
# Empty header maps and stream lists are written as absent, so they read back as None.
headers = st.none() | st.dictionaries(names, names, min_size=1, max_size=3)
stream_ids = st.none() | st.lists(ids, min_size=1, max_size=3)
arguments = st.lists(json_values, max_size=4)

messages = st.one_of(
    st.builds(
        InvocationMessage,
        target=names,
        arguments=arguments,
        invocation_id=st.none() | ids,
        stream_ids=stream_ids,
        headers=headers,
    ),
    st.builds(
        StreamInvocationMessage,
        invocation_id=ids,
        target=names,
        arguments=arguments,
        stream_ids=stream_ids,
        headers=headers,
    ),
    st.builds(StreamItemMessage, invocation_id=ids, item=json_values, headers=headers),
    st.builds(CompletionMessage, invocation_id=ids, result=json_values, has_result=st.just(True), headers=headers),
    st.builds(CompletionMessage, invocation_id=ids, error=names, headers=headers),
    st.builds(CompletionMessage, invocation_id=ids, headers=headers),
    st.builds(CancelInvocationMessage, invocation_id=ids, headers=headers),
    st.just(PingMessage()),
    st.builds(CloseMessage, error=st.none() | names, allow_reconnect=st.booleans()),
    st.builds(AckMessage, sequence_id=INT64),
    st.builds(SequenceMessage, sequence_id=INT64),
)


def same(a: Any, b: Any) -> bool:
    """Equality that also tells ``True`` from ``1``, ``1.0`` from ``1`` and ``-0.0`` from ``0.0``."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b


def chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def feed(protocol, data: bytes, cuts: list[int], max_size: int | None):
    """Feed ``data`` in pieces as a connection would: until the first protocol error."""
    buffer = bytearray()
    received: list = []
    for chunk in chunks(data, cuts):
        buffer += chunk
        try:
            received += protocol.parse(buffer, max_size)
        except ProtocolError as exc:
            return received + list(exc.parsed), type(exc)
        assert_incomplete_tail(protocol, buffer, max_size)
    return received, None


def assert_incomplete_tail(protocol, buffer: bytearray, max_size: int | None) -> None:
    """What parse leaves behind is never a complete record."""
    if protocol is JSON:
        assert RECORD_SEPARATOR not in buffer
        assert max_size is None or len(buffer) < max_size
        return
    prefix = read_varint(buffer, 0)
    if prefix is not None:
        length, start = prefix
        assert start + length > len(buffer)
        assert max_size is None or start + length <= max_size


# --- round trips -----------------------------------------------------------------------


@BOTH
@FAST
@given(message=messages)
def test_what_the_server_writes_it_reads_back(protocol, message):
    data = protocol.encode(message)
    buffer = bytearray(data)
    (parsed,) = protocol.parse(buffer, len(data))
    assert buffer == b""
    assert same(parsed, message), (parsed, message)
    assert protocol.encode(parsed) == data
    if protocol is JSON:
        assert data.index(RECORD_SEPARATOR) == len(data) - 1


@BOTH
@FAST
@given(target=names, args=arguments, invocation_id=st.none() | ids)
def test_arbitrary_arguments_round_trip(protocol, target, args, invocation_id):
    message = InvocationMessage(target, args, invocation_id=invocation_id)
    (parsed,) = protocol.parse(bytearray(protocol.encode(message)), None)
    assert same(parsed, message)


@BOTH
@FAST
@given(batch=st.lists(messages, min_size=1, max_size=6), cuts=st.lists(st.integers(min_value=0), max_size=12))
def test_records_split_anywhere_and_batched(protocol, batch, cuts):
    frames = [protocol.encode(m) for m in batch]
    data = b"".join(frames)
    cuts = [c % (len(data) + 1) for c in cuts]
    # The limit is the largest record: every record fits exactly, however it arrives.
    received, error = feed(protocol, data, cuts, max(len(f) for f in frames))
    assert error is None
    assert len(received) == len(batch)
    assert all(same(a, b) for a, b in zip(received, batch, strict=True))


# --- fuzz: hub protocols ---------------------------------------------------------------

FIELDS = [
    "type",
    "target",
    "arguments",
    "invocationId",
    "item",
    "result",
    "error",
    "headers",
    "streamIds",
    "sequenceId",
    "allowReconnect",
]
small_types = st.integers(min_value=-1, max_value=11)
loose_values = st.one_of(small_types, json_values, st.lists(st.text(max_size=3), max_size=3))

json_shaped = st.dictionaries(st.sampled_from(FIELDS), loose_values, max_size=6).map(
    lambda obj: json.dumps(obj).encode() + RECORD_SEPARATOR
)
json_fragments = st.sampled_from(
    [
        b"\x1e",
        b"{",
        b"}",
        b"[",
        b'"\\ud800"',
        b"NaN",
        b'{"type":',
        b'"type":1',
        b"\xff",
        b"\xc3",
        b'{"type":6}',
        b"[" * 3000,
        b"1" * 5000,
    ]
)
msgpack_shaped = st.lists(
    st.one_of(small_types, loose_values, st.dictionaries(st.text(max_size=3), loose_values, max_size=3)),
    max_size=7,
).map(lambda body: write_varint(len(packed := msgpack.packb(body))) + packed)
msgpack_fragments = st.sampled_from(
    [
        b"\x00",
        b"\x80",
        b"\xff\xff\xff\xff\x07",
        b"\xff\xff\xff\xff\x08",
        b"\x02\x91\x06",
        b"\x01\xc1",
        b"\x06\x94\x02\x80\xa1\x31\xd6",
        b"\x0a\x94\x02\x80\xa1\x31\xc7\x0c\xff\x00\x00",
        # A timestamp far beyond the years datetime holds.
        b"\x14\x94\x02\x80\xa1\x31\xc7\x0c\xff\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00",
        b"\x05\x91\x91\x91\x91\x91",
    ]
)


def mutate(frame_and_edit: tuple[bytes, int, int, int]) -> bytes:
    """Flip, drop or insert one byte of a valid record."""
    frame, position, value, how = frame_and_edit
    index = position % (len(frame) + 1)
    if how == 0 and index < len(frame):
        return frame[:index] + bytes([value]) + frame[index + 1 :]
    if how == 1:
        return frame[:index] + frame[index + 1 :]
    return frame[:index] + bytes([value]) + frame[index:]


def garbage(protocol) -> st.SearchStrategy[bytes]:
    valid = messages.map(protocol.encode)
    mutated = st.tuples(valid, st.integers(min_value=0), st.integers(0, 255), st.integers(0, 2)).map(mutate)
    shaped, fragments = (json_shaped, json_fragments) if protocol is JSON else (msgpack_shaped, msgpack_fragments)
    piece = st.one_of(valid, mutated, shaped, fragments, st.binary(max_size=24))
    return st.lists(piece, max_size=6).map(b"".join)


@BOTH
@FAST
@given(data=st.data(), cuts=st.lists(st.integers(min_value=0), max_size=10), limit=st.none() | st.integers(1, 200))
def test_arbitrary_bytes_parse_or_raise_protocol_error(protocol, data, cuts, limit):
    stream = data.draw(garbage(protocol), label="stream")
    cuts = [c % (len(stream) + 1) for c in cuts]
    whole, whole_error = feed(protocol, stream, [], limit)
    pieces, pieces_error = feed(protocol, stream, cuts, limit)
    # How the bytes were split changes nothing: the same messages, then the same failure.
    assert pieces_error is whole_error
    assert len(pieces) == len(whole)
    assert all(same(a, b) for a, b in zip(pieces, whole, strict=True))


@BOTH
@FAST
@given(stream=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=10))
def test_random_bytes_never_escape_as_another_exception(protocol, stream, cuts):
    feed(protocol, stream, cuts, 64)
    feed(protocol, stream, [], None)


# --- fuzz: handshake -------------------------------------------------------------------

handshake_shaped = st.dictionaries(
    st.sampled_from(["protocol", "version", "minorVersion", "type"]),
    st.one_of(st.sampled_from(["json", "messagepack"]), st.integers(-1, 3), json_values),
    max_size=4,
).map(lambda obj: json.dumps(obj).encode() + RECORD_SEPARATOR)
handshake_streams = st.lists(
    st.one_of(
        st.just(b'{"protocol":"json","version":1}\x1e'),
        handshake_shaped,
        json_fragments,
        st.binary(max_size=24),
    ),
    max_size=4,
).map(b"".join)


def handshake_feed(stream: bytes, cuts: list[int], limit: int | None):
    buffer = bytearray()
    for chunk in chunks(stream, cuts):
        buffer += chunk
        try:
            request = parse_handshake(buffer, limit)
        except (HandshakeFormatError, MessageTooLargeError) as exc:
            return type(exc), None
        if request is not None:
            return request, bytes(buffer)
    return None, bytes(buffer)


@FAST
@given(
    stream=handshake_streams, cuts=st.lists(st.integers(min_value=0), max_size=8), limit=st.none() | st.integers(1, 100)
)
def test_handshake_input_parses_or_fails_cleanly(stream, cuts, limit):
    cuts = [c % (len(stream) + 1) for c in cuts]
    outcome, rest = handshake_feed(stream, cuts, limit)
    assert handshake_feed(stream, [], limit)[0] == outcome
    if isinstance(outcome, HandshakeRequest):
        # Nothing after the request's separator is consumed: those are hub messages.
        request_end = stream.index(RECORD_SEPARATOR) + 1
        assert rest == stream[request_end : request_end + len(rest)]
        assert isinstance(outcome.protocol, str) and type(outcome.version) is int
    elif outcome is None:
        assert RECORD_SEPARATOR not in stream
