"""The WebSocket origin check: cross-site WebSocket hijacking stops at the upgrade."""

from __future__ import annotations

import logging

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from django_hubs.security.origins import check_origin
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


# --- IPv6 literals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("http://[::1]:8000", "[::1]:8000", True),  # a site served on an IPv6 literal, its own page
        ("http://[::1]", "[::1]", True),
        ("https://[::1]", "[::1]", True),
        ("http://[0:0::1]:8000", "[::1]:8000", True),  # one address, two spellings
        ("http://[::1]:8000", "[::1]:9000", False),
        ("http://[::1]", "[::1]:8000", False),  # no port in Origin: port 80, not this site
        ("http://[::2]:8000", "[::1]:8000", False),
        ("http://[::1]:8000", "127.0.0.1:8000", False),
        ("http://[2001:db8::1]:8000", "[2001:db8::1]:8000", False),  # not in ALLOWED_HOSTS
    ],
)
def test_ipv6_literal_sites(origin, host, allowed):
    assert check_origin(origin, host).allowed is allowed


async def test_an_ipv6_site_accepts_its_own_pages_upgrades():
    assert (await upgrade("http://[::1]:8000", host=b"[::1]:8000"))[0]
    assert not (await upgrade("http://[::1]:8000", host=b"[::1]:8001"))[0]


# --- CORS_ALLOW_ALL_ORIGINS: any origin, but not with the visitor's cookies -----------------


@override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOWED_ORIGINS=[TRUSTED])
def test_allow_all_trusts_only_listed_and_own_origins_with_cookies():
    foreign = check_origin("http://evil.example", "testserver")
    assert (foreign.allowed, foreign.cookies) == (True, False)
    assert check_origin("null", "testserver").cookies is False
    for trusted in (TRUSTED, "http://testserver", None):
        decision = check_origin(trusted, "testserver")
        assert (decision.allowed, decision.cookies) == (True, True)


def scope_for(path: str, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict:
    return {"type": "websocket", "path": path, "query_string": query, "headers": headers, "subprotocols": []}


async def through_origin_check(scope: dict) -> tuple[bool, dict | None]:
    """Run ``scope`` through the origin check alone: was it let in, and with which scope."""
    from django_hubs.security.origins import OriginCheckMiddleware

    seen: list[dict] = []

    async def inner(scope, receive, send):
        seen.append(scope)
        await receive()
        await send({"type": "websocket.accept"})

    communicator = ApplicationCommunicator(OriginCheckMiddleware(inner), scope)
    await communicator.send_input({"type": "websocket.connect"})
    answer = await communicator.receive_output(5)
    return answer["type"] == "websocket.accept", (seen[0] if seen else None)


FOREIGN = [(b"host", b"testserver"), (b"origin", b"http://evil.example")]
SESSION_COOKIE = (b"cookie", b"csrftoken=x; sessionid=abc")


@override_settings(CORS_ALLOW_ALL_ORIGINS=True)
async def test_allow_all_refuses_a_foreign_upgrade_whose_only_credential_is_the_session_cookie(caplog):
    caplog.set_level(logging.INFO)
    assert await through_origin_check(scope_for("/hubs/test", [*FOREIGN, SESSION_COOKIE])) == (False, None)
    assert "CORS_ALLOW_ALL_ORIGINS trusts no origin with the session cookie" in caplog.text
    # A token in the URL does not make a non-hub path safe: nothing there reads it.
    refused = await through_origin_check(scope_for("/ws/other", [*FOREIGN, SESSION_COOKIE], b"access_token=t"))
    assert refused == (False, None)


@override_settings(CORS_ALLOW_ALL_ORIGINS=True)
@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ([*FOREIGN, SESSION_COOKIE], b"access_token=some.jwt.value"),  # the token authenticates, not the cookie
        ([*FOREIGN, SESSION_COOKIE, (b"authorization", b"Bearer some.jwt.value")], b""),
        ([*FOREIGN, (b"cookie", b"csrftoken=x")], b""),  # no session cookie: anonymous
        (FOREIGN, b""),
    ],
)
async def test_allow_all_lets_foreign_upgrades_in_without_their_cookies(headers, query):
    allowed, scope = await through_origin_check(scope_for("/hubs/test", headers, query))
    assert allowed and scope is not None
    assert [name for name, _ in scope["headers"] if name == b"cookie"] == []


@override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOWED_ORIGINS=[TRUSTED])
async def test_allow_all_keeps_cookies_for_listed_and_same_origin_pages():
    for origin in (TRUSTED.encode(), b"http://testserver"):
        headers = [(b"host", b"testserver"), (b"origin", origin), SESSION_COOKIE]
        allowed, scope = await through_origin_check(scope_for("/hubs/test", headers))
        assert allowed and scope is not None and SESSION_COOKIE in scope["headers"]
