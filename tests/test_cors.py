"""CORS on negotiate and the hub paths: what SignalR clients need, for listed origins only."""

from __future__ import annotations

import pytest
from channels.testing import HttpCommunicator
from django.test import override_settings

from tests.asgi import application

TRUSTED = "https://app.example.com"
SIGNALR_HEADERS = {"x-requested-with", "x-signalr-user-agent", "authorization", "content-type"}

# cors-headers' own defaults: credentials off, and no x-signalr-user-agent.
listed = override_settings(CORS_ALLOWED_ORIGINS=[TRUSTED])


async def request(method: str, path: str, origin: str | None = TRUSTED, **headers: str) -> dict:
    raw = [(b"host", b"testserver")]
    if origin is not None:
        raw.append((b"origin", origin.encode()))
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    response = await HttpCommunicator(application, method, path, headers=raw).get_response(timeout=5)
    response["headers"] = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response


def preflight(path: str, origin: str | None = TRUSTED, method: str = "POST") -> dict:
    return request(
        "OPTIONS",
        path,
        origin,
        access_control_request_method=method,
        access_control_request_headers="x-requested-with,x-signalr-user-agent,authorization",
    )


def listed_values(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(",")}


@listed
@pytest.mark.parametrize("path", ["/hubs/test/negotiate", "/hubs/test", "/hubs/test/"])
async def test_preflight_on_hub_endpoints_allows_what_signalr_sends(path):
    response = await preflight(path)
    headers = response["headers"]
    assert response["status"] == 200
    assert headers["access-control-allow-origin"] == TRUSTED
    assert headers["access-control-allow-credentials"] == "true"
    assert {"get", "post"} <= listed_values(headers["access-control-allow-methods"])
    assert listed_values(headers["access-control-allow-headers"]) >= SIGNALR_HEADERS
    assert "origin" in listed_values(headers["vary"])


@listed
@pytest.mark.django_db(transaction=True)
async def test_responses_to_a_listed_origin_allow_credentials():
    response = await request("POST", "/hubs/test/negotiate?negotiateVersion=1")
    assert response["status"] == 200
    assert response["headers"]["access-control-allow-origin"] == TRUSTED
    assert response["headers"]["access-control-allow-credentials"] == "true"


@listed
async def test_a_refused_token_is_readable_by_the_listed_origin():
    # The JS client must see the 401 to fetch a new token.
    response = await request("POST", "/hubs/test/negotiate", authorization="Bearer not-a-jwt")
    assert response["status"] == 401
    assert response["headers"]["access-control-allow-origin"] == TRUSTED
    assert response["headers"]["access-control-allow-credentials"] == "true"


@listed
@pytest.mark.parametrize("path", ["/hubs/test/negotiate", "/hubs/test"])
async def test_other_origins_get_nothing(path):
    for response in (
        await preflight(path, "https://evil.example"),
        await request("POST", path, "https://evil.example"),
    ):
        assert "access-control-allow-origin" not in response["headers"]
        assert "access-control-allow-credentials" not in response["headers"]


async def test_without_listed_origins_it_is_same_origin_only():
    response = await preflight("/hubs/test/negotiate")
    assert "access-control-allow-origin" not in response["headers"]


@listed
async def test_the_rest_of_the_site_keeps_cors_headers_settings():
    response = await preflight("/elsewhere/")
    headers = response["headers"]
    assert headers["access-control-allow-origin"] == TRUSTED  # cors-headers answered, as configured
    assert "access-control-allow-credentials" not in headers
    assert "x-signalr-user-agent" not in listed_values(headers["access-control-allow-headers"])


@override_settings(
    CORS_ALLOWED_ORIGIN_REGEXES=[r"^https://\w+\.example\.com$"],
    CORS_ALLOW_HEADERS=["x-custom"],
    CORS_ALLOW_METHODS=["PUT"],
    CORS_PREFLIGHT_MAX_AGE=60,
)
async def test_site_settings_are_extended_not_replaced():
    response = await preflight("/hubs/test/negotiate", "https://app.example.com")
    headers = response["headers"]
    assert headers["access-control-allow-origin"] == "https://app.example.com"
    assert {"put", "get", "post"} <= listed_values(headers["access-control-allow-methods"])
    assert {"x-custom", *SIGNALR_HEADERS} <= listed_values(headers["access-control-allow-headers"])
    assert headers["access-control-max-age"] == "60"


allow_all = override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=True)
ANYONE = "https://anyone.example"


def credentials(response: dict) -> tuple[str | None, str | None]:
    headers = response["headers"]
    return headers.get("access-control-allow-origin"), headers.get("access-control-allow-credentials")


@allow_all
@pytest.mark.parametrize("path", ["/hubs/test/negotiate", "/hubs/test"])
async def test_allow_all_gives_cookie_requests_no_credentials(path):
    # As cors-headers does without credentials: "*", which a browser never lets a page
    # read when the request carried cookies. Credentials on would hand every site the
    # visitor's session (cors-headers' own answer with CORS_ALLOW_CREDENTIALS).
    no_token = request("OPTIONS", path, ANYONE, access_control_request_method="POST")
    assert credentials(await no_token) == ("*", None)
    cookie_post = request("POST", path, ANYONE, cookie="sessionid=abc")
    assert credentials(await cookie_post) == ("*", None)
    not_a_bearer = request("POST", path, ANYONE, authorization="Basic YTpi")  # the session decides these
    assert credentials(await not_a_bearer) == ("*", None)


@allow_all
@pytest.mark.django_db(transaction=True)
async def test_allow_all_credentials_only_for_token_requests():
    from rest_framework_simplejwt.tokens import AccessToken

    # The preflight of a request with Authorization, and the request itself: the JS
    # client sends credentials (withCredentials) along with its token by default.
    assert credentials(await preflight("/hubs/test/negotiate", ANYONE)) == (ANYONE, "true")
    token = AccessToken()
    token["user_id"] = 1
    response = await request("POST", "/hubs/test/negotiate?negotiateVersion=1", ANYONE, authorization=f"Bearer {token}")
    assert credentials(response) == (ANYONE, "true")
    # A refused token is readable too, so that the client fetches a new one.
    refused = await request("POST", "/hubs/test/negotiate", ANYONE, authorization="Bearer not-a-jwt")
    assert refused["status"] == 401 and credentials(refused) == (ANYONE, "true")
    # SSE streams carry the token in the URL; only on GET does the query count.
    sse = await request("GET", "/hubs/test?id=nope&access_token=not-a-jwt", ANYONE)
    assert credentials(sse) == (ANYONE, "true")
    post = await request("POST", "/hubs/test?id=nope&access_token=not-a-jwt", ANYONE)
    assert credentials(post) == ("*", None)


@override_settings(CORS_ALLOW_ALL_ORIGINS=True, CORS_ALLOW_CREDENTIALS=True, CORS_ALLOWED_ORIGINS=[TRUSTED])
async def test_allow_all_keeps_credentials_for_listed_origins():
    response = await request("OPTIONS", "/hubs/test/negotiate", TRUSTED, access_control_request_method="POST")
    assert credentials(response) == (TRUSTED, "true")
