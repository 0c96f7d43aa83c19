"""The soak: 1,000 connections for minutes, with nothing lost and memory flat.

    .venv/bin/python bench/soak.py                       # 1,000 connections, 10 minutes
    .venv/bin/python bench/soak.py --duration 120        # what README's "Soak" paragraph reports
    .venv/bin/python bench/soak.py --connections 2000 --duration 3600 --interval 4

Starts django-hubs under uvicorn (``bench/hubapp``, hub ``hubs/soak``) on 127.0.0.1 and holds
``--connections`` WebSocket clients (JSON and MessagePack, half each) in rooms of
``--room-size``. Every client acts every ``--interval`` seconds on average: an ``echo``
(checked), a ``broadcast`` to its room, a ``counter`` stream of 10 items (checked), or now and
then a reconnect (close, connect again, join the room again).

Accounting: a broadcast carries ``[room, sender, seq]``. A connection must receive every
broadcast to its room that was sent after it had joined and acknowledged before it began to
close (delivery in one process is promised: see README "Delivery guarantees"; a client that
closes forgoes the last ``CLOSE_MARGIN`` second), each once and in each sender's order.
Anything missing is "lost", and must be 0.

Also sampled: the server's ``VmRSS`` every ``--sample`` seconds (it should be flat after ``--warmup``), and
ERROR lines and tracebacks in its log. Prints one JSON summary; exits 1 if anything was lost,
failed or logged at ERROR. Not run in CI (it is long); ``tests/reliability`` holds the short
versions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgpack

from bench.protocols import RS, SignalRClient, varint
from bench.servers import SERVERS, RunningServer
from bench.workloads import process_rss

STREAM_ITEMS = 10
INVOKE_TIMEOUT = 30.0
#: A client that closes on its own forgoes what is still on its way: broadcasts count as
#: promised to it only if acknowledged this long before it began to close.
CLOSE_MARGIN = 1.0


@dataclass
class Window:
    """One connection's membership of its room: from joined until it began to close."""

    room: str
    joined: float
    left: float = float("inf")
    received: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Broadcast:
    room: str
    sender: int
    seq: int
    sent: float
    acknowledged: float = float("inf")


class SoakClient(SignalRClient):
    """The bench client, plus server streams (StreamItem records) and room broadcasts."""

    def __init__(self, url: str, protocol: str, window: Window) -> None:
        super().__init__(url, protocol, on_message=self._on_broadcast)
        self.window = window
        self.items: dict[str, list[Any]] = {}

    def _on_broadcast(self, message: Any, now: float) -> None:
        room, sender, seq = message
        if room != self.window.room:
            self.problem(f"broadcast for room {room!r} in {self.window.room!r}")
        self.window.received.append((sender, seq))

    def handle_json(self, message: dict[str, Any], now: float) -> None:
        if message.get("type") == 2:
            self._item(message.get("invocationId"), message.get("item"))
        else:
            super().handle_json(message, now)

    def handle_msgpack(self, message: list[Any], now: float) -> None:
        if message[0] == 2:
            self._item(message[2], message[3])
        else:
            super().handle_msgpack(message, now)

    def _item(self, key: Any, item: Any) -> None:
        items = self.items.get(key)
        if items is None:
            self.problem(f"stream item for unknown id {key!r}")
        else:
            items.append(item)

    async def stream(self, method: str, count: int) -> list[Any]:
        assert self.ws is not None
        self._next_id += 1
        key = str(self._next_id)
        self.items[key] = []
        future = asyncio.get_running_loop().create_future()
        self.pending[key] = future
        if self.protocol == "json":
            record = {"type": 4, "invocationId": key, "target": method, "arguments": [count]}
            self.ws.send(json.dumps(record, separators=(",", ":")) + RS)
        else:
            body = msgpack.packb([4, {}, key, method, [count], []])
            self.ws.send(varint(len(body)) + body)
        try:
            await future
            return self.items[key]
        finally:
            self.items.pop(key, None)


class Soak:
    def __init__(self, args: argparse.Namespace, url: str) -> None:
        self.args = args
        self.url = url
        self.rng = random.Random(args.seed)
        self.windows: list[Window] = []
        self.broadcasts: list[Broadcast] = []
        self.clients: dict[int, SoakClient] = {}
        self.counts: dict[str, int] = defaultdict(int)
        self.failures: list[str] = []
        self.stopping = False
        #: ``loop.time()`` when the soak ends: no action starts after it.
        self.deadline = float("inf")

    def fail(self, text: str) -> None:
        self.counts["failures"] += 1
        if len(self.failures) < 20:
            self.failures.append(text)

    def room_of(self, index: int) -> str:
        return f"room-{index // self.args.room_size}"

    async def connect(self, index: int) -> SoakClient:
        loop = asyncio.get_running_loop()
        window = Window(self.room_of(index), float("inf"))
        client = SoakClient(self.url, "messagepack" if index % 2 else "json", window)
        await client.connect(INVOKE_TIMEOUT)
        await asyncio.wait_for(client.invoke("join", window.room), INVOKE_TIMEOUT)
        window.joined = loop.time()
        self.windows.append(window)
        self.clients[index] = client
        self.counts["connects"] += 1
        return client

    async def disconnect(self, client: SoakClient) -> None:
        client.window.left = asyncio.get_running_loop().time()
        await client.close()

    async def act(self, index: int) -> None:
        """One client's life: random actions at random times until the soak ends."""
        loop = asyncio.get_running_loop()
        seq = 0
        while True:
            delay = self.rng.expovariate(1 / self.args.interval)
            if loop.time() + delay >= self.deadline:
                return  # the soak ends before this action would start
            await asyncio.sleep(delay)
            client = self.clients[index]
            roll = self.rng.random()
            try:
                if roll < 0.45:
                    payload = {"from": index, "n": seq}
                    seq += 1
                    if await asyncio.wait_for(client.invoke("echo", payload), INVOKE_TIMEOUT) != payload:
                        self.fail(f"echo from {index} came back changed")
                    self.counts["echo"] += 1
                elif roll < 0.80:
                    seq += 1
                    broadcast = Broadcast(client.window.room, index, seq, loop.time())
                    self.broadcasts.append(broadcast)
                    await asyncio.wait_for(client.invoke("broadcast", [broadcast.room, index, seq]), INVOKE_TIMEOUT)
                    broadcast.acknowledged = loop.time()
                    self.counts["broadcast"] += 1
                elif roll < 0.97:
                    items = await asyncio.wait_for(client.stream("counter", STREAM_ITEMS), INVOKE_TIMEOUT)
                    if items != list(range(STREAM_ITEMS)):
                        self.fail(f"stream of {index} got {items!r}")
                    self.counts["stream"] += 1
                    self.counts["stream_items"] += len(items)
                else:
                    await self.disconnect(client)
                    self.record_problems(client)
                    await self.connect(index)
                    self.counts["reconnects"] += 1
            except Exception as exc:
                self.fail(f"client {index}: {exc!r}")

    def record_problems(self, client: SoakClient) -> None:
        for problem in client.problems:
            self.fail(f"protocol: {problem}")
        client.problems.clear()

    async def keep_alive(self) -> None:
        while not self.stopping:
            await asyncio.sleep(10)
            for client in list(self.clients.values()):
                client.keep_alive()

    def account(self) -> dict[str, Any]:
        """Every broadcast a window had to get, against what it got."""
        by_room: dict[str, list[Broadcast]] = defaultdict(list)
        for broadcast in self.broadcasts:
            by_room[broadcast.room].append(broadcast)
        expected = received = lost = duplicates = out_of_order = unknown = 0
        sent = {(b.sender, b.seq) for b in self.broadcasts}
        for window in self.windows:
            got = set(window.received)
            duplicates += len(window.received) - len(got)
            unknown += len(got - sent)
            last: dict[int, int] = {}
            for sender, seq in window.received:
                if seq <= last.get(sender, -1):
                    out_of_order += 1
                last[sender] = seq
            must = {
                (b.sender, b.seq)
                for b in by_room[window.room]
                if b.sent >= window.joined and b.acknowledged <= window.left - CLOSE_MARGIN
            }
            expected += len(must)
            lost += len(must - got)
            received += len(window.received)
        return {
            "expected": expected,
            "received": received,
            "lost": lost,
            "duplicates": duplicates,
            "out_of_order": out_of_order,
            "unknown": unknown,
        }


def log_errors(path: Path) -> dict[str, Any]:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    bad = [line for line in lines if "ERROR" in line or line.startswith("Traceback")]
    return {"error_lines": len(bad), "first": bad[:5]}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(args.log_dir)
    server = RunningServer(SERVERS["hubs-uvicorn"], log_dir, cores=None)
    loop = asyncio.get_running_loop()
    try:
        soak = Soak(args, f"ws://127.0.0.1:{server.port}/hubs/soak")
        rss_idle = process_rss(server.pid)
        started = loop.time()
        slots = asyncio.Semaphore(50)

        async def connect(index: int) -> None:
            async with slots:
                await soak.connect(index)

        await asyncio.gather(*(connect(i) for i in range(args.connections)))
        connected_in = loop.time() - started
        rss_connected = process_rss(server.pid)
        soak.deadline = loop.time() + args.duration
        actors = [loop.create_task(soak.act(i)) for i in range(args.connections)]
        pinger = loop.create_task(soak.keep_alive())

        samples: list[tuple[float, int]] = []
        held_min = args.connections
        began = loop.time()
        while (elapsed := loop.time() - began) < args.duration:
            samples.append((round(elapsed, 1), process_rss(server.pid)))
            held_min = min(held_min, sum(1 for c in soak.clients.values() if c.ws is not None and not c.ws.closed))
            await asyncio.sleep(min(args.sample, args.duration - elapsed))
        samples.append((round(loop.time() - began, 1), process_rss(server.pid)))
        await asyncio.gather(*actors, return_exceptions=True)  # each ends after its last action
        soak.stopping = True
        pinger.cancel()
        ran = loop.time() - began
        await asyncio.sleep(2)  # the last deliveries land
        for client in soak.clients.values():
            soak.record_problems(client)
        for client in list(soak.clients.values()):
            await soak.disconnect(client)
        accounts = soak.account()
    finally:
        server.stop()

    after_warmup = [rss for t, rss in samples if t >= args.warmup] or [samples[-1][1]]
    mb = 1024 * 1024
    messages = (
        soak.counts["echo"] * 2
        + soak.counts["broadcast"] * 2
        + accounts["received"]
        + soak.counts["stream"] * (STREAM_ITEMS + 2)
    )
    return {
        "server": "django-hubs / uvicorn",
        "duration_s": round(ran, 1),
        "connections": args.connections,
        "connections_held_min": held_min,
        "connected_in_s": round(connected_in, 1),
        "room_size": args.room_size,
        "actions": {k: soak.counts[k] for k in ("echo", "broadcast", "stream", "reconnects")},
        "stream_items": soak.counts["stream_items"],
        "broadcast_deliveries": accounts,
        "messages": messages,
        "messages_per_s": round(messages / ran),
        "failures": soak.counts["failures"],
        "first_failures": soak.failures[:5],
        "server_log": log_errors(server.log_path),
        "rss_mb": {
            "idle": round(rss_idle / mb, 1),
            "connected": round(rss_connected / mb, 1),
            "after_warmup_min": round(min(after_warmup) / mb, 1),
            "after_warmup_max": round(max(after_warmup) / mb, 1),
            "end": round(samples[-1][1] / mb, 1),
            "samples": " ".join(f"{t:g}s:{rss / mb:.1f}" for t, rss in samples),
        },
        "rss_per_connection_kb": round((rss_connected - rss_idle) / 1024 / args.connections, 1),
        "rss_growth_after_warmup_mb": round((after_warmup[-1] - after_warmup[0]) / mb, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load (default 600)")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--room-size", type=int, default=50)
    parser.add_argument("--interval", type=float, default=2.0, help="mean seconds between a client's actions")
    parser.add_argument("--warmup", type=float, default=60, help="seconds before RSS must be flat")
    parser.add_argument("--sample", type=float, default=5, help="seconds between RSS samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--log-dir", default=str(Path(__file__).resolve().parent / "results" / "soak"))
    parser.add_argument("--out", help="also write the summary to this JSON file")
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    bad = summary["broadcast_deliveries"]["lost"] or summary["failures"] or summary["server_log"]["error_lines"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
