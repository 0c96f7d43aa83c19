"""The backplane's own rules, on a fake layer; the real thing is tests/interop/test_redis.py."""

from __future__ import annotations

import asyncio

import pytest
from channels_redis.core import RedisChannelLayer

from django_hubs.server.backplane import CHANNEL_PREFIX, PROCESS_CHANNEL_CAPACITY, RENEW_INTERVAL, Backplane, _pack


class FakeLayer:
    def __init__(self) -> None:
        self.groups: dict[str, set[str]] = {}
        self.queues: dict[str, asyncio.Queue] = {}
        self.down = False
        self.adds = 0

    def _check(self):
        if self.down:
            raise ConnectionError("layer down")

    async def new_channel(self, prefix="specific"):
        name = f"{prefix}.fake!{len(self.queues)}"
        self.queues[name] = asyncio.Queue()
        return name

    async def group_add(self, group, channel):
        self._check()
        self.adds += 1
        self.groups.setdefault(group, set()).add(channel)

    async def group_discard(self, group, channel):
        self._check()
        self.groups.get(group, set()).discard(channel)

    async def group_send(self, group, message):
        self._check()
        for channel in self.groups.get(group, ()):
            self.queues[channel].put_nowait(message)

    async def send(self, channel, message):
        self._check()
        self.queues[channel].put_nowait(message)

    async def receive(self, channel):
        # Like a blocking pop on Redis: fails as soon as the server goes away.
        while True:
            self._check()
            try:
                return await asyncio.wait_for(self.queues[channel].get(), 0.01)
            except TimeoutError:
                continue


class FakeManager:
    def __init__(self) -> None:
        self.connections = {}
        self.delivered = []

    def deliver_local(self, kind, names, exclude, method, args):
        self.delivered.append((kind, names, method, args))


async def test_a_send_to_several_groups_is_delivered_once():
    layer = FakeLayer()
    backplane = Backplane(layer)
    manager = backplane.managers["hub"] = FakeManager()
    for name in ("a", "b"):
        await backplane.join(Backplane.group_of("hub", "g", name))
    message = {
        "type": "hubs.send",
        "hub": "hub",
        "origin": "elsewhere",
        "id": "m1",
        "kind": "groups",
        "names": ["a", "b"],
        "exclude": [],
        "method": "Recv",
        "args": _pack([1]),
    }
    for name in ("a", "b"):
        await backplane.publish(Backplane.group_of("hub", "g", name), message)
    await asyncio.sleep(0.05)
    assert manager.delivered == [("groups", ("a", "b"), "Recv", [1])]


async def test_own_messages_are_not_delivered_twice():
    layer = FakeLayer()
    backplane = Backplane(layer)
    manager = backplane.managers["hub"] = FakeManager()
    group = Backplane.group_of("hub", "all")
    await backplane.join(group)
    await backplane.publish(group, {"type": "hubs.send", "hub": "hub", "origin": backplane.channel, "id": "x"})
    await asyncio.sleep(0.05)
    assert manager.delivered == []


async def test_memberships_are_restored_after_an_outage():
    layer = FakeLayer()
    backplane = Backplane(layer)
    await backplane.join("g1")
    await asyncio.sleep(0.02)  # the reader is now waiting on the layer
    layer.down = True
    await backplane.join("g2")  # fails: remembered for later
    await asyncio.sleep(0.1)  # the reader fails too and keeps retrying
    layer.groups.clear()  # a restarted Redis forgot everything
    layer.down = False
    for _ in range(100):
        if layer.groups.get("g1") and layer.groups.get("g2"):
            break
        await asyncio.sleep(0.05)
    assert backplane.channel in layer.groups["g1"] and backplane.channel in layer.groups["g2"]


async def test_memberships_are_renewed_before_they_expire():
    layer = FakeLayer()
    backplane = Backplane(layer)
    await backplane.join("g1")
    before = layer.adds
    loop = asyncio.get_running_loop()
    backplane._tick(loop.time() + RENEW_INTERVAL / 2, 0)
    await asyncio.sleep(0)
    assert layer.adds == before
    backplane._tick(loop.time() + RENEW_INTERVAL + 1, 0)
    await asyncio.sleep(0.01)
    assert layer.adds == before + 1


def test_process_channels_get_a_large_capacity_on_channels_redis():
    layer = RedisChannelLayer(hosts=["redis://127.0.0.1:1/0"], capacity=100)
    Backplane(layer)
    assert layer.get_capacity(f"{CHANNEL_PREFIX}.abc!def") == PROCESS_CHANNEL_CAPACITY
    assert layer.get_capacity("other") == 100


@pytest.mark.parametrize("text", ["a room with spaces", "é" * 200])
def test_layer_group_names_are_valid_for_any_user_text(text):
    name = Backplane.group_of("hub", "g", text)
    assert len(name) < 100 and name.replace(".", "").replace("-", "").isalnum()
