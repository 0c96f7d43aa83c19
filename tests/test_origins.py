"""The WebSocket origin check: cross-site WebSocket hijacking stops at the upgrade."""

from __future__ import annotations

import logging

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from django_hubs.origins import check_origin
from tests.asgi import application
from tests.testapp import hubs

TRUSTED = "https://app.example.com"


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "testserver", True),  # not a browser
        ("http://testserver", "testserver", True),  # same origin
        ("https://testserver", "testserver", True),  # same origin behind a TLS proxy
        ("http://localhost:8000", "localhost:8000", True),
        ("http://localhost:8000", "localhost:9000", False),  # another port is another origin
        ("http://localhost", "localhost:8000", False),
        ("https://localhost:443", "localhost", True),
        ("http://evil.example", "evil.example", False),  # matches Host, but not ALLOWED_HOSTS
        ("http://evil.example", "testserver", False),
        ("null", "testserver", False),  # sandboxed pages and file: URLs
        ("not a url", "testserver", False),
        (TRUSTED, "testserver", True),
        ("https://app.example.com:8443", "testserver", False),
        ("http://app.example.com", "testserver", False),
        ("https://x.trusted.example", "testserver", True),  # by regex
        ("https://x.trusted.example.evil", "testserver", False),
    ],
)
@override_settings(CORS_ALLOWED_ORIGINS=[TRUSTED], CORS_ALLOWED_ORIGIN_REGEXES=[r"^https://\w+\.trusted\.example$"])
def test_check_origin(origin, host, allowed):
    assert check_origin(origin, host).allowed is allowed


@override_settings(CORS_ALLOW_ALL_ORIGINS=True)
def test_allow_all_origins():
    assert check_origin("http://evil.example", "testserver").allowed


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
def test_debug_localhost_defaults_as_django_applies_them():
    assert check_origin("http://localhost:8000", "localhost:8000").allowed
    assert not check_origin("http://evil.example", "evil.example").allowed


async def upgrade(origin: str | None, path: str = "/hubs/test", host: bytes = b"testserver"):
    headers = [(b"host", host)]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    if connected:
        await communicator.disconnect()
    return connected, code


@override_settings(CORS_ALLOWED_ORIGINS=[TRUSTED])
async def test_a_foreign_origin_is_refused_before_any_hub_code(caplog):
    caplog.set_level(logging.INFO)
    assert await upgrade("http://evil.example", "/hubs/test?greet=1") == (False, 1008)
    assert "origin 'http://evil.example' not allowed" in caplog.text
    assert "neither listed in CORS_ALLOWED_ORIGINS" in caplog.text
    assert not [r for r in caplog.records if r.name == "django_hubs.connection"]  # no connection was made
    assert hubs.events == []


@override_settings(CORS_ALLOWED_ORIGINS=[TRUSTED])
async def test_listed_same_and_missing_origins_connect():
    assert (await upgrade(TRUSTED))[0]
    assert (await upgrade("http://testserver"))[0]
    assert (await upgrade(None))[0]


async def test_no_cors_setting_means_same_origin_only():
    assert (await upgrade("http://testserver"))[0]
    assert not (await upgrade(TRUSTED))[0]


async def test_refusal_is_a_403_where_the_server_supports_http_responses():
    scope = {
        "type": "websocket",
        "path": "/hubs/test",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"origin", b"http://evil.example")],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    start = await communicator.receive_output(5)
    assert (start["type"], start["status"]) == ("websocket.http.response.start", 403)


@override_settings(USE_X_FORWARDED_HOST=True)
async def test_forwarded_host_counts_where_django_trusts_it():
    headers = [(b"host", b"internal:8000"), (b"x-forwarded-host", b"localhost"), (b"origin", b"https://localhost")]
    communicator = WebsocketCommunicator(application, "/hubs/test", headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.disconnect()
