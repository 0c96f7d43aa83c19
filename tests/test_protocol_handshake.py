"""The handshake on bytes alone (spec section 3): always a JSON record, whatever the protocol."""

from __future__ import annotations

import json

import pytest

from django_hubs.protocol.errors import MessageTooLargeError, ProtocolError
from django_hubs.protocol.handshake import (
    HANDSHAKE_CANCELED,
    HANDSHAKE_SUCCESS,
    HANDSHAKE_UNEXPECTED,
    HandshakeFormatError,
    handshake_error,
    parse_handshake,
)
from django_hubs.protocol.json import JsonHubProtocol
from django_hubs.protocol.messagepack import MessagePackHubProtocol
from django_hubs.protocol.messages import HandshakeRequest, PingMessage

RS = b"\x1e"


def test_success_reply_is_exactly_empty_object_and_separator():
    assert bytes([0x7B, 0x7D, 0x1E]) == HANDSHAKE_SUCCESS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The protocol 'foo' is not supported.", b'{"error":"The protocol \'foo\' is not supported."}'),
        (HANDSHAKE_CANCELED, b'{"error":"Handshake was canceled."}'),
        (HANDSHAKE_UNEXPECTED, b'{"error":"An unexpected error occurred during connection handshake."}'),
        ('quote " and \\ back', b'{"error":"quote \\" and \\\\ back"}'),
    ],
)
def test_error_reply(text, expected):
    assert handshake_error(text) == expected + RS


def test_error_reply_is_ascii_for_messagepack_clients():
    # The msgpack JS client reads the handshake one byte per character.
    data = handshake_error("Protokoll 'ü' \u2013 nicht unterstützt\x1e")
    assert data.isascii()
    assert data.count(RS) == 1 and data.endswith(RS)
    assert json.loads(data[:-1]) == {"error": "Protokoll 'ü' \u2013 nicht unterstützt\x1e"}


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (b'{"protocol":"json","version":1}', HandshakeRequest("json", 1)),
        (b'{"protocol":"messagepack","version":2}', HandshakeRequest("messagepack", 2)),
        (b'{"protocol":"json","version":0}', HandshakeRequest("json", 0)),  # signalrcore after a v0 negotiate
        (b'{"version":3,"protocol":"json"}', HandshakeRequest("json", 3)),  # refused later, by the connection
        (b'{"protocol":"foo","version":1,"minorVersion":5,"x":{"y":[1]}}', HandshakeRequest("foo", 1)),
        (b' { "protocol" : "json" , "version" : 1 } ', HandshakeRequest("json", 1)),
    ],
)
def test_requests_parse(record, expected):
    buffer = bytearray(record + RS)
    assert parse_handshake(buffer, 32768) == expected
    assert buffer == b""


@pytest.mark.parametrize(
    ("record", "error"),
    [
        pytest.param(b'{"version":1}', "Missing required property 'protocol'.", id="protocol-missing"),
        pytest.param(b'{"protocol":null,"version":1}', "Missing required property 'protocol'.", id="protocol-null"),
        pytest.param(b'{"protocol":1,"version":1}', "Missing required property 'protocol'.", id="protocol-number"),
        pytest.param(b'{"protocol":"json"}', "Missing required property 'version'.", id="version-missing"),
        pytest.param(b'{"protocol":"json","version":"1"}', "Missing required property 'version'.", id="version-string"),
        pytest.param(b'{"protocol":"json","version":1.0}', "Missing required property 'version'.", id="version-float"),
        pytest.param(b'{"protocol":"json","version":true}', "Missing required property 'version'.", id="version-bool"),
        pytest.param(b"[]", "The handshake request is not a JSON object.", id="array"),
        pytest.param(b'"json"', "The handshake request is not a JSON object.", id="string"),
        pytest.param(b"", "The handshake request is not valid JSON.", id="empty"),
        pytest.param(b'{"protocol":"json",', "The handshake request is not valid JSON.", id="truncated"),
        pytest.param(b'{"protocol":"js\xffon","version":1}', "The handshake request is not valid JSON.", id="bad-utf8"),
        pytest.param(b"[" * 100_000, "The handshake request is not valid JSON.", id="deep-nesting"),
        pytest.param(b'{"protocol":"json","version":1}x', "The handshake request is not valid JSON.", id="garbage"),
    ],
)
def test_malformed_requests(record, error):
    buffer = bytearray(record + RS)
    with pytest.raises(HandshakeFormatError) as info:
        parse_handshake(buffer, None)
    assert str(info.value) == error


def test_incomplete_request_waits():
    request = b'{"protocol":"json","version":1}' + RS
    buffer = bytearray()
    for index, byte in enumerate(request):
        assert buffer == request[:index]
        result = parse_handshake(buffer, 32768)
        assert result is None
        buffer.append(byte)
    assert parse_handshake(buffer, 32768) == HandshakeRequest("json", 1)
    assert buffer == b""


def test_bytes_after_the_separator_stay_for_the_hub_protocol():
    # The JS client sends a Ping right after the handshake, often in the same frame.
    buffer = bytearray(b'{"protocol":"json","version":1}' + RS + b'{"type":6}' + RS + b'{"ty')
    assert parse_handshake(buffer, 32768) == HandshakeRequest("json", 1)
    assert buffer == b'{"type":6}' + RS + b'{"ty'
    assert JsonHubProtocol().parse(buffer, 32768) == [PingMessage()]
    assert buffer == b'{"ty'


def test_binary_bytes_after_the_separator_stay_too():
    buffer = bytearray(b'{"protocol":"messagepack","version":1}' + RS + bytes.fromhex("02 91 06 1e 1e"))
    assert parse_handshake(buffer, 32768) == HandshakeRequest("messagepack", 1)
    assert buffer == bytes.fromhex("02 91 06 1e 1e")
    assert MessagePackHubProtocol().parse(buffer, None) == [PingMessage()]


def test_oversized_request_counts_the_separator():
    record = b'{"protocol":"json","version":1}'
    size = len(record) + 1
    assert parse_handshake(bytearray(record + RS + b"x" * 100), size) == HandshakeRequest("json", 1)
    with pytest.raises(MessageTooLargeError):
        parse_handshake(bytearray(record + RS), size - 1)


def test_oversized_incomplete_request_fails_without_waiting():
    buffer = bytearray(b"{" + b" " * 98)
    assert parse_handshake(buffer, 100) is None
    buffer += b" "
    with pytest.raises(MessageTooLargeError) as info:
        parse_handshake(buffer, 100)
    assert isinstance(info.value, ProtocolError)


def test_no_limit_means_no_limit():
    padding = b" " * 100_000
    buffer = bytearray(b'{"protocol":"json",' + padding + b'"version":1}' + RS)
    assert parse_handshake(buffer, None) == HandshakeRequest("json", 1)
