"""The load generator: one workload against one server, in its own process; prints JSON.

    python -m bench.loadgen --dialect signalr --protocol json --url ws://127.0.0.1:8000/hubs/bench \\
        --server-pid 1234 --workload W1 --params '{"count": 5000}'

It runs on uvloop when installed, raises its open-file limit for thousands of
connections, and reports its own CPU time next to the server's, so a saturated
generator shows (``generator_cpu_share`` near 1.0 means the numbers are its limit).
W5 passes ``--url``/``--server-pid`` once per server process and ``--watch redis=PID``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
import traceback
from typing import Any

from .workloads import WORKLOADS, Target


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(options: argparse.Namespace) -> dict[str, Any]:
    watched = dict(item.split("=", 1) for item in options.watch)
    target = Target(
        options.dialect,
        options.url[0],
        options.protocol,
        options.server_pid[0],
        urls=options.url,
        server_pids=options.server_pid,
        watched={name: int(pid) for name, pid in watched.items()},
    )
    params = json.loads(options.params)
    started = time.perf_counter()
    try:
        metrics = await asyncio.wait_for(WORKLOADS[options.workload](target, **params), options.timeout)
        status = "ok" if not metrics.get("errors") and not metrics.get("lost") else "errors"
        if metrics.get("ended") == "deadline":
            status = "deadline"
    except TimeoutError:
        metrics, status = {}, "timeout"
        target.problems.append(f"workload did not finish within {options.timeout} s")
    except Exception as exc:
        metrics, status = {}, "failed"
        target.problems.append("".join(traceback.format_exception_only(exc)).strip())
    return {
        "status": status,
        "metrics": metrics,
        "problems": target.problems[:20],
        "params": params,
        "generator": {
            "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "elapsed_s": time.perf_counter() - started,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialect", required=True, choices=["signalr", "socketio", "channels"])
    parser.add_argument("--protocol", default="json", choices=["json", "messagepack"])
    # Repeated for W5: several processes acting as one hub, in the same order as their pids.
    parser.add_argument("--url", required=True, action="append")
    parser.add_argument("--server-pid", type=int, required=True, action="append")
    parser.add_argument("--watch", action="append", default=[], help="NAME=PID: also measure this process's CPU")
    parser.add_argument("--workload", required=True, choices=sorted(WORKLOADS))
    parser.add_argument("--params", default="{}")
    parser.add_argument("--timeout", type=float, default=180.0)
    options = parser.parse_args()
    if len(options.url) != len(options.server_pid):
        parser.error("give one --server-pid per --url")
    raise_fd_limit()
    try:
        import uvloop

        result = uvloop.run(run(options))
    except ImportError:
        result = asyncio.run(run(options))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
