"""Authentication of hub connections: simplejwt tokens first, then the session, then anonymous.

Driven through the whole ASGI application (origin check, JWT, session, hub), in process.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import jwt
import pytest
from asgiref.testing import ApplicationCommunicator
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient, RequestFactory, override_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from django_hubs.asgi import get_asgi_application
from django_hubs.security.auth import InvalidTokenError, authenticate_request, request_identity
from tests.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

RS = "\x1e"


@pytest.fixture
def alice() -> User:
    return User.objects.create(username="alice")


@pytest.fixture
def bob() -> User:
    return User.objects.create(username="bob")


def access_token(user: User, lifetime: timedelta | None = None) -> str:
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def forged_token(user: User) -> str:
    """Well-formed and unexpired, but signed with a key the server does not have."""
    claims = {"token_type": "access", "exp": int(time.time()) + 300, "jti": "x", "user_id": str(user.pk)}
    return jwt.encode(claims, "not-the-server-key-but-32-bytes-long-anyway", algorithm="HS256")


async def connect(path: str, headers: list[tuple[bytes, bytes]] | None = None):
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def handshake(communicator: WebsocketCommunicator) -> None:
    await communicator.send_to(text_data=json.dumps({"protocol": "json", "version": 1}) + RS)
    assert await communicator.receive_from(timeout=5) == "{}" + RS


async def next_message(communicator: WebsocketCommunicator, timeout: float = 5) -> dict:
    """The next hub message that is not a ping."""
    while True:
        text = await communicator.receive_from(timeout=timeout)
        for record in filter(None, text.split(RS)):
            message = json.loads(record)
            if message["type"] != 6:
                return message


async def invoke(communicator: WebsocketCommunicator, target: str, *args: object) -> object:
    await communicator.send_to(
        text_data=json.dumps({"type": 1, "invocationId": "1", "target": target, "arguments": list(args)}) + RS
    )
    completion = await next_message(communicator)
    assert completion["type"] == 3, completion
    assert "error" not in completion, completion
    return completion.get("result")


async def whoami(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> object:
    communicator, connected, code = await connect(path, headers)
    assert connected, code
    try:
        await handshake(communicator)
        return await invoke(communicator, "whoami")
    finally:
        await communicator.disconnect()


def bearer(token: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode())]


# --- WebSockets ----------------------------------------------------------------------------


async def test_query_token_authenticates_a_websocket(alice):
    token = access_token(alice)
    assert await whoami(f"/hubs/private?access_token={token}") == str(alice.pk)
    assert await whoami(f"/hubs/test?access_token={token}") == str(alice.pk)


async def test_header_token_authenticates_a_websocket(alice):
    # Node's JS client, signalrcore and pysignalr send the header on the upgrade.
    assert await whoami("/hubs/private", bearer(access_token(alice))) == str(alice.pk)


async def test_without_a_token_the_user_is_anonymous():
    assert await whoami("/hubs/test") is None
    _, connected, code = await connect("/hubs/private")
    assert (connected, code) == (False, 1008)


async def test_the_session_user_is_used_without_a_token(alice, bob, client):
    await client.aforce_login(alice)
    cookie = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    assert await whoami("/hubs/private", cookie) == str(alice.pk)
    # A token, when sent, decides over the cookie.
    assert await whoami(f"/hubs/private?access_token={access_token(bob)}", cookie) == str(bob.pk)


def refused_tokens(user: User) -> dict[str, str]:
    return {
        "forged": forged_token(user),
        "expired": access_token(user, timedelta(seconds=-30)),
        "refresh token": str(RefreshToken.for_user(user)),
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize("kind", ["forged", "expired", "refresh token", "garbage"])
@pytest.mark.parametrize("where", ["query", "header"])
async def test_an_invalid_token_refuses_the_upgrade(alice, caplog, kind, where):
    token = refused_tokens(alice)[kind]
    caplog.set_level(logging.INFO)
    # Even on a hub anonymous users may use: a bad token is never downgraded to anonymous.
    if where == "query":
        _, connected, code = await connect(f"/hubs/test?access_token={token}")
    else:
        _, connected, code = await connect("/hubs/test", bearer(token))
    assert (connected, code) == (False, 1008)
    refusals = [r for r in caplog.records if r.name == "django_hubs.auth"]
    assert len(refusals) == 1 and "invalid access token" in refusals[0].getMessage()
    assert token not in caplog.text


async def test_a_deleted_user_token_is_refused(alice):
    token = access_token(alice)
    await alice.adelete()
    _, connected, _ = await connect(f"/hubs/test?access_token={token}")
    assert not connected


async def test_refusal_is_a_401_where_the_server_supports_http_responses(alice):
    scope = {
        "type": "websocket",
        "path": "/hubs/test",
        "query_string": f"access_token={forged_token(alice)}".encode(),
        "headers": [(b"host", b"testserver")],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "websocket.connect"})
    start = await communicator.receive_output(5)
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 401


async def test_token_expiry_closes_the_connection(alice):
    # A 2 s token: the hub closes the connection when it expires, and lets the client reconnect
    # (and so fetch a fresh token), as CloseOnAuthenticationExpiration does.
    communicator, connected, _ = await connect(
        f"/hubs/private?access_token={access_token(alice, timedelta(seconds=2))}"
    )
    assert connected
    await handshake(communicator)
    assert await next_message(communicator, timeout=10) == {"type": 7, "allowReconnect": True}
    assert (await communicator.receive_output(5))["type"] == "websocket.close"


@override_settings(HUBS_CLOSE_ON_TOKEN_EXPIRY=False)
async def test_expiry_is_recorded_even_when_it_does_not_close(alice):
    # The scope carries the expiry; HUBS_CLOSE_ON_TOKEN_EXPIRY decides what happens with it.
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)
        await receive()
        await send({"type": "websocket.close"})

    from django_hubs.security.auth import JWTAuthMiddleware

    token = AccessToken.for_user(alice)
    communicator = WebsocketCommunicator(JWTAuthMiddleware(inner), f"/hubs/test?access_token={token}")
    await communicator.connect()
    assert seen["hubs_token_expires_at"] == float(token["exp"])
    assert seen["user"] == alice


async def test_other_websocket_paths_are_left_to_their_own_app(alice):
    # Your own consumers keep their own use of the query string.
    async def own_app(scope, receive, send):
        await receive()
        await send({"type": "websocket.accept"})

    app = get_asgi_application(websocket=own_app)
    communicator = WebsocketCommunicator(app, "/ws/own/?access_token=something-else")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()


# --- HTTP: negotiate and the hub path ------------------------------------------------------


async def negotiate(path: str = "/hubs/private", **kwargs):
    return await AsyncClient().post(f"{path}/negotiate?negotiateVersion=1", **kwargs)


async def test_negotiate_with_a_bearer_token(alice):
    response = await negotiate(headers={"Authorization": f"Bearer {access_token(alice)}"})
    assert response.status_code == 200
    assert json.loads(response.content)["connectionToken"]


async def test_negotiate_without_a_token_is_anonymous():
    assert (await negotiate()).status_code == 401
    assert (await negotiate("/hubs/test")).status_code == 200


@pytest.mark.parametrize("kind", ["forged", "expired", "refresh token", "garbage"])
async def test_negotiate_refuses_an_invalid_token(alice, caplog, kind):
    token = refused_tokens(alice)[kind]
    caplog.set_level(logging.INFO)
    response = await negotiate("/hubs/test", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "invalid access token" in caplog.text
    assert token not in caplog.text


async def test_negotiate_refuses_a_malformed_authorization_header():
    response = await negotiate("/hubs/test", headers={"Authorization": "Bearer two parts"})
    assert response.status_code == 401


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Basic dXNlcjpwdw=="])
async def test_an_authorization_header_without_a_bearer_token_is_no_token(value):
    assert (await negotiate("/hubs/test", headers={"Authorization": value})).status_code == 200
    assert (await negotiate("/hubs/private", headers={"Authorization": value})).status_code == 401


async def test_negotiate_with_the_session(alice):
    client = AsyncClient()
    await client.aforce_login(alice)
    assert (await client.post("/hubs/private/negotiate?negotiateVersion=1")).status_code == 200


async def test_negotiate_ignores_a_query_token(alice):
    # The query parameter is for the GETs that cannot carry headers (WebSocket, SSE).
    response = await AsyncClient().post(f"/hubs/private/negotiate?access_token={access_token(alice)}")
    assert response.status_code == 401


async def test_hub_path_refuses_an_invalid_token(alice):
    response = await AsyncClient().post("/hubs/test?id=x", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    response = await AsyncClient().get(
        "/hubs/test?id=x&access_token=not-a-jwt", headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 401


async def test_request_identity_for_server_sent_events(alice):
    # What the SSE and long-polling transports call: the token's user and its expiry.
    token = AccessToken.for_user(alice)
    request = RequestFactory().get(f"/hubs/test?id=x&access_token={token}", headers={"accept": "text/event-stream"})
    request.user = None
    identity = await request_identity(request)
    assert identity.user == alice
    assert identity.expires_at == float(token["exp"])
    assert request.user == alice and request.hubs_token_expires_at == identity.expires_at


async def test_request_identity_without_a_token_is_the_session_user(alice):
    request = RequestFactory().post(f"/hubs/test?id=x&access_token={access_token(alice)}")
    request.user = alice  # what AuthenticationMiddleware found in the session
    identity = await request_identity(request)
    assert identity.user == alice and identity.expires_at is None
    assert await authenticate_request(request) is None  # a POST's query token is not read


async def test_request_identity_raises_for_an_invalid_token():
    request = RequestFactory().get("/hubs/test?id=x", headers={"authorization": "Bearer not-a-jwt"})
    with pytest.raises(InvalidTokenError):
        await request_identity(request)
