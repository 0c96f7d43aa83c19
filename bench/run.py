"""Run the benchmark suite and write ``bench/results.md`` and ``bench/results.json``.

    .venv/bin/python bench/run.py              # full: 3 repeats (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick      # smoke: 1 repeat, small counts, into bench/results/
    .venv/bin/python bench/run.py --servers hubs-uvicorn,raw-sansio --workloads W1,W3 --profile
    .venv/bin/python bench/run.py --servers hubs-uvicorn --workloads W3,W5   # a partial run, into bench/results/
    .venv/bin/python bench/run.py --merge bench/results/results.json --workloads W5   # into bench/results.json

Each server runs alone in its own process on 127.0.0.1, pinned to one core; the load
generator runs in another process pinned to the other core (``taskset``, where there
are two cores). Each workload run is bounded in count and time and stops by itself.
Peers come from ``bench/requirements.txt``; a peer that is not installed is skipped
and listed as such. W5 (two django-hubs processes over a redis-server the suite starts)
is skipped, with a note in the report, where ``redis-server`` is missing.

A run of fewer servers, workloads or protocols than the default writes into
``bench/results/`` (unless ``--out`` says otherwise), never over the committed full
report; ``--merge`` then replaces chosen workloads' rows of a report with its rows.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: import ``bench`` from the project root, not bench/ itself
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import spy
from bench.machine import machine_facts
from bench.report import summarize, write_markdown
from bench.servers import ROOT, SERVERS, RedisServer, RunningServer, ServerSpec, affinity, pin_prefix, redis_missing

BENCH = ROOT / "bench"
#: raw-asyncio (websockets' own asyncio server) is left out by default to keep the run short.
DEFAULT_SERVERS = [key for key in SERVERS if key != "raw-asyncio"]
WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
#: W5: this server, as one process on the in-memory layer (its W3 run) and as two over Redis.
W5_SERVER = "hubs-uvicorn"
W5_KEY = "hubs-uvicorn-redis"
W5_NAME = "django-hubs / 2 \u00d7 uvicorn over Redis"
W5_BASELINE_NAME = "django-hubs / 1 \u00d7 uvicorn, in-memory layer"
W5_PROCESSES = 2

FULL = {
    "W1": {"count": 5000},
    "W2": {"clients_count": 100, "in_flight": 10, "per_client": 100},
    # 200 messages as first planned took 100-130 s per run on the Channels consumer (1.5-2.5k
    # deliveries/s): 50 keeps the full run near 15 minutes.
    "W3": {"clients_count": 1000, "messages": 50},
    "W4": {"connections": 5000},
    # W3's broadcast, across two processes: the same counts, so that the two compare.
    "W5": {"clients_count": 1000, "messages": 50},
}
QUICK = {
    "W1": {"count": 300},
    "W2": {"clients_count": 10, "in_flight": 10, "per_client": 20},
    "W3": {"clients_count": 50, "messages": 20},
    "W4": {"connections": 200},
    "W5": {"clients_count": 50, "messages": 20},
}
#: The longest one generator process may run (connects, warm-up, measurement, close).
GENERATOR_TIMEOUT = {"W1": 90, "W2": 90, "W3": 150, "W4": 150, "W5": 150}

QUIET: Quiet | None = None


def cores() -> tuple[str | None, str | None]:
    """Cores for the server and for the generator: different ones where there are two."""
    try:
        available = sorted(os.sched_getaffinity(0))
    except AttributeError:
        return None, None
    if len(available) < 2:
        return None, None
    return str(available[0]), str(available[1])


def raise_priority(nice: int) -> int | None:
    """Lower this process's nice value (children inherit it), so that other work on a shared
    machine disturbs the measurements less; the value in force, or ``None`` if not allowed."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    try:
        return os.getpriority(os.PRIO_PROCESS, 0)
    except (OSError, AttributeError):
        return None


class Quiet:
    """Waits, within a total budget, until the rest of the machine is nearly idle."""

    def __init__(self, budget: float, threshold: float = 0.25, patience: float = 5.0) -> None:
        self.budget = budget
        self.threshold = threshold
        self.patience = patience
        self.waited = 0.0

    def wait(self) -> float:
        """Other load (cores) seen last; waits at most ``patience`` s, and nothing once the budget is spent."""
        from bench.workloads import machine_busy

        if self.waited >= self.budget:
            return float("nan")
        deadline = time.monotonic() + min(self.patience, self.budget - self.waited)
        start = time.monotonic()
        while True:
            busy, t0 = machine_busy(), time.monotonic()
            time.sleep(0.5)
            load = (machine_busy() - busy) / (time.monotonic() - t0)
            if load <= self.threshold or time.monotonic() >= deadline:
                self.waited += time.monotonic() - start
                return load


def raise_fd_limit() -> None:
    """Servers inherit this limit: 5,000 connections need more than the usual 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def run_generator(
    server: RunningServer | list[RunningServer],
    protocol: str,
    workload: str,
    params: dict[str, Any],
    generator_cores: str | None,
    watch: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One generator process against one server, or (W5) several acting as one hub."""
    servers = server if isinstance(server, list) else [server]
    timeout = GENERATOR_TIMEOUT[workload]
    if QUIET is not None:
        QUIET.wait()
    command = [
        *pin_prefix(generator_cores),
        sys.executable,
        "-m",
        "bench.loadgen",
        "--dialect",
        servers[0].spec.dialect,
        "--protocol",
        protocol,
        *(arg for one in servers for arg in ("--url", one.url, "--server-pid", str(one.pid))),
        *(arg for name, pid in (watch or {}).items() for arg in ("--watch", f"{name}={pid}")),
        "--workload",
        workload,
        "--params",
        json.dumps(params),
        "--timeout",
        str(timeout - 20),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "metrics": {}, "problems": [f"generator killed after {timeout} s"]}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout)[-800:]
        return {"status": "failed", "metrics": {}, "problems": [f"generator exited {done.returncode}: {tail}"]}
    return json.loads(lines[-1])


def plan(servers: list[ServerSpec], workloads: list[str], protocols: set[str]) -> list[tuple[ServerSpec, list[str]]]:
    return [(spec, [p for p in spec.protocols if p in protocols]) for spec in servers]


def run_suite(options: argparse.Namespace) -> dict[str, Any]:
    global QUIET
    raise_fd_limit()
    nice = raise_priority(options.nice)
    QUIET = Quiet(options.quiet_budget) if options.quiet_budget > 0 else None
    server_cores, generator_cores = cores() if not options.no_pin else (None, None)
    params = QUICK if options.quick else FULL
    repeats = options.repeats or (1 if options.quick else 3)
    log_dir = options.out_dir / "logs"
    servers: list[ServerSpec] = []
    skipped: dict[str, str] = {}
    for key in options.servers:
        spec = SERVERS[key]
        why = spec.available()
        if why is None:
            servers.append(spec)
        else:
            skipped[key] = why
            print(f"skipping {spec.name}: {why}", flush=True)
    message_workloads = [w for w in options.workloads if w in ("W1", "W2", "W3")]
    skipped_workloads: dict[str, str] = {}
    if "W5" in options.workloads:
        why = redis_missing()
        if why is None and W5_SERVER not in [spec.key for spec in servers]:
            why = f"W5 measures django-hubs under uvicorn: {W5_SERVER} is not among the servers run"
        if why is not None:
            skipped_workloads["W5"] = why
            print(f"skipping W5: {why}", flush=True)
    runs: list[dict[str, Any]] = []
    pinning: dict[str, Any] = {
        "server_cores": server_cores,
        "generator_cores": generator_cores,
        "observed": {},
        "nice": nice,
    }
    #: The W3 result of each (protocol, repeat) of W5's server: W5's one-process baseline.
    w3_results: dict[tuple[str, int], dict[str, Any]] = {}
    started = time.monotonic()

    def record(key: str, name: str, protocol: str, workload: str, repeat: int, result: dict[str, Any]) -> None:
        entry = {"server": key, "name": name, "protocol": protocol, "workload": workload, "repeat": repeat}
        runs.append({**entry, **result})
        if workload == "W3" and key == W5_SERVER:
            w3_results[(protocol, repeat)] = result
        metrics = result.get("metrics", {})
        headline = {
            "W1": "round_trips_per_s",
            "W2": "responses_per_s",
            "W3": "deliveries_per_s",
            "W4": "rss_per_connection_kb",
            "W5": "deliveries_per_s",
        }[workload]
        value = metrics.get(headline)
        shown = f"{value:,.1f}" if isinstance(value, float) else value
        extra = f" lost={metrics.get('lost')}" if workload in ("W3", "W5") else ""
        print(
            f"[{time.monotonic() - started:6.0f}s] r{repeat} {key:<19} {protocol:<11} {workload} "
            f"{result['status']:<7} {headline}={shown}{extra} "
            f"gen_cpu={metrics.get('generator_cpu_share', metrics.get('connect_generator_cpu_share'))}",
            flush=True,
        )
        for text in result.get("problems", [])[:3]:
            print(f"    problem: {text[:300]}", flush=True)

    for repeat in range(1, repeats + 1):
        for spec, protocols in plan(servers, options.workloads, set(options.protocols)):
            if message_workloads and protocols:
                server = RunningServer(spec, log_dir, server_cores)
                pinning["observed"][spec.key] = affinity(server.pid)
                try:
                    for protocol in protocols:
                        for workload in message_workloads:
                            result = run_generator(server, protocol, workload, params[workload], generator_cores)
                            record(spec.key, spec.name, protocol, workload, repeat, result)
                            if not server.alive():
                                raise RuntimeError(f"{spec.key} died during {workload}: see {server.log_path}")
                finally:
                    server.stop()
            if "W5" in options.workloads and "W5" not in skipped_workloads and spec.key == W5_SERVER and protocols:
                # Right after this server's W3 (before W4), so that both halves of the comparison see
                # the same machine.
                for protocol in protocols:
                    baseline = w3_results.get((protocol, repeat))
                    source = f"the W3 run of repeat {repeat}"
                    if baseline is None:
                        server = RunningServer(spec, log_dir, server_cores)
                        try:
                            baseline = run_generator(server, protocol, "W3", params["W5"], generator_cores)
                        finally:
                            server.stop()
                        source = "a W3 run made for W5"
                    record(spec.key, W5_BASELINE_NAME, protocol, "W5", repeat, {**baseline, "baseline_of": source})
                try:
                    measured = run_w5(spec, protocols, params["W5"], log_dir, server_cores, generator_cores)
                except (RuntimeError, TimeoutError, OSError) as exc:
                    failed = {"status": "failed", "metrics": {}, "problems": [f"W5 could not start: {exc}"]}
                    measured = [(protocol, dict(failed)) for protocol in protocols]
                for protocol, result in measured:
                    if seen := result.pop("affinity", None):
                        pinning.setdefault("w5_observed", seen)
                    record(W5_KEY, W5_NAME, protocol, "W5", repeat, result)
            if "W4" in options.workloads:
                # A fresh process, so the memory baseline is not what earlier workloads left.
                server = RunningServer(spec, log_dir, server_cores)
                try:
                    result = run_generator(server, spec.protocols[0], "W4", params["W4"], generator_cores)
                    record(spec.key, spec.name, spec.protocols[0], "W4", repeat, result)
                finally:
                    server.stop()

    pinning["quiet_wait_s"] = round(QUIET.waited, 1) if QUIET else None
    profiles: list[dict[str, Any]] = []
    if options.profile:
        profiles = spy.profile_hubs(options.out_dir, options.quick, server_cores, generator_cores, run_generator)

    return {
        "mode": "quick" if options.quick else "full",
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - started, 1),
        "repeats": repeats,
        "params": {w: params[w] for w in options.workloads},
        "machine": machine_facts(),
        "pinning": pinning,
        "skipped": skipped,
        "skipped_workloads": skipped_workloads,
        "runs": runs,
        "summary": summarize(runs),
        "profiles": profiles,
    }


def run_w5(
    spec: ServerSpec,
    protocols: list[str],
    params: dict[str, Any],
    log_dir: Path,
    server_cores: str | None,
    generator_cores: str | None,
) -> list[tuple[str, dict[str, Any]]]:
    """W3's broadcast over two fresh django-hubs processes and a fresh redis-server.

    Both servers and redis-server share the server core, as the single process of W3 has
    it alone: the comparison is of the same CPU doing the same deliveries, so it shows
    what the backplane and the split cost, not a speed-up from more cores (the other core
    drives the load).
    """
    redis = RedisServer(log_dir, server_cores)
    servers: list[RunningServer] = []
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        for _ in range(W5_PROCESSES):
            servers.append(RunningServer(spec, log_dir, server_cores, {"BENCH_REDIS_URL": redis.url}))
        seen = {f"server{n + 1}": affinity(one.pid) for n, one in enumerate(servers)} | {"redis": affinity(redis.pid)}
        for protocol in protocols:
            result = run_generator(servers, protocol, "W5", params, generator_cores, {"redis": redis.pid})
            dead = [one.log_path.name for one in servers if not one.alive()] + ([] if redis.alive() else ["redis"])
            if dead:
                result.setdefault("problems", []).append(f"died during W5: {', '.join(dead)}")
                result["status"] = "failed"
            results.append((protocol, {**result, "affinity": seen}))
            if dead:
                break
    finally:
        for one in servers:
            one.stop()
        redis.stop()
    return results


def merge_results(base: dict[str, Any], new: dict[str, Any], workloads: list[str]) -> dict[str, Any]:
    """``base`` with the runs of ``workloads`` taken from ``new`` (and its parameters for them).

    The rest of ``base`` (its other rows, profiles, machine facts) stays; ``merged`` records
    where and when the replaced rows were measured, and the report says so.
    """
    taken = [run for run in new["runs"] if run["workload"] in workloads]
    if not taken and not any(w in new.get("skipped_workloads", {}) for w in workloads):
        raise SystemExit(f"nothing to merge: {', '.join(workloads)} did not run in that report")
    runs = [run for run in base["runs"] if run["workload"] not in workloads] + taken
    skipped = {k: v for k, v in base.get("skipped_workloads", {}).items() if k not in workloads}
    skipped |= {k: v for k, v in new.get("skipped_workloads", {}).items() if k in workloads}
    merged = {
        **base,
        "params": {**base["params"], **{w: new["params"][w] for w in workloads if w in new["params"]}},
        "skipped_workloads": skipped,
        "runs": runs,
        "summary": summarize(runs),
    }
    merged.pop("todo", None)  # the W5 placeholder of reports written before W5 existed
    merged["merged"] = [m for m in base.get("merged", []) if not set(m["workloads"]) <= set(workloads)] + [
        {
            "workloads": sorted(workloads),
            "mode": new["mode"],
            "repeats": new["repeats"],
            "finished": new["finished"],
            "duration_s": new["duration_s"],
            "servers": sorted({run["server"] for run in taken}),
            "pinning": new["pinning"],
            "django_hubs": new["machine"].get("django_hubs"),
        }
    ]
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 repeat, small counts (a smoke run)")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3, or 1 with --quick)")
    parser.add_argument(
        "--servers", default=",".join(DEFAULT_SERVERS), help=f"comma-separated, of: {', '.join(SERVERS)}"
    )
    parser.add_argument("--workloads", help=f"comma-separated, of: {', '.join(WORKLOADS)} (default: all)")
    parser.add_argument("--protocols", default="json,messagepack", help="SignalR protocols to run")
    parser.add_argument(
        "--profile", action="store_true", help="also sample django-hubs with py-spy under W1, W2 and W3"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and generator to cores")
    parser.add_argument("--nice", type=int, default=-10, help="nice value for servers and generator (default -10)")
    parser.add_argument(
        "--quiet-budget",
        type=float,
        help="seconds the whole run may spend waiting for other load to settle before measurements "
        "(default 60, 0 with --quick)",
    )
    parser.add_argument("--out", type=Path, help="folder for results.md/json (default bench/, or bench/results/ quick)")
    parser.add_argument("--render", type=Path, help="only rewrite results.md next to this results.json")
    parser.add_argument(
        "--merge",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: replace the rows of --workloads (default: every workload in RESULTS_JSON) "
        "in --into with those of RESULTS_JSON, and rewrite its results.md",
    )
    parser.add_argument(
        "--into", type=Path, default=BENCH / "results.json", help="the report --merge changes (default bench/)"
    )
    options = parser.parse_args(argv)
    if options.render is not None:
        write_markdown(json.loads(options.render.read_text()), options.render.with_name("results.md"))
        return 0
    chosen = [w.strip().upper() for w in (options.workloads or "").split(",") if w.strip()]
    for workload in chosen:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}")
    if options.merge is not None:
        base, new = json.loads(options.into.read_text()), json.loads(options.merge.read_text())
        merged = merge_results(base, new, chosen or sorted({run["workload"] for run in new["runs"]}))
        options.into.write_text(json.dumps(merged, indent=1) + "\n")
        write_markdown(merged, options.into.with_name("results.md"))
        print(f"merged {', '.join(merged['merged'][-1]['workloads'])} of {options.merge} into {options.into}")
        return 0
    if options.quiet_budget is None:
        options.quiet_budget = 0.0 if options.quick else 60.0
    options.servers = [s.strip() for s in options.servers.split(",") if s.strip()]
    options.workloads = chosen or list(WORKLOADS)
    options.protocols = [p.strip() for p in options.protocols.split(",") if p.strip()]
    for key in options.servers:
        if key not in SERVERS:
            parser.error(f"unknown server {key!r}")
    # Only a full run of everything replaces the committed report by default.
    partial = (
        options.servers != DEFAULT_SERVERS
        or options.workloads != list(WORKLOADS)
        or set(options.protocols) != {"json", "messagepack"}
    )
    out = options.out or (BENCH / "results" if options.quick or partial else BENCH)
    options.out_dir = BENCH / "results" if options.out is None else out
    out.mkdir(parents=True, exist_ok=True)
    # A terminated run still stops its servers (the ``finally`` blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = run_suite(options)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_markdown(results, out / "results.md")
    print(f"wrote {out / 'results.md'} and {out / 'results.json'} in {results['duration_s']} s", flush=True)
    failed = [r for r in results["runs"] if r["status"] in ("failed", "timeout")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
