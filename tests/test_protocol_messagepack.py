"""The ``messagepack`` hub protocol on bytes alone (spec sections 4, 5.2 to 5.4).

Client-side byte strings are what ``@microsoft/signalr-protocol-msgpack`` 10.0.11 writes
for the messages ``HubConnection`` builds; server-side ones are the .NET layouts of 5.4.
"""

from __future__ import annotations

import datetime
import struct

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from django_hubs.protocol import PROTOCOLS
from django_hubs.protocol.errors import MessageTooLargeError, ProtocolError
from django_hubs.protocol.messagepack import MessagePackHubProtocol, read_varint, write_varint
from django_hubs.protocol.messages import (
    AckMessage,
    CancelInvocationMessage,
    CloseMessage,
    CompletionMessage,
    InvocationMessage,
    PingMessage,
    SequenceMessage,
    StreamInvocationMessage,
    StreamItemMessage,
)

MSGPACK = MessagePackHubProtocol()
UTC = datetime.UTC


def h(text: str) -> bytes:
    return bytes.fromhex(text)


def frame(body: bytes) -> bytes:
    return write_varint(len(body)) + body


def pack(value: object) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


def parse(data: bytes, max_size: int | None = None) -> list:
    buffer = bytearray(data)
    messages = MSGPACK.parse(buffer, max_size)
    assert buffer == b"", "complete records must be consumed"
    return messages


def decode_error(body: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        MSGPACK.decode(body)
    return str(info.value)


def test_registered_as_messagepack_binary_protocol():
    protocol = PROTOCOLS["messagepack"]
    assert isinstance(protocol, MessagePackHubProtocol)
    assert (protocol.name, protocol.version, protocol.transfer_format, protocol.binary) == (
        "messagepack",
        2,
        "Binary",
        True,
    )


# --- VarInt length prefix (spec 5.2) ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (6, "06"),
        (53, "35"),
        (127, "7F"),
        (128, "80 01"),
        (300, "AC 02"),
        (5248, "80 29"),
        (16383, "FF 7F"),
        (16384, "80 80 01"),
        (0x7FFFFFFF, "FF FF FF FF 07"),
    ],
)
def test_varint_examples(value, encoded):
    assert write_varint(value) == h(encoded)
    assert read_varint(h(encoded), 0) == (value, len(h(encoded)))
    assert read_varint(b"\xaa" + h(encoded) + b"\x91\x06", 1) == (value, 1 + len(h(encoded)))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=0x7FFFFFFF))
def test_varint_round_trip(value):
    encoded = write_varint(value)
    assert 1 <= len(encoded) <= 5
    assert read_varint(encoded, 0) == (value, len(encoded))
    for cut in range(len(encoded)):
        assert read_varint(encoded[:cut], 0) is None


@pytest.mark.parametrize("prefix", ["", "80", "FF FF", "FF FF FF", "FF FF FF FF"])
def test_truncated_varint_stays_buffered(prefix):
    buffer = bytearray(h(prefix))
    assert MSGPACK.parse(buffer, 32768) == []
    assert buffer == h(prefix)


@pytest.mark.parametrize("prefix", ["FF FF FF FF 08", "FF FF FF FF 7F", "80 80 80 80 80", "80 80 80 80 10 91 06"])
def test_fifth_varint_byte_above_7_is_an_error(prefix):
    for max_size in (None, 32768):
        with pytest.raises(ProtocolError, match=r"Messages bigger than 2GB are not supported\."):
            MSGPACK.parse(bytearray(h(prefix)), max_size)


def test_zero_length_body_is_invalid():
    with pytest.raises(ProtocolError, match=r"^Invalid payload\.$"):
        parse(h("00"))
    with pytest.raises(ProtocolError, match=r"^Invalid payload\.$"):
        parse(h("02 91 06 00 02 91 06"))


# --- what the server writes (spec 5.4) -------------------------------------------------

SERVER_FRAMES = [
    pytest.param(CompletionMessage("1"), "06 94 03 80 A1 31 02", id="void-completion-spec-example"),
    pytest.param(
        InvocationMessage("Recv", ["hi"]), "0E 96 01 80 C0 A4 52 65 63 76 91 A2 68 69 90", id="broadcast-spec-example"
    ),
    pytest.param(PingMessage(), "02 91 06", id="ping"),
    pytest.param(CompletionMessage.with_result("1", None), "07 95 03 80 A1 31 03 C0", id="void-invoke-result-nil"),
    pytest.param(CompletionMessage.with_result("1", 42), "07 95 03 80 A1 31 03 2A", id="result"),
    pytest.param(CompletionMessage.with_error("1", "bad"), "0A 95 03 80 A1 31 01 A3 62 61 64", id="error"),
    pytest.param(StreamItemMessage("1", None), "06 94 02 80 A1 31 C0", id="item-nil"),
    pytest.param(
        InvocationMessage("Ask", [1], invocation_id="s1", headers={"k": "v"}, stream_ids=["2"]),
        "13 96 01 81 A1 6B A1 76 A2 73 31 A3 41 73 6B 91 01 91 A1 32",
        id="client-result-request",
    ),
    pytest.param(
        InvocationMessage("Recv", [], invocation_id="", headers={}, stream_ids=[]),
        "0B 96 01 80 C0 A4 52 65 63 76 90 90",
        id="empty-id-is-nil",
    ),
    pytest.param(CloseMessage(), "04 93 07 C0 C2", id="close"),
    pytest.param(CloseMessage(""), "04 93 07 C0 C2", id="close-empty-error-is-nil"),
    pytest.param(CloseMessage("x", True), "05 93 07 A1 78 C3", id="close-error-reconnect"),
    pytest.param(CloseMessage(None, True), "04 93 07 C0 C3", id="close-reconnect"),
    pytest.param(AckMessage(5), "03 92 08 05", id="ack"),
    pytest.param(SequenceMessage(1), "03 92 09 01", id="sequence"),
    pytest.param(StreamInvocationMessage("1", "C", [5]), "0A 96 04 80 A1 31 A1 43 91 05 90", id="stream-invocation"),
    pytest.param(CancelInvocationMessage("1"), "05 93 05 80 A1 31", id="cancel"),
]


@pytest.mark.parametrize(("message", "expected"), SERVER_FRAMES)
def test_server_output_bytes(message, expected):
    assert MSGPACK.encode(message) == h(expected)


@pytest.mark.parametrize(("message", "expected"), SERVER_FRAMES)
def test_server_output_parses_back(message, expected):
    (parsed,) = parse(h(expected))
    assert MSGPACK.encode(parsed) == h(expected)


def test_server_invocations_always_have_six_elements_and_close_three():
    body = MSGPACK.encode(InvocationMessage("Recv", [1, 2]))[1:]
    assert len(msgpack.unpackb(body)) == 6
    for close in (CloseMessage(), CloseMessage("e"), CloseMessage(None, True)):
        assert len(msgpack.unpackb(MSGPACK.encode(close)[1:])) == 3


def test_long_bodies_get_multi_byte_prefixes():
    message = InvocationMessage("Recv", ["x" * 300])
    data = MSGPACK.encode(message)
    body = msgpack.packb([1, {}, None, "Recv", ["x" * 300], []])
    assert data == write_varint(len(body)) + body
    assert data[:2] == write_varint(len(body)) and len(body) > 127
    assert parse(data) == [message]


# --- what the JS client sends ----------------------------------------------------------

JS_CLIENT_FRAMES = [
    pytest.param("0c950180a130a3416464920102", InvocationMessage("Add", [1, 2], invocation_id="0"), id="invoke"),
    pytest.param("0b950180c0a34c6f6791a178", InvocationMessage("Log", ["x"]), id="send"),
    pytest.param(
        "10960180a131a655706c6f61649091a130",
        InvocationMessage("Upload", [], invocation_id="1", stream_ids=["0"]),
        id="upload-six-elements",
    ),
    pytest.param("0f950480a131a7436f756e7465729105", StreamInvocationMessage("1", "Counter", [5]), id="stream"),
    pytest.param("07940280a130a161", StreamItemMessage("0", "a"), id="item"),
    pytest.param("06940380a13002", CompletionMessage("0"), id="upload-complete"),
    pytest.param("0b950380a13001a4626f6f6d", CompletionMessage("0", error="boom"), id="upload-error"),
    pytest.param("08950380a27331032a", CompletionMessage("s1", result=42, has_result=True), id="client-result"),
    pytest.param("08950380a2733103c0", CompletionMessage("s1", result=None, has_result=True), id="client-result-null"),
    pytest.param("05930580a131", CancelInvocationMessage("1"), id="dispose"),
    pytest.param("029106", PingMessage(), id="ping"),
    pytest.param("039207c0", CloseMessage(), id="stop"),
    pytest.param("03920803", AckMessage(3), id="ack"),
    pytest.param("03920901", SequenceMessage(1), id="sequence"),
    pytest.param(
        "15950180a132a45768656e91d7ffa1a5d60065937d25",
        InvocationMessage("When", [datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)], invocation_id="2"),
        id="date-timestamp64",
    ),
    pytest.param(
        "11950180a132a45768656e91d6ff65937d25",
        InvocationMessage("When", [datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], invocation_id="2"),
        id="date-timestamp32",
    ),
]


@pytest.mark.parametrize(("hex_frame", "expected"), JS_CLIENT_FRAMES)
def test_parses_what_the_js_client_sends(hex_frame, expected):
    assert parse(h(hex_frame)) == [expected]


def test_all_js_frames_in_one_buffer():
    data = b"".join(h(p.values[0]) for p in JS_CLIENT_FRAMES)
    assert parse(data) == [p.values[1] for p in JS_CLIENT_FRAMES]


# --- accepted layouts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param([1, {}, "", "A", []], InvocationMessage("A", []), id="empty-id-is-nil"),
        pytest.param([1, {}, None, "A", [], []], InvocationMessage("A", []), id="six-elements-no-streams"),
        pytest.param([1, {}, None, "A", [], None], InvocationMessage("A", []), id="six-elements-nil-streams"),
        pytest.param(
            [1, {}, "3", "A", [1], ["0", "1"], "extra"],
            InvocationMessage("A", [1], invocation_id="3", stream_ids=["0", "1"]),
            id="trailing-elements",
        ),
        pytest.param(
            [1, {"traceparent": "00-ab-cd-01"}, None, "A", []],
            InvocationMessage("A", [], headers={"traceparent": "00-ab-cd-01"}),
            id="headers",
        ),
        pytest.param(
            [4, {}, "1", "S", [], ["0"]], StreamInvocationMessage("1", "S", [], stream_ids=["0"]), id="stream-six"
        ),
        pytest.param([3, {}, "1", 1, None], CompletionMessage("1"), id="error-kind-nil-error-is-void"),
        pytest.param([3, {}, "1", 2, "ignored"], CompletionMessage("1"), id="void-with-extra"),
        pytest.param([6, "extra"], PingMessage(), id="ping-extra"),
        pytest.param([7, None], CloseMessage(), id="close-two"),
        pytest.param([7, "x"], CloseMessage("x"), id="close-error"),
        pytest.param([7, "", False], CloseMessage(""), id="close-empty-error"),
        pytest.param([7, None, True], CloseMessage(None, True), id="close-reconnect"),
        pytest.param([8, 2**63 - 1], AckMessage(2**63 - 1), id="ack-int64-max"),
        pytest.param([9, -1], SequenceMessage(-1), id="sequence-negative"),
        pytest.param(
            [2, {}, "1", {"a": [1, None, 2.5, True]}],
            StreamItemMessage("1", {"a": [1, None, 2.5, True]}),
            id="item-map",
        ),
        pytest.param([2, {}, "1", {1: "int key"}], StreamItemMessage("1", {1: "int key"}), id="item-int-key"),
        pytest.param([2, {}, "1", b"\x00\xff"], StreamItemMessage("1", b"\x00\xff"), id="item-bin"),
    ],
)
def test_accepted_layouts(body, expected):
    assert MSGPACK.decode(pack(body)) == expected
    assert parse(frame(pack(body))) == [expected]


def test_unknown_message_types_are_skipped():
    for body in ([99], [0], [-1, "x"], [10, None, None], [2**31 - 1]):
        assert MSGPACK.decode(pack(body)) is None
    data = frame(pack([99, {}, 1])) + h("02 91 06") + frame(pack([12]))
    assert parse(data) == [PingMessage()]


# --- timestamps (spec 5.3) -------------------------------------------------------------


def test_timezone_aware_datetimes_round_trip_as_timestamp_ext():
    when = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    data = MSGPACK.encode(InvocationMessage("When", [when], invocation_id="2"))
    assert h("d7ff a1a5d600 65937d25") in data  # the same bytes the JS client writes for this Date
    (message,) = parse(data)
    (value,) = message.arguments
    assert value == when and value.tzinfo is not None


def test_other_timezones_come_back_as_the_same_instant_in_utc():
    when = datetime.datetime(2024, 6, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    (message,) = parse(MSGPACK.encode(StreamItemMessage("1", when)))
    assert message.item == when and message.item.utcoffset() == datetime.timedelta(0)


def test_naive_datetimes_are_written_as_iso_strings():
    (message,) = parse(MSGPACK.encode(StreamItemMessage("1", datetime.datetime(2024, 1, 2, 3, 4, 5))))
    assert message.item == "2024-01-02T03:04:05"


def test_timestamp96_before_the_epoch():
    body = [2, {}, "1", msgpack.Timestamp(-1, 500_000_000)]
    (message,) = parse(frame(pack(body)))
    assert message.item == datetime.datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [2**62, -(2**62)])
def test_timestamps_beyond_datetime_are_protocol_errors(seconds):
    body = h("94 02 80 a1 31 c7 0c ff") + struct.pack(">Iq", 0, seconds)
    assert "Error reading MessagePack" in decode_error(body)


def test_other_ext_types_pass_through():
    item = msgpack.ExtType(5, b"abc")
    (message,) = parse(frame(pack([2, {}, "1", item])))
    assert message.item == item
    assert parse(MSGPACK.encode(message)) == [message]


def test_bytes_are_written_as_bin():
    data = MSGPACK.encode(StreamItemMessage("1", b"\x00\x01"))
    assert data.endswith(h("c4 02 00 01"))
    assert parse(data)[0].item == b"\x00\x01"


def test_unserialisable_results_raise_for_the_caller():
    with pytest.raises(TypeError):
        MSGPACK.encode(CompletionMessage.with_result("1", object()))
    with pytest.raises((TypeError, OverflowError)):
        MSGPACK.encode(CompletionMessage.with_result("1", 2**64))
    with pytest.raises(ValueError):
        MSGPACK.encode(CompletionMessage.with_result("1", "\ud800"))


# --- protocol errors (spec 4.14) -------------------------------------------------------

INVALID_BODIES = [
    pytest.param({}, "Message is not a non-empty MessagePack array.", id="map"),
    pytest.param(1, "Message is not a non-empty MessagePack array.", id="int"),
    pytest.param(None, "Message is not a non-empty MessagePack array.", id="nil"),
    pytest.param([], "Message is not a non-empty MessagePack array.", id="empty-array"),
    pytest.param(["1"], "Reading 'messageType' as Int32 failed.", id="type-string"),
    pytest.param([True], "Reading 'messageType' as Int32 failed.", id="type-bool"),
    pytest.param([6.0], "Reading 'messageType' as Int32 failed.", id="type-float"),
    pytest.param([None], "Reading 'messageType' as Int32 failed.", id="type-nil"),
    pytest.param([2**31], "Reading 'messageType' as Int32 failed.", id="type-beyond-int32"),
    pytest.param([1, {}, None, "A"], "Invalid payload for Invocation message.", id="invocation-short"),
    pytest.param([1, None, None, "A", []], "Reading map length for 'headers' failed.", id="headers-nil"),
    pytest.param([1, [], None, "A", []], "Reading map length for 'headers' failed.", id="headers-array"),
    pytest.param([1, {"": "v"}, None, "A", []], "Null or empty key in header.", id="header-empty-key"),
    pytest.param([1, {"k": ""}, None, "A", []], "Null or empty value in header.", id="header-empty-value"),
    pytest.param([1, {"k": None}, None, "A", []], "Null or empty value in header.", id="header-nil-value"),
    pytest.param([1, {"k": 1}, None, "A", []], "Reading 'headers.Value' as String failed.", id="header-int-value"),
    pytest.param([1, {1: "v"}, None, "A", []], "Reading 'headers.Key' as String failed.", id="header-int-key"),
    pytest.param([1, {}, 1, "A", []], "Reading 'invocationId' as String failed.", id="id-int"),
    pytest.param([1, {}, None, None, []], "Null or empty target for Invocation message.", id="target-nil"),
    pytest.param([1, {}, None, "", []], "Null or empty target for Invocation message.", id="target-empty"),
    pytest.param([1, {}, None, 5, []], "Reading 'target' as String failed.", id="target-int"),
    pytest.param([1, {}, None, "A", None], "Reading 'arguments' as Array failed.", id="arguments-nil"),
    pytest.param([1, {}, None, "A", {}], "Reading 'arguments' as Array failed.", id="arguments-map"),
    pytest.param([1, {}, None, "A", [], "0"], "Reading 'streamIds' as Array failed.", id="streams-string"),
    pytest.param([1, {}, None, "A", [], [""]], "Null or empty value in streamIds received.", id="streams-empty-id"),
    pytest.param([1, {}, None, "A", [], [0]], "Reading 'streamIds' as String failed.", id="streams-int"),
    pytest.param(
        [4, {}, None, "A", []], "Null or empty invocation ID for StreamInvocation message.", id="stream-id-nil"
    ),
    pytest.param(
        [4, {}, "", "A", []], "Null or empty invocation ID for StreamInvocation message.", id="stream-id-empty"
    ),
    pytest.param([4, {}, "1", "", []], "Null or empty target for StreamInvocation message.", id="stream-target-empty"),
    pytest.param([4, {}, "1", "A"], "Invalid payload for StreamInvocation message.", id="stream-short"),
    pytest.param([2, {}, "1"], "Invalid payload for StreamItem message.", id="item-short"),
    pytest.param([2, {}, "", 1], "Null or empty invocation ID for StreamItem message.", id="item-id-empty"),
    pytest.param([2, {}, None, 1], "Null or empty invocation ID for StreamItem message.", id="item-id-nil"),
    pytest.param([3, {}, "1"], "Invalid payload for Completion message.", id="completion-short"),
    pytest.param([3, {}, None, 2], "Null or empty invocation ID for Completion message.", id="completion-id-nil"),
    pytest.param([3, {}, "1", 4, 1], "Invalid invocation result kind.", id="result-kind-4"),
    pytest.param([3, {}, "1", 0], "Invalid invocation result kind.", id="result-kind-0"),
    pytest.param([3, {}, "1", True, "x"], "Reading 'resultKind' as Int32 failed.", id="result-kind-bool"),
    pytest.param([3, {}, "1", "1", "x"], "Reading 'resultKind' as Int32 failed.", id="result-kind-string"),
    pytest.param([3, {}, "1", 1.0, "x"], "Reading 'resultKind' as Int32 failed.", id="result-kind-float"),
    pytest.param([3, {}, "1", 1], "Invalid payload for Completion message.", id="error-kind-no-error"),
    pytest.param([3, {}, "1", 3], "Invalid payload for Completion message.", id="result-kind-no-result"),
    pytest.param([3, {}, "1", 1, 5], "Reading 'error' as String failed.", id="error-int"),
    pytest.param([5, {}], "Invalid payload for CancelInvocation message.", id="cancel-short"),
    pytest.param([5, {}, None], "Null or empty invocation ID for CancelInvocation message.", id="cancel-id-nil"),
    pytest.param([7], "Invalid payload for Close message.", id="close-short"),
    pytest.param([7, 1], "Reading 'error' as String failed.", id="close-error-int"),
    pytest.param([7, None, 1], "Reading 'allowReconnect' as Boolean failed.", id="close-reconnect-int"),
    pytest.param([7, None, None], "Reading 'allowReconnect' as Boolean failed.", id="close-reconnect-nil"),
    pytest.param([8], "Invalid payload for Ack message.", id="ack-short"),
    pytest.param([9], "Invalid payload for Sequence message.", id="sequence-short"),
    pytest.param([8, "1"], "Reading 'sequenceId' as Int64 failed.", id="ack-string"),
    pytest.param([9, True], "Reading 'sequenceId' as Int64 failed.", id="sequence-bool"),
    pytest.param([9, 2**64 - 1], "Reading 'sequenceId' as Int64 failed.", id="sequence-beyond-int64"),
]


@pytest.mark.parametrize(("body", "error"), INVALID_BODIES)
def test_invalid_messages_are_protocol_errors(body, error):
    assert decode_error(pack(body)) == error
    with pytest.raises(ProtocolError):
        parse(frame(pack(body)))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(h("c1"), id="never-used-byte"),
        pytest.param(h("92 01"), id="truncated-array"),
        pytest.param(h("91 06 06"), id="extra-bytes"),
        pytest.param(h("95 01 80 c0 a1 ff 90"), id="invalid-utf8-target"),
        pytest.param(h("95 01 80 c0 a3 ed a0 80 90"), id="utf8-encoded-surrogate"),
        pytest.param(h("94 02 80 a1 31 81 91 01 02"), id="array-as-map-key"),
        pytest.param(h("94 02 80 a1 31 81 81 01 02 03"), id="map-as-map-key"),
        pytest.param(h("91") * 200_000 + h("c0"), id="deep-nesting"),
        pytest.param(h("dd ff ff ff ff"), id="declared-huge-array"),
        pytest.param(h("db ff ff ff ff"), id="declared-huge-string"),
    ],
)
def test_malformed_messagepack_is_a_protocol_error(body):
    assert decode_error(body).startswith("Error reading MessagePack")
    with pytest.raises(ProtocolError):
        parse(frame(body))


# --- framing ---------------------------------------------------------------------------

STREAM = [
    InvocationMessage("Add", [1, 2], invocation_id="0"),
    StreamItemMessage("0", "x" * 200),
    CompletionMessage("0"),
    PingMessage(),
    CloseMessage(),
]


def test_split_at_every_byte_boundary():
    data = b"".join(MSGPACK.encode(m) for m in STREAM)
    for cut in range(len(data) + 1):
        buffer = bytearray(data[:cut])
        first = MSGPACK.parse(buffer, None)
        buffer += data[cut:]
        assert first + MSGPACK.parse(buffer, None) == STREAM
        assert buffer == b""


def test_one_byte_at_a_time():
    data = b"".join(MSGPACK.encode(m) for m in STREAM)
    buffer = bytearray()
    messages = []
    for byte in data:
        buffer.append(byte)
        messages += MSGPACK.parse(buffer, 1024)
    assert messages == STREAM and buffer == b""


def test_incomplete_body_stays_in_the_buffer():
    buffer = bytearray(h("02 91 06 06 94 03 80 a1"))
    assert MSGPACK.parse(buffer, None) == [PingMessage()]
    assert buffer == h("06 94 03 80 a1")


def test_max_size_counts_the_length_prefix():
    data = MSGPACK.encode(StreamItemMessage("1", "x" * 200))  # a two-byte prefix
    assert len(parse(data, len(data))) == 1
    with pytest.raises(MessageTooLargeError) as info:
        parse(data, len(data) - 1)
    assert info.value.limit == len(data) - 1
    assert "HUBS_MAX_MESSAGE_SIZE" in str(info.value)


def test_a_giant_declared_length_fails_before_its_body_arrives():
    buffer = bytearray(h("FF FF FF FF 07"))
    with pytest.raises(MessageTooLargeError):
        MSGPACK.parse(buffer, 32768)
    with pytest.raises(MessageTooLargeError):
        MSGPACK.parse(bytearray(write_varint(32768)), 32768)
    # Without a limit the prefix is valid and waits for its body.
    buffer = bytearray(h("FF FF FF FF 07"))
    assert MSGPACK.parse(buffer, None) == [] and len(buffer) == 5


def test_messages_before_a_bad_record_are_handed_over():
    data = h("02 91 06") + MSGPACK.encode(AckMessage(2)) + frame(pack([3, {}, "1", 9])) + h("02 91 06")
    with pytest.raises(ProtocolError) as info:
        parse(data)
    assert list(info.value.parsed) == [PingMessage(), AckMessage(2)]


def test_messages_before_an_oversized_record_are_handed_over():
    data = h("02 91 06") + h("FF 7F")
    with pytest.raises(MessageTooLargeError) as info:
        MSGPACK.parse(bytearray(data), 1000)
    assert list(info.value.parsed) == [PingMessage()]
