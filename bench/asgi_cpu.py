"""CPU per echo invocation through a whole ASGI stack, in process, no sockets.

    .venv/bin/python bench/asgi_cpu.py            # get_asgi_application() against the URLRouter row

Process CPU time barely moves with other load on the machine (unlike throughput over
loopback), so this compares ``bench/hubapp/asgi.py`` (``get_asgi_application()``) and
``bench/hubapp/asgi_router.py`` (``EchoHub.as_asgi()`` in a ``URLRouter`` under
``AuthMiddlewareStack``) frame for frame: what routing a hub as a consumer costs per message.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.hubapp.settings")

RS = "\x1e"
INVOCATIONS = 20_000
REPEATS = 5
SCOPE = {
    "type": "websocket",
    "path": "/hubs/bench",
    "raw_path": b"/hubs/bench",
    "query_string": b"",
    "headers": [(b"host", b"127.0.0.1")],
    "subprotocols": [],
    "asgi": {"version": "3.0"},
    "client": ("127.0.0.1", 1),
    "server": ("127.0.0.1", 2),
}


async def cpu_per_invocation(app: Any) -> float:
    """Seconds of process CPU per sequential ``echo`` round trip (W1's message)."""
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(app(dict(SCOPE), incoming.get, outgoing.put))
    await incoming.put({"type": "websocket.connect"})
    assert (await outgoing.get())["type"] == "websocket.accept"
    await incoming.put({"type": "websocket.receive", "text": json.dumps({"protocol": "json", "version": 1}) + RS})
    await outgoing.get()
    payload = {"k": "v" * 80}
    started = time.process_time()
    for i in range(INVOCATIONS):
        frame = {"type": 1, "invocationId": str(i), "target": "echo", "arguments": [payload]}
        await incoming.put({"type": "websocket.receive", "text": json.dumps(frame) + RS})
        while '"type":3' not in (await outgoing.get()).get("text", ""):
            pass
    spent = time.process_time() - started
    await incoming.put({"type": "websocket.disconnect", "code": 1000})
    await task
    return spent / INVOCATIONS


async def main() -> None:
    from bench.hubapp.asgi import application as today
    from bench.hubapp.asgi_router import application as router

    results: dict[str, list[float]] = {"get_asgi_application": [], "URLRouter + AuthMiddlewareStack": []}
    for _ in range(REPEATS):  # interleaved, so that drift hits both alike
        results["get_asgi_application"].append(await cpu_per_invocation(today))
        results["URLRouter + AuthMiddlewareStack"].append(await cpu_per_invocation(router))
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name:34} {medians[name] * 1e6:6.1f} µs/invocation  ({', '.join(f'{v * 1e6:.1f}' for v in values)})")
    base, routed = medians.values()
    print(f"URLRouter row / today: {base / routed:.2f}x (CPU per message; above 1 is cheaper)")


if __name__ == "__main__":
    asyncio.run(main())
