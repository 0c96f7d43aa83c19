"""Where sync code runs: hub methods in their own bounded threads, auth checks apart; binding errors.

In process, through the whole ASGI application where authentication matters. The live
figures (daphne and uvicorn, real sockets) are in ``tests/reliability/test_threads.py``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import AsyncClient, TestCase, override_settings
from rest_framework_simplejwt.tokens import AccessToken

from django_hubs.testing import HubClient, HubInvocationError
from tests.asgi import application
from tests.test_transports_http import HANDSHAKE, records, request
from tests.testapp.threads import RAISES

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "hubs/threads"
BINDING_FAILED = "Failed to invoke 'strict' due to an error on the server."


@pytest.fixture
def alice() -> User:
    return User.objects.create(username="alice")


@pytest.fixture
def bob() -> User:
    """Bob may delete users: the ORM predicate of ``tests.testapp.threads`` lets him in."""
    user = User.objects.create(username="bob")
    user.user_permissions.add(Permission.objects.get(codename="delete_user"))
    return user


def token_query(user: User) -> str:
    return f"access_token={AccessToken.for_user(user)}"


# --- binding errors: an error completion for that call, whatever the exception -----------------


@pytest.mark.parametrize("kind", sorted(RAISES))
async def test_a_value_whose_validation_raises_fails_that_call_only(kind: str) -> None:
    async with HubClient(PATH) as client:
        with pytest.raises(HubInvocationError) as refused:
            await client.invoke("strict", {"kind": kind})
        assert str(refused.value) == BINDING_FAILED
        assert client.close_message is None and not client.closed.is_set()
        assert await client.invoke("strict", {"kind": "fine"}) == "fine"


@override_settings(HUBS_DETAILED_ERRORS=True)
async def test_detailed_errors_say_what_the_validation_raised() -> None:
    async with HubClient(PATH) as client:
        with pytest.raises(HubInvocationError, match="Strict refused the value"):
            await client.invoke("strict", {"kind": "key"})


async def test_a_binding_error_over_long_polling_is_an_error_completion_not_a_500() -> None:
    path = "/" + PATH
    status, _, body = await request("POST", "negotiateVersion=1", path=path + "/negotiate")
    assert status == 200, body
    token = json.loads(body)["connectionToken"]
    text = "text/plain;charset=UTF-8"
    assert (await request("GET", f"id={token}&_=0", path=path))[0] == 200  # the first poll answers at once
    assert (await request("POST", f"id={token}", HANDSHAKE, [("content-type", text)], path=path))[0] == 200
    assert records((await request("GET", f"id={token}&_=1", path=path))[2]) == [{}]
    calls = (
        b'{"type":1,"invocationId":"1","target":"strict","arguments":[{"kind":"validation"}]}\x1e'
        b'{"type":1,"invocationId":"2","target":"echo","arguments":["after"]}\x1e'
    )
    status, _, body = await request("POST", f"id={token}", calls, [("content-type", text)], path=path)
    assert (status, body) == (200, b"")
    found: list[dict[str, Any]] = []
    while len(found) < 2:
        status, _, body = await request("GET", f"id={token}&_=2", path=path)
        assert status == 200
        found += records(body)
    assert found == [
        {"type": 3, "invocationId": "1", "error": BINDING_FAILED},
        {"type": 3, "invocationId": "2", "result": "after"},
    ]


# --- @authorize(test=...) with a predicate that uses the ORM ---------------------------------


async def test_an_orm_predicate_on_a_method_decides_in_a_thread(alice: User, bob: User) -> None:
    async with HubClient(PATH, user=bob) as client:
        assert await client.invoke("delete_everything") == "deleted"
    async with HubClient(PATH, user=alice) as client:
        with pytest.raises(HubInvocationError, match="because user is unauthorized"):
            await client.invoke("delete_everything")
        assert await client.invoke("echo", "still open") == "still open"


async def test_an_orm_predicate_on_a_hub_class_decides_negotiate_and_connect(alice: User, bob: User) -> None:
    async def negotiate(user: User | None) -> int:
        headers = {} if user is None else {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
        response = await AsyncClient().post("/hubs/deleters/negotiate?negotiateVersion=1", headers=headers)
        return response.status_code

    assert await negotiate(bob) == 200
    assert await negotiate(alice) == 401
    assert await negotiate(None) == 401
    async with HubClient("hubs/deleters", query=token_query(bob), application=application) as client:
        assert await client.invoke("echo", 1) == 1
    with pytest.raises(ConnectionRefusedError):
        await HubClient("hubs/deleters", query=token_query(alice), application=application).connect()


# --- threads: apart per connection, bounded, auth on its own path -------------------------------


async def until_running(probe: HubClient, count: int) -> None:
    for _ in range(500):
        if await probe.invoke("running") >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} sleep_sync call(s) never ran at once")


@override_settings(HUBS_SYNC_THREADS=3)
async def test_a_slow_sync_method_holds_one_thread_not_everyone(alice: User) -> None:
    """Two connections sleep in sync methods; a third authenticates by token and calls a sync method.

    On Channels' one shared thread the third waited for both (and the second for the first).
    """
    async with HubClient(PATH) as one, HubClient(PATH) as two, HubClient(PATH) as probe:
        slow = [asyncio.ensure_future(client.invoke("sleep_sync", 2.0)) for client in (one, two)]
        await until_running(probe, 2)
        async with HubClient(PATH, query=token_query(alice), application=application) as third:
            assert await third.invoke("whoami") == str(alice.pk)
            quick = await third.invoke("count_users")
        first, second = await asyncio.gather(*slow)
    assert quick["ended"] < min(first["ended"], second["ended"])
    assert second["started"] < first["ended"] and first["started"] < second["ended"]  # they overlapped
    assert {first["thread"], second["thread"]} <= {f"hubs-sync_{n}" for n in range(3)}


@override_settings(HUBS_SYNC_THREADS=1)
async def test_auth_checks_do_not_queue_behind_a_full_pool(alice: User) -> None:
    async with HubClient(PATH) as one, HubClient(PATH) as probe:
        slow = asyncio.ensure_future(one.invoke("sleep_sync", 2.0))
        await until_running(probe, 1)
        async with HubClient(PATH, query=token_query(alice), application=application) as third:
            assert await third.invoke("whoami") == str(alice.pk)
        assert not slow.done()
        await slow


@override_settings(HUBS_SYNC_THREADS=1)
async def test_session_checks_do_not_queue_behind_a_full_pool(alice: User, bob: User, client: Any) -> None:
    """The session user (Channels' ``get_user``) and a permission check, while the pool is busy."""
    await client.aforce_login(bob)
    cookie = [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]
    async with HubClient(PATH) as one, HubClient(PATH) as probe:
        slow = asyncio.ensure_future(one.invoke("sleep_sync", 2.0))
        await until_running(probe, 1)
        async with HubClient("hubs/deleters", headers=cookie, application=application) as third:
            assert await third.invoke("echo", "in") == "in"
        async with HubClient(PATH, headers=cookie, application=application) as fourth:
            assert await fourth.invoke("whoami") == str(bob.pk)
            assert await fourth.invoke("delete_everything") == "deleted"
        assert not slow.done()
        await slow


@override_settings(HUBS_SYNC_THREADS=4)
async def test_one_connections_sync_calls_run_in_the_order_sent() -> None:
    async with HubClient(PATH) as client:
        calls = [asyncio.ensure_future(client.invoke("append", "log", n, 0.2 if n == 0 else 0.0)) for n in range(4)]
        assert await asyncio.gather(*calls) == [0, 1, 2, 3]
        assert await client.invoke("order", "log") == [0, 1, 2, 3]


async def test_database_connections_are_closed_around_each_call_in_its_thread(monkeypatch) -> None:
    from django_hubs.server import threads

    seen: list[str] = []
    original = threads.close_old_connections

    def recording() -> None:
        seen.append(threading.current_thread().name)
        original()

    monkeypatch.setattr(threads, "close_old_connections", recording)
    async with HubClient(PATH) as client:
        await client.invoke("count_users")
    assert len(seen) == 2 and all(name.startswith("hubs-sync") for name in seen), seen


@override_settings(HUBS_MAX_PARALLEL_INVOCATIONS=2, HUBS_SYNC_THREADS=4)
async def test_with_parallel_invocations_one_connections_sync_calls_run_side_by_side() -> None:
    """As its async methods do (and the official server's): the order is then the methods' own business."""
    async with HubClient(PATH) as client, HubClient(PATH) as probe:
        slow = asyncio.ensure_future(client.invoke("sleep_sync", 2.0))
        await until_running(probe, 1)
        assert (await client.invoke("count_users"))["users"] == 0
        assert not slow.done()
        await slow


class InADjangoTestCase(TestCase):
    """Django runs an ``async def`` test through ``async_to_sync``, inside the test's transaction.

    Sync code then runs in the test's own thread, as with Channels, or it would not see the
    rows the test created (nor survive ``close_old_connections`` closing its connection).
    """

    async def test_token_checks_and_sync_methods_see_the_tests_transaction(self) -> None:
        carol = await User.objects.acreate(username="carol")
        carol_perm = await Permission.objects.aget(codename="delete_user")
        await carol.user_permissions.aadd(carol_perm)
        async with HubClient(PATH, query=token_query(carol), application=application) as client:
            assert await client.invoke("whoami") == str(carol.pk)
            assert (await client.invoke("count_users"))["users"] == 1
            assert await client.invoke("delete_everything") == "deleted"
