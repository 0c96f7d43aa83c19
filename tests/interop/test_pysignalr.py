"""pysignalr 1.3.3 driving the live server over WebSockets, with JSON and MessagePack.

pysignalr negotiates without ``negotiateVersion`` (so it connects with ``?id=<connectionId>``),
puts its HTTP headers into every Invocation and needs ``arguments`` in every server
Invocation: these tests pass only if the server meets all of that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .live import LiveServer
from .pyclients import GENERIC_FAIL, REFUSED, UNKNOWN, Completion, PySignalR, hub_url, mint_access_token, unique

pytestmark = pytest.mark.interop


@pytest.fixture(params=["json", "messagepack"])
def protocol(request: pytest.FixtureRequest) -> str:
    return request.param


async def test_invoke_returns_the_result(server: LiveServer, protocol: str) -> None:
    async with PySignalR(hub_url(server), protocol) as client:
        assert await client.invoke("Add", 1, 2) == Completion(3, None)
        value = {"text": "héllo", "items": [1, 2.5, None, True]}
        assert await client.invoke("Echo", value) == Completion(value, None)
        assert await client.invoke("Nothing") == Completion(None, None)
        assert client.errors == []


async def test_connects_with_the_negotiated_connection_id(server: LiveServer, protocol: str) -> None:
    """Negotiate v0: the connection id pysignalr puts in ``?id=`` is the hub's connection id."""
    async with PySignalR(hub_url(server), protocol) as client:
        connection_id = (await client.invoke("GetConnectionId")).result
        assert isinstance(connection_id, str) and connection_id
        assert f"id={connection_id}" in client.client._transport._url


async def test_message_sent_with_the_handshake_reply_is_delivered(server: LiveServer, protocol: str) -> None:
    """``on_connected`` sends at once, so the first frame may carry the handshake reply and a message."""
    client = PySignalR(hub_url(server, "hubs/test?greet=1"), protocol)
    client.on("Welcome")
    async with client:
        (welcomed,) = await client.next("Welcome")
        assert welcomed == (await client.invoke("GetConnectionId")).result


async def test_send_without_result_reaches_every_connection(server: LiveServer, protocol: str) -> None:
    sender, other = PySignalR(hub_url(server), protocol), PySignalR(hub_url(server), protocol)
    sender.on("ReceiveMessage")
    other.on("ReceiveMessage")
    async with sender, other:
        await sender.send("SendMessage", "alice", "hello all")
        assert await other.next("ReceiveMessage") == ["alice", "hello all"]
        assert await sender.next("ReceiveMessage") == ["alice", "hello all"]


async def test_method_names_fold_case_and_underscores(server: LiveServer, protocol: str) -> None:
    client = PySignalR(hub_url(server), protocol)
    client.on("ReceiveMessage")
    async with client:
        for name in ("SendMessage", "sendMessage", "send_message", "SENDMESSAGE"):
            assert await client.invoke(name, "user", name) == Completion(None, None)
            assert await client.next("ReceiveMessage") == ["user", name]
        assert await client.invoke("add", 2, 3) == Completion(5, None)


async def test_others_and_caller(server: LiveServer, protocol: str) -> None:
    first, second = PySignalR(hub_url(server), protocol), PySignalR(hub_url(server), protocol)
    first.on("Receive")
    second.on("Receive")
    async with first, second:
        await first.invoke("ToOthers", "not for me")
        assert await second.next("Receive") == ["others", "not for me"]
        # Messages to one connection keep their order: had "others" reached the sender too,
        # it would come before this reply to the caller.
        await first.invoke("ToCaller", "mine")
        assert await first.next("Receive") == ["caller", "mine"]


async def test_group_after_joining(server: LiveServer, protocol: str) -> None:
    member, outsider = PySignalR(hub_url(server), protocol), PySignalR(hub_url(server), protocol)
    member.on("Receive")
    outsider.on("Receive")
    group = unique("room")
    async with member, outsider:
        assert await member.invoke("Join", group) == Completion(None, None)
        await outsider.invoke("ToGroup", group, "hello members")
        assert await member.next("Receive") == [f"group:{group}", "hello members"]
        await outsider.invoke("ToCaller", "outsider")
        assert await outsider.next("Receive") == ["caller", "outsider"]

        await member.invoke("Leave", group)
        await outsider.invoke("ToGroup", group, "after leaving")
        await member.invoke("ToCaller", "member")
        assert await member.next("Receive") == ["caller", "member"]


async def test_exception_details_only_with_detailed_errors(server: LiveServer, protocol: str) -> None:
    async with PySignalR(hub_url(server), protocol) as client:
        completion = await client.invoke("fail")
        assert completion == Completion(None, GENERIC_FAIL)
        assert "secret" not in (completion.error or "")
        assert [message.error for message in client.errors] == [GENERIC_FAIL]
    async with PySignalR(hub_url(server, "hubs/detailed"), protocol) as client:
        assert await client.invoke("fail") == Completion(None, f"{GENERIC_FAIL} ValueError: secret detail")


async def test_hub_error_text_is_always_sent(server: LiveServer, protocol: str) -> None:
    for path in ("hubs/test", "hubs/detailed"):
        async with PySignalR(hub_url(server, path), protocol) as client:
            assert await client.invoke("refuse") == Completion(None, REFUSED)


async def test_unknown_method(server: LiveServer, protocol: str) -> None:
    async with PySignalR(hub_url(server), protocol) as client:
        assert await client.invoke("nope") == Completion(None, UNKNOWN)
        assert await client.invoke("Add", 1, 1) == Completion(2, None)  # the connection lives on


async def test_server_to_client_stream(server: LiveServer, protocol: str) -> None:
    async with PySignalR(hub_url(server), protocol) as client:
        assert await client.stream("Counter", 5) == ([0, 1, 2, 3, 4], Completion(None, None))
        assert await client.stream("Counter", 0) == ([], Completion(None, None))


async def test_client_results(server: LiveServer, protocol: str) -> None:
    """The server invokes ``Ask`` on a client and gets back what its handler returns."""
    asked, asking = PySignalR(hub_url(server), protocol), PySignalR(hub_url(server), protocol)
    asked.answer("Ask", lambda question: f"answer to {question}")
    async with asked, asking:
        assert await asked.invoke("AskCaller", "mine") == Completion("answer to mine", None)
        asked_id = (await asked.invoke("GetConnectionId")).result
        assert await asking.invoke("AskClient", asked_id, "yours") == Completion("answer to yours", None)


async def test_server_close_fires_the_close_callback(server: LiveServer, protocol: str) -> None:
    client = PySignalR(hub_url(server), protocol)
    client.on("Left")
    watcher = PySignalR(hub_url(server), protocol)
    watcher.on("Left")
    async with client, watcher:
        connection_id = (await client.invoke("GetConnectionId")).result
        await client.send("Abort")
        await client.wait_closed()
        # The server saw the connection go: its on_disconnected tells everyone. Connections
        # of earlier tests may still be leaving, so look for this one among them.
        left = [await watcher.next("Left")]
        while left[-1] != [connection_id]:
            left.append(await watcher.next("Left"))
        assert not watcher.closed.is_set()


async def test_user_addressed_messages_with_an_access_token(server: LiveServer, live_db: Path, protocol: str) -> None:
    """pysignalr sends no token on its first connection from ``access_token_factory``;
    an ``Authorization`` header in ``headers`` reaches negotiate and the WebSocket upgrade."""
    token = mint_access_token(live_db, "alice")
    alice = PySignalR(hub_url(server), protocol, headers={"Authorization": f"Bearer {token}"})
    alice.on("Receive")
    anonymous = PySignalR(hub_url(server), protocol)
    async with alice, anonymous:
        alice_id = (await alice.invoke("Whoami")).result
        assert alice_id is not None, "the access token did not authenticate the connection"
        assert (await anonymous.invoke("Whoami")).result is None
        await anonymous.invoke("ToUser", alice_id, "for alice")
        assert await alice.next("Receive") == ["user", "for alice"]
        assert await alice.invoke("Secret") == Completion("for members", None)
    assert token not in server.log(), "the server logged the bearer token"
