"""Handshake answers of a real connection (spec section 3), through the WebSocket transport."""

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from django_hubs.transports.websocket import WebSocketTransport


async def handshake(request: bytes | str, path: str = "/hubs/test") -> tuple[dict, dict]:
    communicator = WebsocketCommunicator(WebSocketTransport(), path)
    connected, _ = await communicator.connect()
    assert connected
    if isinstance(request, bytes):
        await communicator.send_to(bytes_data=request)
    else:
        await communicator.send_to(text_data=request)
    reply = await communicator.receive_output(2)
    closed = await communicator.receive_output(2)
    await communicator.disconnect()
    text = reply.get("text") or reply["bytes"].decode()
    assert text.endswith("\x1e")
    return json.loads(text[:-1]), closed


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        ('{"protocol":"foo","version":1}\x1e', "The protocol 'foo' is not supported."),
        ('{"protocol":"json","version":3}\x1e', "The server does not support version 3 of the 'json' protocol."),
        ('{"protocol":"json"}\x1e', "An unexpected error occurred during connection handshake."),
        ("not json\x1e", "An unexpected error occurred during connection handshake."),
    ],
)
async def test_handshake_errors_then_close(request_text, error):
    answer, closed = await handshake(request_text)
    assert answer == {"error": error}
    assert closed == {"type": "websocket.close", "code": 1000}


async def test_detailed_errors_explain_a_malformed_handshake():
    answer, _ = await handshake('{"protocol":"json"}\x1e', "/hubs/detailed")
    assert answer["error"].startswith("An unexpected error occurred during connection handshake. ")


@override_settings(HUBS_PROTOCOLS=["json"])
async def test_a_protocol_the_hub_does_not_offer_is_refused():
    answer, _ = await handshake('{"protocol":"messagepack","version":1}\x1e')
    assert answer == {"error": "The protocol 'messagepack' is not supported."}


@pytest.mark.parametrize("version", [0, 1, 2])
async def test_versions_the_clients_send_are_accepted(version):
    communicator = WebsocketCommunicator(WebSocketTransport(), "/hubs/test")
    await communicator.connect()
    # A Ping in the same frame as the handshake is a hub message and is read too.
    await communicator.send_to(text_data=f'{{"protocol":"json","version":{version}}}\x1e{{"type":6}}\x1e')
    assert await communicator.receive_from(2) == "{}\x1e"
    await communicator.disconnect()


@override_settings(HUBS_HANDSHAKE_TIMEOUT=0.2)
async def test_no_handshake_in_time_is_canceled():
    communicator = WebsocketCommunicator(WebSocketTransport(), "/hubs/test")
    await communicator.connect()
    reply = await communicator.receive_output(3)
    assert reply["text"] == '{"error":"Handshake was canceled."}\x1e'
    assert (await communicator.receive_output(2))["type"] == "websocket.close"
    await communicator.disconnect()
