"""The workloads, run inside the load generator process against one server.

Each returns a dict of metrics. Every reply is compared with what was sent and every
broadcast delivery is counted per client and message, so errors and lost or duplicated
messages are reported, never folded into a rate. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .protocols import DIALECTS, BenchClient

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- measuring ------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from ``/proc``."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``), to see other load."""
    try:
        with open("/proc/stat") as file:
            fields = file.readline().split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def process_rss(pid: int) -> int:
    """Resident set size in bytes (``VmRSS`` of ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Meter:
    """Wall time and the CPU time of the server and of this generator over one phase.

    ``watched`` names further processes (W5: the second server, redis-server) whose CPU
    is measured too, each on its own, and not counted as "other load".
    """

    server_pid: int
    watched: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0
    server_cpu: float = 0.0
    generator_cpu: float = 0.0
    other_cpu: float = 0.0
    watched_cpu: dict[str, float] = field(default_factory=dict)
    _start: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    _watched_start: dict[str, float] = field(default_factory=dict)

    def __enter__(self) -> Meter:
        self._watched_start = {name: process_cpu(pid) for name, pid in self.watched.items()}
        self._start = (time.perf_counter(), process_cpu(self.server_pid), time.process_time(), machine_busy())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, server, generator, busy = self._start
        self.wall = time.perf_counter() - wall
        self.server_cpu = process_cpu(self.server_pid) - server
        self.generator_cpu = time.process_time() - generator
        self.watched_cpu = {name: process_cpu(pid) - self._watched_start[name] for name, pid in self.watched.items()}
        measured = self.server_cpu + self.generator_cpu + sum(self.watched_cpu.values())
        # Whatever else kept the machine's cores busy meanwhile (other processes, the kernel).
        self.other_cpu = max(0.0, machine_busy() - busy - measured)

    def report(self, messages: int) -> dict[str, Any]:
        """CPU figures; ``messages`` is what the server handled (requests + replies + deliveries)."""
        return {
            "wall_s": self.wall,
            "server_cpu_s": self.server_cpu,
            "server_cpu_share": self.server_cpu / self.wall if self.wall else None,
            "server_cpu_us_per_msg": 1e6 * self.server_cpu / messages if messages else None,
            "generator_cpu_s": self.generator_cpu,
            "generator_cpu_share": self.generator_cpu / self.wall if self.wall else None,
            "other_cpu_cores": self.other_cpu / self.wall if self.wall else None,
        }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_ms(values: list[float]) -> dict[str, Any]:
    return {
        "p50_ms": 1e3 * p if (p := percentile(values, 50)) is not None else None,
        "p99_ms": 1e3 * p if (p := percentile(values, 99)) is not None else None,
        "max_ms": 1e3 * max(values) if values else None,
        "mean_ms": 1e3 * statistics.fmean(values) if values else None,
    }


# --- payloads -------------------------------------------------------------------------

FILLER = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. "


def payload(seq: int, size: int = 100) -> dict[str, Any]:
    """A distinct JSON object of about ``size`` bytes (``{"seq":n,"text":"..."}``)."""
    text = f"{seq:08d} " + FILLER * (1 + size // len(FILLER))
    return {"seq": seq, "text": text[: max(8, size - 22)]}


# --- the run --------------------------------------------------------------------------


@dataclass
class Target:
    """The server under test: ``url`` and ``server_pid`` are the first (often only) process.

    W5 drives several processes that act as one hub: ``urls``/``server_pids`` list all of
    them in order, and ``watched`` names other processes to measure (redis-server).
    """

    dialect: str
    url: str
    protocol: str
    server_pid: int
    problems: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    server_pids: list[int] = field(default_factory=list)
    watched: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.urls = self.urls or [self.url]
        self.server_pids = self.server_pids or [self.server_pid]

    def client(self, on_message: Callable[[Any, float], None] | None = None, url: str | None = None) -> BenchClient:
        return DIALECTS[self.dialect](url or self.url, self.protocol, on_message)

    def collect(self, clients: list[BenchClient]) -> None:
        for client in clients:
            for text in client.problems:
                if len(self.problems) < 20:
                    self.problems.append(text)


async def connect_all(
    target: Target, count: int, parallel: int, factory: Callable[[int], BenchClient] | None = None
) -> tuple[list[BenchClient], int]:
    """Open ``count`` connections, ``parallel`` at a time; the clients and the failure count."""
    clients: list[BenchClient] = []
    failures = 0
    gate = asyncio.Semaphore(parallel)

    async def one(index: int) -> None:
        nonlocal failures
        client = factory(index) if factory else target.client()
        async with gate:
            try:
                await client.connect()
            except Exception as exc:
                failures += 1
                if len(target.problems) < 20:
                    target.problems.append(f"connect failed: {exc!r}")
                return
        clients.append(client)

    await asyncio.gather(*(one(i) for i in range(count)))
    return clients, failures


async def close_all(clients: list[BenchClient], timeout: float = 20.0) -> None:
    """Close politely, in parallel; whatever is still open after ``timeout`` is aborted."""
    if not clients:
        return
    gate = asyncio.Semaphore(200)

    async def one(client: BenchClient) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await client.close()

    try:
        await asyncio.wait_for(asyncio.gather(*(one(c) for c in clients)), timeout)
    except TimeoutError:
        for client in clients:
            client.abort()


@contextlib.asynccontextmanager
async def keeping_alive(clients: list[BenchClient], every: float = 10.0) -> Any:
    """Ping idle connections now and then so no server times them out mid-run."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            for client in clients:
                with contextlib.suppress(Exception):
                    client.keep_alive()

    task = asyncio.get_running_loop().create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def checked(expected: Any, got: Any) -> bool:
    return expected == got


# --- W1 -------------------------------------------------------------------------------


async def w1_sequential(target: Target, count: int = 5000, size: int = 100, deadline: float = 60.0) -> dict[str, Any]:
    """One client, ``count`` echo invocations one after another."""
    client = target.client()
    await client.connect()
    errors = 0
    for seq in range(min(200, count)):  # warm-up: imports, caches, JIT-free but lazy paths
        if not checked(payload(seq, size), await client.invoke("echo", payload(seq, size))):
            errors += 1
    latencies: list[float] = []
    payloads = [payload(seq, size) for seq in range(count)]
    stop = time.perf_counter() + deadline
    with Meter(target.server_pid) as meter:
        for sent in payloads:
            start = time.perf_counter()
            got = await client.invoke("echo", sent)
            latencies.append(time.perf_counter() - start)
            if not checked(sent, got):
                errors += 1
            if start > stop:
                break
    target.collect([client])
    await close_all([client])
    done = len(latencies)
    return {
        "invocations": done,
        "planned": count,
        "errors": errors,
        "round_trips_per_s": done / meter.wall if meter.wall else None,
        **latency_ms(latencies),
        **meter.report(2 * done),
    }


# --- W2 -------------------------------------------------------------------------------


async def w2_concurrent(
    target: Target,
    clients_count: int = 100,
    in_flight: int = 10,
    per_client: int = 200,
    size: int = 100,
    deadline: float = 60.0,
) -> dict[str, Any]:
    """``clients_count`` clients, each keeping ``in_flight`` echo invocations outstanding."""
    clients, failures = await connect_all(target, clients_count, 50)
    errors = 0
    latencies: list[float] = []
    for client in clients:  # warm-up
        if not checked(payload(0, size), await client.invoke("echo", payload(0, size))):
            errors += 1
    per_worker = max(1, per_client // in_flight)
    stop = time.perf_counter() + deadline

    async def worker(client: BenchClient, payloads: list[dict[str, Any]]) -> None:
        nonlocal errors
        for sent in payloads:
            start = time.perf_counter()
            try:
                got = await client.invoke("echo", sent)
            except Exception as exc:
                errors += 1
                target.problems.append(f"invoke failed: {exc!r}")
                return
            latencies.append(time.perf_counter() - start)
            if not checked(sent, got):
                errors += 1
            if start > stop:
                return

    jobs = [
        (client, [payload((ci * in_flight + w) * per_worker + i, size) for i in range(per_worker)])
        for ci, client in enumerate(clients)
        for w in range(in_flight)
    ]
    with Meter(target.server_pid) as meter:
        await asyncio.gather(*(worker(client, payloads) for client, payloads in jobs))
    target.collect(clients)
    await close_all(clients)
    done = len(latencies)
    return {
        "clients": len(clients),
        "connect_failures": failures,
        "in_flight_per_client": in_flight,
        "responses": done,
        "planned": clients_count * in_flight * per_worker,
        "errors": errors,
        "responses_per_s": done / meter.wall if meter.wall else None,
        **latency_ms(latencies),
        **meter.report(2 * done),
    }


# --- W3 -------------------------------------------------------------------------------


class Deliveries:
    """Who got which broadcast, when; content checked against what was sent.

    ``process_of[i]`` is the server process client ``i`` is connected to (W5), so that the
    time until the last client *of each process* has a message can be told apart too.
    """

    def __init__(self, clients: int, messages: int, size: int, process_of: list[int] | None = None) -> None:
        self.expected = [payload(seq, size) for seq in range(messages)]
        self.seen = [bytearray(messages) for _ in range(clients)]
        self.process_of = process_of or [0] * clients
        processes = max(self.process_of) + 1
        self.last = [0.0] * messages
        self.last_by_process = [[0.0] * messages for _ in range(processes)]
        self.count_by_process = [0] * processes
        self.got = [0] * messages
        self.count = self.duplicates = self.wrong = self.warmup = 0
        self.progress = time.perf_counter()

    def receiver(self, index: int) -> Callable[[Any, float], None]:
        seen = self.seen[index]
        process = self.process_of[index]
        last_here = self.last_by_process[process]
        counts = self.count_by_process

        def on_message(value: Any, now: float) -> None:
            seq = value.get("seq") if isinstance(value, dict) else None
            if seq == -1:
                self.warmup += 1
                return
            if not isinstance(seq, int) or not 0 <= seq < len(self.expected) or value != self.expected[seq]:
                self.wrong += 1
                return
            if seen[seq]:
                self.duplicates += 1
                return
            seen[seq] = 1
            self.count += 1
            counts[process] += 1
            self.got[seq] += 1
            if now > self.last[seq]:
                self.last[seq] = now
            if now > last_here[seq]:
                last_here[seq] = now
            self.progress = now

        return on_message


@dataclass
class Broadcast:
    """What one broadcast run measured, for W3's and W5's reports."""

    metrics: dict[str, Any]
    book: Deliveries
    clients: list[BenchClient]
    sender: BenchClient
    sent_at: list[float]
    complete: list[int]
    meter: Meter
    acked: int


async def broadcast_run(
    target: Target,
    clients_count: int,
    messages: int,
    size: int,
    window: int,
    deadline: float,
    idle: float,
) -> Broadcast | dict[str, Any]:
    """The broadcast shared by W3 and W5; a metrics dict of its own if nobody could connect.

    Client ``i`` connects to ``target.urls[i % len(urls)]``, so several processes get
    even shares; the sender is a client of the first process.
    """
    urls = target.urls
    process_of = [i % len(urls) for i in range(clients_count)]
    book = Deliveries(clients_count, messages, size, process_of)
    clients, failures = await connect_all(
        target, clients_count, 50, lambda i: target.client(book.receiver(i), urls[process_of[i]])
    )
    sender = next((client for client in clients if client.url == urls[0]), None)
    if sender is None:
        target.collect(clients)
        await close_all(clients)
        return {"clients": len(clients), "connect_failures": failures, "errors": 1}
    receivers = len(clients)
    errors = 0
    # Warm-up: a marker broadcast until every client has one, so that all are in the group.
    for _ in range(20):
        book.warmup = 0
        await sender.invoke("broadcast", {"seq": -1, "text": "warm-up"})
        until = time.perf_counter() + 2.0
        while book.warmup < receivers and time.perf_counter() < until:
            await asyncio.sleep(0.01)
        if book.warmup >= receivers:
            break
    warm = book.warmup
    sent_at = [0.0] * messages
    stop = time.perf_counter() + deadline
    acked = 0
    watched = {f"process{n + 1}": pid for n, pid in enumerate(target.server_pids[1:], 1)} | target.watched
    async with keeping_alive(clients):
        with Meter(target.server_pid, watched) as meter:
            start = time.perf_counter()
            gate = asyncio.Semaphore(window)

            async def send(seq: int) -> None:
                nonlocal errors, acked
                async with gate:
                    sent_at[seq] = time.perf_counter()
                    try:
                        await sender.invoke("broadcast", book.expected[seq])
                        acked += 1
                    except Exception as exc:
                        errors += 1
                        target.problems.append(f"broadcast failed: {exc!r}")

            await asyncio.gather(*(send(seq) for seq in range(messages)))
            sent_done = time.perf_counter()
            total = receivers * messages
            ended = "complete"
            while book.count < total:
                now = time.perf_counter()
                if now - max(book.progress, sent_done) > idle:
                    ended = "stalled"  # nothing arrived for ``idle`` s: what is missing is lost
                    break
                if now > stop:
                    ended = "deadline"  # still arriving, but out of time: missing is not lost
                    break
                await asyncio.sleep(0.005)
            # Late duplicates or strays would show up right after: look a little longer.
            await asyncio.sleep(0.05)
        last_delivery = max(book.last) if book.count else start
    target.collect(clients)
    await close_all(clients)
    complete = [s for s in range(messages) if book.got[s] == receivers]
    span = last_delivery - start
    expected = receivers * messages
    metrics = {
        "clients": receivers,
        "connect_failures": failures,
        "warmup_reached": warm,
        "messages": messages,
        "window": window,
        "acked": acked,
        "deliveries": book.count,
        "expected_deliveries": expected,
        "ended": ended,
        "lost": expected - book.count if ended == "stalled" else 0,
        "undelivered_at_deadline": expected - book.count if ended == "deadline" else 0,
        "messages_incomplete": messages - len(complete),
        "duplicates": book.duplicates,
        "wrong": book.wrong,
        "errors": errors + book.wrong + (1 if ended == "deadline" else 0),
        "deliveries_per_s": book.count / span if span > 0 else None,
        "send_s": sent_done - start,
        "last_delivery_s": span,
        **to_last_client(book.last, sent_at, complete),
        **meter.report(book.count + 2 * acked),
    }
    return Broadcast(metrics, book, clients, sender, sent_at, complete, meter, acked)


def to_last_client(last: list[float], sent_at: list[float], complete: list[int], suffix: str = "") -> dict[str, Any]:
    """Latency from send until the last client has the message, over the messages every client got."""
    spans = [last[s] - sent_at[s] for s in complete]
    return {k.replace("ms", "ms_to_last_client") + suffix: v for k, v in latency_ms(spans).items()}


async def w3_broadcast(
    target: Target,
    clients_count: int = 1000,
    messages: int = 200,
    size: int = 100,
    window: int = 1,
    deadline: float = 90.0,
    idle: float = 5.0,
) -> dict[str, Any]:
    """``clients_count`` clients in one group; client 0 broadcasts ``messages`` messages.

    The sender keeps ``window`` broadcast invocations outstanding (1: the next goes when
    the server has acknowledged the previous). Each message must reach every client.
    """
    run = await broadcast_run(target, clients_count, messages, size, window, deadline, idle)
    return run if isinstance(run, dict) else run.metrics


# --- W5 -------------------------------------------------------------------------------


async def w5_scale_out(
    target: Target,
    clients_count: int = 1000,
    messages: int = 200,
    size: int = 100,
    window: int = 1,
    deadline: float = 90.0,
    idle: float = 5.0,
) -> dict[str, Any]:
    """W3 across the processes of ``target.urls`` acting as one hub (over Redis).

    Clients are split evenly over the processes; the sender is on the first, so every
    message reaches the others through the backplane. The server CPU figures add up all
    processes (comparable with W3's one process); each process also gets its own, per
    delivery to its own clients (the first also handles the sender's requests and replies).
    """
    run = await broadcast_run(target, clients_count, messages, size, window, deadline, idle)
    if isinstance(run, dict):
        return run
    metrics, book, meter = run.metrics, run.book, run.meter
    wall = meter.wall
    cpu = [meter.server_cpu, *(meter.watched_cpu[f"process{n + 1}"] for n in range(1, len(target.urls)))]
    handled = book.count + 2 * run.acked
    metrics |= {
        "processes": len(target.urls),
        "server_cpu_s": sum(cpu),
        "server_cpu_share": sum(cpu) / wall if wall else None,
        "server_cpu_us_per_msg": 1e6 * sum(cpu) / handled if handled else None,
    }
    for n, (process_cpu_s, delivered) in enumerate(zip(cpu, book.count_by_process, strict=True)):
        own = delivered + (2 * run.acked if n == 0 else 0)
        prefix = f"process{n + 1}_"
        metrics |= {
            prefix + "clients": sum(1 for client in run.clients if client.url == target.urls[n]),
            prefix + "deliveries": delivered,
            prefix + "cpu_s": process_cpu_s,
            prefix + "cpu_share": process_cpu_s / wall if wall else None,
            prefix + "cpu_us_per_delivery": 1e6 * process_cpu_s / own if own else None,
            **to_last_client(book.last_by_process[n], run.sent_at, run.complete, f"_process{n + 1}"),
        }
    for name, seconds in meter.watched_cpu.items():
        if not name.startswith("process"):
            metrics |= {
                f"{name}_cpu_s": seconds,
                f"{name}_cpu_share": seconds / wall if wall else None,
                f"{name}_cpu_us_per_broadcast": 1e6 * seconds / run.acked if run.acked else None,
            }
    return metrics


# --- W4 -------------------------------------------------------------------------------


async def w4_idle(target: Target, connections: int = 5000, parallel: int = 100, settle: float = 2.0) -> dict[str, Any]:
    """Server memory per idle connection: ``VmRSS`` before and after ``connections`` connect."""
    warm, _ = await connect_all(target, 10, 10)
    await close_all(warm)
    await asyncio.sleep(1.0)
    before = process_rss(target.server_pid)
    with Meter(target.server_pid) as meter:
        clients, failures = await connect_all(target, connections, parallel)
    connect_wall = meter.wall
    async with keeping_alive(clients):
        await asyncio.sleep(settle)
        after = process_rss(target.server_pid)
        # Still alive and serving? One round trip on a sample of them.
        alive = 0
        for client in clients[:: max(1, len(clients) // 50)]:
            try:
                sent = payload(1, 100)
                if checked(sent, await asyncio.wait_for(client.invoke("echo", sent), 10)):
                    alive += 1
            except Exception as exc:
                target.problems.append(f"idle connection failed: {exc!r}")
    target.collect(clients)
    sample = len(clients[:: max(1, len(clients) // 50)]) if clients else 0
    for client in clients:
        client.abort()
    held = len(clients)
    return {
        "connections": held,
        "connect_failures": failures,
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "rss_per_connection_kb": (after - before) / held / 1024 if held else None,
        "connects_per_s": held / connect_wall if connect_wall else None,
        "sample_checked": sample,
        "sample_alive": alive,
        "errors": failures + (sample - alive),
        **{f"connect_{k}": v for k, v in meter.report(held).items()},
    }


WORKLOADS = {"W1": w1_sequential, "W2": w2_concurrent, "W3": w3_broadcast, "W4": w4_idle, "W5": w5_scale_out}
