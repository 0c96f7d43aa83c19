"""The dispatcher and the client proxies, driven in process through django_hubs.testing."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import AnonymousUser, User
from django.test import override_settings

from django_hubs import Hub, HubError, get_hub_context
from django_hubs.testing import HubClient, HubInvocationError
from tests.testapp.hubs import TestHub, events

pytestmark = pytest.mark.django_db(transaction=True)


class FakeUser:
    is_authenticated = True

    def __init__(self, pk: int, perms: tuple[str, ...] = ()) -> None:
        self.pk = pk
        self.perms = perms

    def has_perms(self, perms):
        return all(p in self.perms for p in perms)


@pytest.fixture(params=["json", "messagepack"])
def protocol(request):
    return request.param


async def test_invoke_results_and_void(protocol):
    async with HubClient("hubs/test", protocol=protocol) as client:
        assert await client.invoke("Add", 1, 2) == 3
        assert await client.invoke("add", 2.0, 3) == 5
        assert await client.invoke("nothing") is None
        assert await client.invoke("echo", {"a": [1, None, "é"]}) == {"a": [1, None, "é"]}
        connection_id = await client.invoke("GetConnectionId")
        assert connection_id == await client.invoke("get_connection_id") == await client.invoke("getconnectionid")
        assert len(connection_id) == 22


async def test_sync_method_uses_the_orm(protocol):
    await User.objects.acreate(username="carol")
    async with HubClient("hubs/test", protocol=protocol) as client:
        assert await client.invoke("count_users") == 1


@pytest.mark.parametrize(
    ("path", "target", "args", "expected"),
    [
        ("hubs/test", "fail", [], "An unexpected error occurred invoking 'fail' on the server."),
        (
            "hubs/detailed",
            "fail",
            [],
            "An unexpected error occurred invoking 'fail' on the server. ValueError: secret detail",
        ),
        (
            "hubs/test",
            "refuse",
            [],
            "An unexpected error occurred invoking 'refuse' on the server. HubException: Room is full",
        ),
        (
            "hubs/test",
            "nope",
            [],
            "Failed to invoke 'nope' due to an error on the server. HubException: Method does not exist.",
        ),
        ("hubs/test", "add", [1], "Failed to invoke 'add' due to an error on the server."),
        (
            "hubs/detailed",
            "add",
            [1],
            "Failed to invoke 'add' due to an error on the server. "
            "InvalidDataException: Invocation provides 1 argument(s) but target expects 2.",
        ),
        (
            "hubs/detailed",
            "add",
            [1, "x"],
            "Failed to invoke 'add' due to an error on the server. InvalidDataException: Error binding argument 2. "
            "Make sure that the types of the provided values match the types of the hub method being invoked. "
            "Argument 'b': expected int, got str.",
        ),
        (
            "hubs/test",
            "counter",
            [3],
            "The client attempted to invoke the streaming 'counter' method with a non-streaming invocation.",
        ),
        ("hubs/test", "secret", [], "Failed to invoke 'secret' because user is unauthorized"),
    ],
)
async def test_error_texts(path, target, args, expected):
    async with HubClient(path) as client:
        with pytest.raises(HubInvocationError) as info:
            await client.invoke(target, *args)
        assert str(info.value) == expected
        assert await client.invoke("add", 1, 1) == 2  # the connection is still usable


async def test_send_gets_no_answer_even_on_error():
    async with HubClient("hubs/test") as client:
        await client.send("fail")
        await client.send("nope")
        await client.send("send_message", "me", "hi")
        message = await client.receive("ReceiveMessage")
        assert message.arguments == ["me", "hi"]
        assert await client.invoke("add", 1, 1) == 2
        assert client.messages.empty()


async def test_proxies_address_the_right_connections():
    async with HubClient("hubs/test") as a, HubClient("hubs/test") as b, HubClient("hubs/test") as c:
        ids = [await x.invoke("get_connection_id") for x in (a, b, c)]
        await a.invoke("join", "g")
        await b.invoke("join", "g")
        await a.invoke("to_others", "1")
        await a.invoke("to_caller", "2")
        await a.invoke("to_connection", ids[2], "3")
        await a.invoke("to_connections", [ids[0], ids[1]], "4")
        await a.invoke("to_all_except", [ids[0]], "5")
        await c.invoke("to_group", "g", "6")
        await c.invoke("to_groups", ["g", "other"], "7")
        await c.invoke("to_group_except", "g", [ids[1]], "8")
        await a.invoke("to_others_in_group", "g", "9")
        await b.invoke("leave", "g")
        await c.invoke("to_group", "g", "10")
        await a.invoke("send_message", "end", "end")

        async def drain(client):
            got = []
            while True:
                message = await client.receive()
                if message.target == "ReceiveMessage":
                    return got
                got.append(message.arguments[1])

        assert await drain(a) == ["2", "4", "6", "7", "8", "10"]
        assert await drain(b) == ["1", "4", "5", "6", "7", "9"]
        assert await drain(c) == ["1", "3", "5"]


async def test_users_reach_every_connection_of_a_user():
    alice, bob = FakeUser(1), FakeUser(2)
    async with (
        HubClient("hubs/test", user=alice) as a1,
        HubClient("hubs/test", user=alice) as a2,
        HubClient("hubs/test", user=bob) as b,
        HubClient("hubs/test") as anonymous,
    ):
        assert await a1.invoke("whoami") == "1"
        assert await anonymous.invoke("whoami") is None
        await anonymous.invoke("to_user", "1", "for alice")
        assert (await a1.receive("Receive")).arguments == ["user", "for alice"]
        assert (await a2.receive("Receive")).arguments == ["user", "for alice"]
        await anonymous.invoke("to_users", ["1", "2"], "for both")
        for client in (a1, a2, b):
            assert (await client.receive("Receive")).arguments == ["users", "for both"]
        await anonymous.invoke("send_message", "end", "end")
        assert (await b.receive()).target == "ReceiveMessage"


async def test_authorize_permissions():
    async with (
        HubClient("hubs/test", user=FakeUser(1)) as member,
        HubClient("hubs/test", user=FakeUser(2, ("auth.delete_user",))) as moderator,
    ):
        assert await member.invoke("secret") == "for members"
        with pytest.raises(HubInvocationError, match="because user is unauthorized"):
            await member.invoke("moderate")
        assert await moderator.invoke("moderate") == "moderated"


async def test_hub_level_authorize_refuses_anonymous_websocket():
    with pytest.raises(ConnectionRefusedError):
        await HubClient("hubs/private", user=AnonymousUser()).connect()
    async with HubClient("hubs/private", user=FakeUser(5)) as client:
        assert await client.invoke("whoami") == "5"


async def test_streams_both_ways(protocol):
    async with HubClient("hubs/test", protocol=protocol) as client:
        assert [i async for i in client.stream("counter", 4)] == [0, 1, 2, 3]
        with pytest.raises(HubInvocationError, match="non-streaming 'add' method with a streaming invocation"):
            [i async for i in client.stream("add", 1, 2)]


async def test_client_results(protocol):
    async with HubClient("hubs/test", protocol=protocol) as asker, HubClient("hubs/test", protocol=protocol) as other:
        asker.on("Ask", lambda question: f"caller answers {question}")

        async def answer(question):
            await asyncio.sleep(0)
            return {"answer": question}

        other.on("ask", answer)
        assert await asker.invoke("ask_caller", "q1") == "caller answers q1"
        other_id = await other.invoke("get_connection_id")
        assert await asker.invoke("ask_client", other_id, "q2") == {"answer": "q2"}

        def broken(question):
            raise RuntimeError("no")

        other.on("ask", broken)
        with pytest.raises(HubInvocationError, match="HubException: Error: no"):
            await asker.invoke("ask_client", other_id, "q3")


async def test_client_result_without_handler():
    async with HubClient("hubs/test") as client:
        with pytest.raises(HubInvocationError, match=r"HubException: Client didn't provide a result\."):
            await client.invoke("ask_caller", "q")


async def test_malformed_input_closes_only_that_connection():
    async with HubClient("hubs/test") as good, HubClient("hubs/detailed") as bad:
        await bad.communicator.send_to(text_data='{"type":1,"target":"add",\x1e')
        close = await bad.wait_closed()
        assert close.allow_reconnect is True
        assert close.error.startswith("Connection closed with an error. InvalidDataException: Error reading JSON")
        assert await good.invoke("add", 1, 2) == 3


@override_settings(HUBS_MAX_MESSAGE_SIZE=100)
async def test_oversized_message_closes_with_an_error():
    async with HubClient("hubs/test") as client:
        await client.send("echo", "x" * 200)
        close = await client.wait_closed()
        assert close.error == "Connection closed with an error."
        assert close.allow_reconnect is True


async def test_abort_closes_without_reconnect():
    async with HubClient("hubs/test") as client:
        await client.send("abort")
        close = await client.wait_closed()
        assert close.error is None and close.allow_reconnect is False


async def test_on_connected_failure_closes_with_generic_error():
    client = HubClient("hubs/test", query="fail_connect=1")
    await client.connect()
    close = await client.wait_closed()
    assert close.error == "Connection closed with an error."
    assert close.allow_reconnect is False
    await client.communicator.disconnect()


async def test_on_disconnected_runs_with_the_reason():
    async with HubClient("hubs/test"):
        pass
    await asyncio.sleep(0.05)
    assert ("disconnected", None) in events


async def test_get_hub_context_from_async_code_and_a_sync_view():
    async with HubClient("hubs/test") as client:
        connection_id = await client.invoke("get_connection_id")
        context = get_hub_context(TestHub)
        await context.groups.add(connection_id, "news")
        await context.clients.group("news").send("Receive", "outside", "async")
        assert (await client.receive("Receive")).arguments == ["outside", "async"]

        def view():
            async_to_sync(get_hub_context("hubs/test").clients.all.send)("Receive", "outside", "view")

        await asyncio.get_running_loop().run_in_executor(None, view)
        assert (await client.receive("Receive")).arguments == ["outside", "view"]


@pytest.mark.parametrize(("limit", "expected"), [(1, [1, 1]), (2, [1, 2])])
async def test_parallel_invocations_setting(limit, expected):
    with override_settings(HUBS_MAX_PARALLEL_INVOCATIONS=limit):
        async with HubClient("hubs/test") as client:
            results = await asyncio.gather(client.invoke("probe", 0.1), client.invoke("probe", 0.1))
    assert sorted(results) == expected


def test_method_names_that_collide_are_refused():
    with pytest.raises(TypeError, match="same name for clients"):

        class Bad(Hub):
            async def send_message(self): ...

            async def sendMessage(self): ...


def test_reserved_names_are_not_callable():
    class Some(Hub):
        async def on_connected(self): ...

        async def _private(self): ...

        async def public(self): ...

    assert set(Some.hub_methods()) == {"public"}


def test_hub_error_is_the_public_error():
    assert HubError("x").wire_name == "HubException"


async def test_queued_invocations_keep_their_context_variables_apart():
    """Invocations waiting for the slot run one after another in one task, each in its own context."""
    async with HubClient("hubs/test") as client:
        results = await asyncio.gather(*(client.invoke("mark_context", f"m{i}", 0.01 * (i % 2)) for i in range(12)))
    assert results == [[None, f"m{i}"] for i in range(12)]


async def test_a_timeout_inside_a_queued_invocation_cancels_only_it():
    async with HubClient("hubs/test") as client:
        calls = [client.invoke("time_out", 0.01, 5), client.invoke("time_out", 0.01, 5), client.invoke("echo", "after")]
        results = await asyncio.wait_for(asyncio.gather(*calls), 3)
        assert results == ["timed out, cancelling=0", "timed out, cancelling=0", "after"]
        assert await client.invoke("add", 1, 2) == 3
