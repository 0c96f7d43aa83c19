"""The ``json`` hub protocol on bytes alone (spec sections 4 and 5.1).

Client-side byte strings are what ``@microsoft/signalr`` 10.0.11 writes (spec 5.1 and
4.11); server-side ones are the .NET output order of spec 5.1.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import re
import uuid

import pytest

from django_hubs.protocol import PROTOCOLS
from django_hubs.protocol.errors import MessageTooLargeError, ProtocolError
from django_hubs.protocol.json import JsonHubProtocol
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

RS = b"\x1e"
JSON = JsonHubProtocol()


def parse(data: bytes, max_size: int | None = None) -> list:
    buffer = bytearray(data)
    messages = JSON.parse(buffer, max_size)
    assert buffer == b"", "complete records must be consumed"
    return messages


def decode_error(record: bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        JSON.decode(record)
    return str(info.value)


def test_registered_as_json_text_protocol():
    protocol = PROTOCOLS["json"]
    assert isinstance(protocol, JsonHubProtocol)
    assert (protocol.name, protocol.version, protocol.transfer_format, protocol.binary) == ("json", 2, "Text", False)


# --- what the JS client sends (spec 5.1 and 4.11) ---------------------------------------

JS_CLIENT_RECORDS = [
    pytest.param(
        b'{"target":"Add","arguments":[1,2],"invocationId":"0","type":1}',
        InvocationMessage("Add", [1, 2], invocation_id="0"),
        id="invoke",
    ),
    pytest.param(b'{"target":"Log","arguments":["x"],"type":1}', InvocationMessage("Log", ["x"]), id="send"),
    pytest.param(
        b'{"target":"Counter","arguments":[5],"invocationId":"1","type":4}',
        StreamInvocationMessage("1", "Counter", [5]),
        id="stream",
    ),
    pytest.param(b'{"invocationId":"1","type":5}', CancelInvocationMessage("1"), id="dispose"),
    pytest.param(b'{"type":6}', PingMessage(), id="keep-alive"),
    pytest.param(b'{"type":7}', CloseMessage(), id="stop"),
    pytest.param(
        b'{"invocationId":"s1","result":42,"type":3}',
        CompletionMessage("s1", result=42, has_result=True),
        id="client-result",
    ),
    pytest.param(
        b'{"invocationId":"s1","result":null,"type":3}',
        CompletionMessage("s1", result=None, has_result=True),
        id="client-result-null",
    ),
    pytest.param(
        b'{"error":"Client didn\'t provide a result.","invocationId":"s1","type":3}',
        CompletionMessage("s1", error="Client didn't provide a result."),
        id="client-result-missing",
    ),
    pytest.param(b'{"type":8,"sequenceId":3}', AckMessage(3), id="ack"),
    pytest.param(b'{"type":9,"sequenceId":1}', SequenceMessage(1), id="sequence"),
    pytest.param(
        b'{"target":"Upload","arguments":[],"invocationId":"1","streamIds":["0"],"type":1}',
        InvocationMessage("Upload", [], invocation_id="1", stream_ids=["0"]),
        id="upload-invoke",
    ),
    pytest.param(b'{"invocationId":"0","item":"a","type":2}', StreamItemMessage("0", "a"), id="upload-item"),
    pytest.param(b'{"invocationId":"0","type":3}', CompletionMessage("0"), id="upload-complete"),
    pytest.param(
        b'{"error":"boom","invocationId":"0","type":3}', CompletionMessage("0", error="boom"), id="upload-error"
    ),
    pytest.param(
        # signalrcore: headers on every message, and a UUID id.
        b'{"type":1,"headers":{},"target":"Add","arguments":[1,2],'
        b'"invocationId":"6f1c2b1e-8a8b-4c4e-9d9e-0f2a3b4c5d6e"}',
        InvocationMessage("Add", [1, 2], invocation_id="6f1c2b1e-8a8b-4c4e-9d9e-0f2a3b4c5d6e"),
        id="signalrcore-invoke",
    ),
    pytest.param(
        # pysignalr: HTTP headers copied into the message; values are strings, so they are kept.
        b'{"type":1,"target":"Log","arguments":[],"headers":{"Authorization":"Bearer t"}}',
        InvocationMessage("Log", [], headers={"Authorization": "Bearer t"}),
        id="pysignalr-headers",
    ),
]


@pytest.mark.parametrize(("record", "expected"), JS_CLIENT_RECORDS)
def test_parses_what_clients_send(record, expected):
    assert parse(record + RS) == [expected]
    assert JSON.decode(record) == expected


def test_property_order_is_free_and_unknown_properties_are_skipped():
    record = b'{"arguments":[1],"x":{"y":[1,2,{"z":null}]},"type":1,"target":"A","invocationId":"7","extra":true}'
    assert JSON.decode(record) == InvocationMessage("A", [1], invocation_id="7")


def test_whitespace_around_and_inside_a_record_is_fine():
    assert parse(b' \r\n{ "type" : 6 }\t' + RS) == [PingMessage()]


# --- what the server writes (spec 5.1, .NET order) --------------------------------------

SERVER_RECORDS = [
    pytest.param(InvocationMessage("Recv", ["hi"]), b'{"type":1,"target":"Recv","arguments":["hi"]}', id="broadcast"),
    pytest.param(InvocationMessage("Recv", []), b'{"type":1,"target":"Recv","arguments":[]}', id="no-arguments"),
    pytest.param(
        InvocationMessage("Ask", [1], invocation_id="s1", headers={"k": "v"}, stream_ids=["2"]),
        b'{"type":1,"headers":{"k":"v"},"invocationId":"s1","target":"Ask","arguments":[1],"streamIds":["2"]}',
        id="client-result-request",
    ),
    pytest.param(
        InvocationMessage("Recv", [None], invocation_id="", headers={}, stream_ids=[]),
        b'{"type":1,"target":"Recv","arguments":[null]}',
        id="empty-optionals-omitted",
    ),
    pytest.param(StreamItemMessage("3", None), b'{"type":2,"invocationId":"3","item":null}', id="item-none"),
    pytest.param(
        StreamItemMessage("3", {"a": [1]}, headers={"h": "1"}),
        b'{"type":2,"headers":{"h":"1"},"invocationId":"3","item":{"a":[1]}}',
        id="item-headers",
    ),
    pytest.param(
        CompletionMessage.with_result("0", None), b'{"type":3,"invocationId":"0","result":null}', id="void-invoke"
    ),
    pytest.param(CompletionMessage.with_result("0", 3), b'{"type":3,"invocationId":"0","result":3}', id="result"),
    pytest.param(CompletionMessage.with_error("0", "bad"), b'{"type":3,"invocationId":"0","error":"bad"}', id="error"),
    pytest.param(CompletionMessage("0"), b'{"type":3,"invocationId":"0"}', id="stream-end"),
    pytest.param(CompletionMessage("0", error=""), b'{"type":3,"invocationId":"0"}', id="empty-error-omitted"),
    pytest.param(PingMessage(), b'{"type":6}', id="ping"),
    pytest.param(CloseMessage(), b'{"type":7}', id="close"),
    pytest.param(CloseMessage("oops"), b'{"type":7,"error":"oops"}', id="close-error"),
    pytest.param(CloseMessage(None, True), b'{"type":7,"allowReconnect":true}', id="close-reconnect"),
    pytest.param(
        CloseMessage("oops", True), b'{"type":7,"error":"oops","allowReconnect":true}', id="close-error-reconnect"
    ),
    pytest.param(AckMessage(5), b'{"type":8,"sequenceId":5}', id="ack"),
    pytest.param(SequenceMessage(1), b'{"type":9,"sequenceId":1}', id="sequence"),
    pytest.param(
        StreamInvocationMessage("4", "Counter", [3], headers={"a": "b"}),
        b'{"type":4,"headers":{"a":"b"},"invocationId":"4","target":"Counter","arguments":[3]}',
        id="stream-invocation",
    ),
    pytest.param(CancelInvocationMessage("4"), b'{"type":5,"invocationId":"4"}', id="cancel"),
]


@pytest.mark.parametrize(("message", "expected"), SERVER_RECORDS)
def test_server_output_bytes(message, expected):
    assert JSON.encode(message) == expected + RS


@pytest.mark.parametrize(("message", "expected"), SERVER_RECORDS)
def test_server_output_parses_back(message, expected):
    (parsed,) = parse(JSON.encode(message))
    assert JSON.encode(parsed) == expected + RS


def test_text_is_utf8_and_control_characters_are_escaped():
    data = JSON.encode(InvocationMessage("Recv", ["é 😀 \x1e \x00 \u2028"]))
    assert data.count(RS) == 1 and data.endswith(RS)
    assert "é 😀".encode() in data
    assert b"\\u001e" in data and b"\\u0000" in data
    assert parse(data) == [InvocationMessage("Recv", ["é 😀 \x1e \x00 \u2028"])]


class Colour(enum.Enum):
    RED = 1


@dataclasses.dataclass
class Point:
    x: int
    y: int


def test_payload_values_follow_the_dotnet_conventions():
    value = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.date(2024, 1, 2),
        b"\x00\x01",
        uuid.UUID(int=1),
        decimal.Decimal("1.50"),
        Colour.RED,
        Point(1, 2),
        (1, 2),
        frozenset({3}),
    ]
    (message,) = parse(JSON.encode(CompletionMessage.with_result("1", value)))
    assert message.result == [
        "2024-01-02T03:04:05Z",
        "2024-01-02",
        "AAE=",
        "00000000-0000-0000-0000-000000000001",
        "1.50",
        1,
        {"x": 1, "y": 2},
        [1, 2],
        [3],
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC), "2000-01-01T00:00:00Z", id="utc"),
        pytest.param(
            datetime.datetime(2000, 1, 1, 0, 0, 0, 500, tzinfo=datetime.UTC), "2000-01-01T00:00:00.000500Z", id="micro"
        ),
        pytest.param(
            datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(0), "GMT")),
            "2000-01-01T00:00:00Z",
            id="zero-offset",
        ),
        pytest.param(
            datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))),
            "2000-01-01T00:00:00-05:30",
            id="offset",
        ),
        pytest.param(datetime.datetime(2000, 1, 1), "2000-01-01T00:00:00", id="naive"),
    ],
)
def test_datetimes_are_written_as_system_text_json_writes_them(value, text):
    """UTC ends in "Z" (the official server's text), other offsets as they are, naive ones without."""
    data = JSON.encode(CompletionMessage.with_result("1", value))
    assert f'"result":"{text}"'.encode() in data
    assert datetime.datetime.fromisoformat(text) == value


def test_unserialisable_results_raise_for_the_caller():
    with pytest.raises(TypeError):
        JSON.encode(CompletionMessage.with_result("1", object()))
    # JSON has no NaN: writing one would make JSON.parse fail in every client.
    with pytest.raises(ValueError):
        JSON.encode(CompletionMessage.with_result("1", float("nan")))
    with pytest.raises(ValueError):
        JSON.encode(StreamItemMessage("1", [float("inf")]))
    # A lone surrogate has no UTF-8 form (UnicodeEncodeError is a ValueError).
    with pytest.raises(ValueError):
        JSON.encode(CompletionMessage.with_result("1", "\ud800"))


# --- accepted edge cases ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"invocationId":""}', InvocationMessage("A", []), id="id-empty"
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"invocationId":null}', InvocationMessage("A", []), id="id-null"
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"headers":{}}', InvocationMessage("A", []), id="headers-empty"
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"headers":null}', InvocationMessage("A", []), id="headers-null"
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"headers":{"":"x"}}',
            InvocationMessage("A", [], headers={"": "x"}),
            id="headers-empty-key",
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"streamIds":[]}', InvocationMessage("A", []), id="streams-empty"
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[],"streamIds":null}', InvocationMessage("A", []), id="streams-null"
        ),
        pytest.param(
            b'{"type":3,"invocationId":"1","error":null,"result":5}',
            CompletionMessage("1", result=5, has_result=True),
            id="error-null-with-result",
        ),
        pytest.param(b'{"type":3,"invocationId":"1","error":null}', CompletionMessage("1"), id="error-null-void"),
        pytest.param(b'{"type":2,"invocationId":"1","item":null}', StreamItemMessage("1", None), id="item-null"),
        pytest.param(b'{"type":7,"error":"x","allowReconnect":true}', CloseMessage("x", True), id="close-full"),
        pytest.param(b'{"type":7,"allowReconnect":false}', CloseMessage(), id="close-no-reconnect"),
        pytest.param(b'{"type":6,"invocationId":5}', PingMessage(), id="ping-ignores-fields"),
        pytest.param(
            b'{"type":1,"target":"A","arguments":["\\ud83d\\ude00"]}',
            InvocationMessage("A", ["😀"]),
            id="surrogate-pair",
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":["\\\\ud800"]}',
            InvocationMessage("A", ["\\ud800"]),
            id="escaped-backslash",
        ),
        pytest.param(
            b'{"type":1,"target":"A","arguments":[123456789012345678901234567890, -0.0, 1e300]}',
            InvocationMessage("A", [123456789012345678901234567890, -0.0, 1e300]),
            id="numbers",
        ),
        pytest.param(b'{"type":8,"sequenceId":9223372036854775807}', AckMessage(2**63 - 1), id="sequence-int64-max"),
    ],
)
def test_accepted_edge_cases(record, expected):
    assert JSON.decode(record) == expected


# --- protocol errors (spec 4.14) -------------------------------------------------------

INVALID_RECORDS = [
    pytest.param(b"", "Error reading JSON", id="empty-record"),
    pytest.param(b'{"type":1,', "Error reading JSON", id="truncated"),
    pytest.param(b'{"type":6}x', "Error reading JSON", id="trailing-garbage"),
    pytest.param(b'{"type":6}{"type":6}', "Error reading JSON", id="two-objects-one-record"),
    pytest.param(b"{'type':6}", "Error reading JSON", id="single-quotes"),
    pytest.param(b'{"type":6,"x":"\xff"}', "Message is not valid UTF-8.", id="invalid-utf8"),
    pytest.param(b'{"type":6,"x":"\xed\xa0\x80"}', "Message is not valid UTF-8.", id="utf8-encoded-surrogate"),
    pytest.param(b"\xef\xbb\xbf" + b'{"type":6}', "Error reading JSON", id="bom"),
    pytest.param(b"[]", "Expected a JSON object.", id="array"),
    pytest.param(b"1", "Expected a JSON object.", id="number"),
    pytest.param(b'"x"', "Expected a JSON object.", id="string"),
    pytest.param(b"null", "Expected a JSON object.", id="null"),
    pytest.param(b"{}", "Missing required property 'type'.", id="type-missing"),
    pytest.param(b'{"type":"1"}', "Expected 'type' to be of type Number.", id="type-string"),
    pytest.param(b'{"type":1.0}', "Expected 'type' to be of type Number.", id="type-float"),
    pytest.param(b'{"type":true}', "Expected 'type' to be of type Number.", id="type-bool"),
    pytest.param(b'{"type":null}', "Expected 'type' to be of type Number.", id="type-null"),
    pytest.param(b'{"type":2147483648}', "Expected 'type' to be of type Number.", id="type-beyond-int32"),
    pytest.param(b'{"type":1,"arguments":[]}', "Missing required property 'target'.", id="target-missing"),
    pytest.param(b'{"type":1,"target":"","arguments":[]}', "Missing required property 'target'.", id="target-empty"),
    pytest.param(b'{"type":1,"target":null,"arguments":[]}', "Missing required property 'target'.", id="target-null"),
    pytest.param(
        b'{"type":1,"target":1,"arguments":[]}', "Expected 'target' to be of type String.", id="target-number"
    ),
    pytest.param(
        b'{"type":1,"target":["A"],"arguments":[]}', "Expected 'target' to be of type String.", id="target-array"
    ),
    pytest.param(b'{"type":1,"target":"A"}', "Missing required property 'arguments'.", id="arguments-missing"),
    pytest.param(
        b'{"type":1,"target":"A","arguments":{}}', "Expected 'arguments' to be of type Array.", id="arguments-object"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":null}', "Expected 'arguments' to be of type Array.", id="arguments-null"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"invocationId":1}',
        "Expected 'invocationId' to be of type String.",
        id="id-number",
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"invocationId":true}',
        "Expected 'invocationId' to be of type String.",
        id="id-bool",
    ),
    pytest.param(
        b'{"type":4,"target":"A","arguments":[],"invocationId":["1"]}',
        "Expected 'invocationId' to be of type String.",
        id="stream-id-array",
    ),
    pytest.param(
        b'{"type":4,"target":"A","arguments":[]}', "Missing required property 'invocationId'.", id="stream-id-missing"
    ),
    pytest.param(
        b'{"type":4,"target":"A","arguments":[],"invocationId":""}',
        "Missing required property 'invocationId'.",
        id="stream-id-empty",
    ),
    pytest.param(
        b'{"type":4,"invocationId":"1","arguments":[]}',
        "Missing required property 'target'.",
        id="stream-target-missing",
    ),
    pytest.param(b'{"type":2,"item":1}', "Missing required property 'invocationId'.", id="item-id-missing"),
    pytest.param(
        b'{"type":2,"invocationId":"","item":1}', "Missing required property 'invocationId'.", id="item-id-empty"
    ),
    pytest.param(b'{"type":2,"invocationId":"1"}', "Missing required property 'item'.", id="item-missing"),
    pytest.param(b'{"type":3}', "Missing required property 'invocationId'.", id="completion-id-missing"),
    pytest.param(
        b'{"type":3,"invocationId":null}', "Missing required property 'invocationId'.", id="completion-id-null"
    ),
    pytest.param(
        b'{"type":3,"invocationId":7}', "Expected 'invocationId' to be of type String.", id="completion-id-int"
    ),
    pytest.param(
        b'{"type":3,"invocationId":"1","error":"x","result":1}',
        "The 'error' and 'result' properties are mutually exclusive.",
        id="result-and-error",
    ),
    pytest.param(
        b'{"type":3,"invocationId":"1","error":"x","result":null}',
        "The 'error' and 'result' properties are mutually exclusive.",
        id="null-result-and-error",
    ),
    pytest.param(
        b'{"type":3,"invocationId":"1","error":5}', "Expected 'error' to be of type String.", id="error-number"
    ),
    pytest.param(b'{"type":5}', "Missing required property 'invocationId'.", id="cancel-id-missing"),
    pytest.param(b'{"type":5,"invocationId":""}', "Missing required property 'invocationId'.", id="cancel-id-empty"),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"headers":{"k":1}}',
        "Expected header 'k' to be of type String.",
        id="header-number",
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"headers":{"k":null}}',
        "Expected header 'k' to be of type String.",
        id="header-null",
    ),
    pytest.param(
        b'{"type":2,"invocationId":"1","item":1,"headers":{"a":"b","k":{"x":"y"}}}',
        "Expected header 'k' to be of type String.",
        id="header-object",
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"headers":["k"]}',
        "Expected 'headers' to be of type Object.",
        id="headers-array",
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"streamIds":"0"}',
        "Expected 'streamIds' to be of type Array.",
        id="streams-string",
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[],"streamIds":[0]}',
        "Expected 'streamIds' to be an array of strings.",
        id="streams-number",
    ),
    pytest.param(b'{"type":7,"error":1}', "Expected 'error' to be of type String.", id="close-error-number"),
    pytest.param(
        b'{"type":7,"allowReconnect":"true"}',
        "Expected 'allowReconnect' to be of type Boolean.",
        id="close-reconnect-str",
    ),
    pytest.param(b'{"type":8}', "Missing required property 'sequenceId'.", id="ack-missing"),
    pytest.param(b'{"type":8,"sequenceId":"1"}', "Expected 'sequenceId' to be of type Number.", id="ack-string"),
    pytest.param(b'{"type":9,"sequenceId":1.5}', "Expected 'sequenceId' to be of type Number.", id="sequence-float"),
    pytest.param(b'{"type":9,"sequenceId":true}', "Expected 'sequenceId' to be of type Number.", id="sequence-bool"),
    pytest.param(b'{"type":9,"sequenceId":9223372036854775808}', "Int64", id="sequence-beyond-int64"),
    pytest.param(b'{"type":1,"target":"A","arguments":[NaN]}', "'NaN' is not a JSON value", id="nan"),
    pytest.param(b'{"type":1,"target":"A","arguments":[Infinity]}', "'Infinity' is not a JSON value", id="infinity"),
    pytest.param(b'{"type":1,"target":"A","arguments":[-Infinity]}', "'-Infinity' is not a JSON value", id="-infinity"),
    pytest.param(b'{"type":1,"target":"A","arguments":["\\ud800"]}', "unpaired surrogate", id="lone-high-surrogate"),
    pytest.param(b'{"type":1,"target":"A","arguments":["\\uDFFF x"]}', "unpaired surrogate", id="lone-low-surrogate"),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[{"\\udc00":1}]}', "unpaired surrogate", id="lone-surrogate-in-key"
    ),
    pytest.param(
        b'{"type":1,"target":"A","arguments":[' + b"1" * 5000 + b"]}", "Error reading JSON", id="huge-integer"
    ),
]


@pytest.mark.parametrize(("record", "error"), INVALID_RECORDS)
def test_invalid_records_are_protocol_errors(record, error):
    assert error in decode_error(record)
    with pytest.raises(ProtocolError):
        parse(record + RS)


@pytest.mark.parametrize("depth", [100, 5_000, 200_000])
def test_deep_nesting_is_a_protocol_error_not_a_crash(depth):
    nested = b"[" * depth + b"]" * depth
    record = b'{"type":1,"target":"A","arguments":[' + nested + b"]}"
    try:
        message = JSON.decode(record)
    except ProtocolError:
        assert depth > 100  # only the recursion limit may refuse it
    else:
        assert depth == 100 and isinstance(message, InvocationMessage)
    assert "Error reading JSON" in decode_error(b"[" * 200_000)


def test_unknown_message_types_are_skipped():
    for record in (b'{"type":99}', b'{"type":0}', b'{"type":-1,"target":5}', b'{"type":10,"sequenceId":"x"}'):
        assert JSON.decode(record) is None
    data = b'{"type":99,"whatever":[1]}' + RS + b'{"type":6}' + RS + b'{"type":12}' + RS
    assert parse(data) == [PingMessage()]


# --- framing ---------------------------------------------------------------------------

STREAM = [
    InvocationMessage("Add", [1, 2], invocation_id="0"),
    StreamItemMessage("0", "a\x1eb"),
    CompletionMessage("0"),
    PingMessage(),
    CloseMessage(),
]


def test_several_records_in_one_buffer_in_order():
    data = b"".join(JSON.encode(m) for m in STREAM)
    assert parse(data) == STREAM


def test_split_at_every_byte_boundary():
    data = b"".join(JSON.encode(m) for m in STREAM)
    for cut in range(len(data) + 1):
        buffer = bytearray(data[:cut])
        first = JSON.parse(buffer, None)
        assert RS not in buffer
        buffer += data[cut:]
        assert first + JSON.parse(buffer, None) == STREAM
        assert buffer == b""


def test_one_byte_at_a_time():
    data = b"".join(JSON.encode(m) for m in STREAM)
    buffer = bytearray()
    messages = []
    for byte in data:
        buffer.append(byte)
        messages += JSON.parse(buffer, 64)
    assert messages == STREAM and buffer == b""


def test_incomplete_tail_stays_in_the_buffer():
    buffer = bytearray(b'{"type":6}' + RS + b'{"type":1,"tar')
    assert JSON.parse(buffer, None) == [PingMessage()]
    assert buffer == b'{"type":1,"tar'
    assert JSON.parse(bytearray(), None) == []


def test_max_size_counts_the_record_with_its_separator():
    record = b'{"type":1,"target":"Echo","arguments":["' + b"x" * 50 + b'"]}' + RS
    size = len(record)
    assert len(parse(record, size)) == 1
    with pytest.raises(MessageTooLargeError) as info:
        parse(record, size - 1)
    assert str(info.value) == (
        f"The maximum message size of {size - 1}B was exceeded. "
        "The message size can be configured with HUBS_MAX_MESSAGE_SIZE."
    )
    assert info.value.wire_name == "InvalidDataException"
    assert info.value.limit == size - 1


def test_an_unterminated_tail_fails_once_it_cannot_fit():
    buffer = bytearray(b"x" * 99)
    assert JSON.parse(buffer, 100) == [] and len(buffer) == 99
    buffer += b"x"  # 100 bytes without a separator: the record would need 101
    with pytest.raises(MessageTooLargeError):
        JSON.parse(buffer, 100)


def test_max_size_applies_per_record_not_per_buffer():
    data = JSON.encode(PingMessage()) * 50
    assert parse(data, len(JSON.encode(PingMessage()))) == [PingMessage()] * 50


def test_messages_before_a_bad_record_are_handed_over():
    data = JSON.encode(PingMessage()) + JSON.encode(AckMessage(1)) + b"{oops}" + RS + JSON.encode(PingMessage())
    with pytest.raises(ProtocolError) as info:
        parse(data)
    assert list(info.value.parsed) == [PingMessage(), AckMessage(1)]


def test_messages_before_an_oversized_record_are_handed_over():
    data = JSON.encode(PingMessage()) + b'{"type":1,"target":"' + b"x" * 100
    with pytest.raises(MessageTooLargeError) as info:
        JSON.parse(bytearray(data), 50)
    assert list(info.value.parsed) == [PingMessage()]


def test_nesting_has_one_limit_on_every_python():
    from django_hubs.protocol.json import MAX_DEPTH, TOO_DEEP

    def record(depth: int, text: str = "") -> bytes:
        nested = b"[" * (depth - 2) + text.encode() + b"]" * (depth - 2)
        return b'{"type":1,"target":"A","arguments":[' + nested + b"]}"  # the message and its arguments: two levels

    assert isinstance(JSON.decode(record(MAX_DEPTH)), InvocationMessage)
    for exact in (JSON.decode, JSON._decode_exactly):
        with pytest.raises(ProtocolError, match=re.escape(TOO_DEEP)):
            exact(record(MAX_DEPTH + 1))
    # Brackets inside strings nest nothing.
    assert isinstance(JSON.decode(record(10, '"' + "[" * 2_000 + '\\"{"')), InvocationMessage)
