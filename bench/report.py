"""Medians over repeats, ratios to django-hubs, and the Markdown report."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

DASH = "\u2013"  # en dash, for ranges and empty cells
TIMES = "\u00d7"  # multiplication sign, for ratios

#: The headline figure of each workload and whether more is better.
HEADLINE = {
    "W1": ("round_trips_per_s", True),
    "W2": ("responses_per_s", True),
    "W3": ("deliveries_per_s", True),
    "W4": ("rss_per_connection_kb", False),
}
#: Counts that are summed over repeats rather than summarized (any of them non-zero is news).
COUNTS = (
    "errors",
    "lost",
    "undelivered_at_deadline",
    "duplicates",
    "wrong",
    "connect_failures",
    "messages_incomplete",
)


def summarize(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per server, protocol and workload: median, min and max of every number."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[(run["server"], run["protocol"], run["workload"])].append(run)
    summary = []
    for (server, protocol, workload), members in groups.items():
        numbers: dict[str, list[float]] = defaultdict(list)
        for run in members:
            for key, value in run.get("metrics", {}).items():
                if isinstance(value, int | float) and not isinstance(value, bool) and value == value:
                    numbers[key].append(float(value))
        stats = {
            key: {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
            for key, values in numbers.items()
        }
        summary.append(
            {
                "server": server,
                "name": members[0]["name"],
                "protocol": protocol,
                "workload": workload,
                "repeats": len(members),
                "statuses": [run["status"] for run in members],
                "totals": {key: int(sum(numbers.get(key, []))) for key in COUNTS if key in numbers},
                "stats": stats,
            }
        )
    add_ratios(summary)
    return summary


def reference_for(entry: dict[str, Any]) -> tuple[str, str]:
    """django-hubs on the same ASGI server and protocol (uvicorn for servers of their own)."""
    host = entry["server"].rsplit("-", 1)[-1]
    return ("hubs-daphne" if host == "daphne" else "hubs-uvicorn"), entry["protocol"]


def add_ratios(summary: list[dict[str, Any]]) -> None:
    index = {(e["server"], e["protocol"], e["workload"]): e for e in summary}
    for entry in summary:
        metric, _ = HEADLINE[entry["workload"]]
        server, protocol = reference_for(entry)
        reference = index.get((server, protocol, entry["workload"]))
        if reference is None and entry["workload"] == "W4":
            reference = index.get((server, "json", "W4"))
        mine = entry["stats"].get(metric, {}).get("median")
        theirs = reference["stats"].get(metric, {}).get("median") if reference else None
        entry["ratio_to_django_hubs"] = mine / theirs if mine and theirs else None
        entry["ratio_reference"] = f"{server}/{protocol}" if reference else None


# --- Markdown -------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def cell(entry: dict[str, Any], key: str, digits: int = 0, spread: bool = False, scale: float = 1.0) -> str:
    stat = entry["stats"].get(key)
    if stat is None:
        return DASH
    text = fmt(stat["median"] * scale, digits)
    if spread and stat["n"] > 1:
        text += f" ({fmt(stat['min'] * scale, digits)}{DASH}{fmt(stat['max'] * scale, digits)})"
    return text


#: A generator busier than this (share of one core) may have set the pace, not the server.
GENERATOR_BOUND = 0.85


def headline(entry: dict[str, Any], key: str) -> str:
    """The headline cell; marked with a lower bound where the generator may have been the limit."""
    text = cell(entry, key, spread=True)
    share = entry["stats"].get("generator_cpu_share", {}).get("median")
    if share is not None and share >= GENERATOR_BOUND:
        return f"\u2265 {text} (generator-bound)"
    return text


def ratio(entry: dict[str, Any]) -> str:
    value = entry.get("ratio_to_django_hubs")
    return f"{value:.2f}{TIMES}" if value else DASH


def problems(entry: dict[str, Any]) -> str:
    totals = entry["totals"]
    bad = [f"{k}={v:,}" for k, v in totals.items() if v]
    failed = [s for s in entry["statuses"] if s in ("failed", "timeout")]
    if failed:
        bad.append(f"{len(failed)} run(s) {'/'.join(sorted(set(failed)))}")
    return ", ".join(bad) if bad else "none"


TABLES: dict[str, tuple[str, list[tuple[str, Any]]]] = {
    "W1": (
        "one client, sequential `echo` invocations of a ~100-byte payload",
        [
            ("round trips/s", lambda e: headline(e, "round_trips_per_s")),
            ("p50 ms", lambda e: cell(e, "p50_ms", 3)),
            ("p99 ms", lambda e: cell(e, "p99_ms", 3)),
            ("server CPU µs/msg", lambda e: cell(e, "server_cpu_us_per_msg", 1)),
            ("server CPU", lambda e: cell(e, "server_cpu_share", 0, scale=100) + " %"),
            ("generator CPU", lambda e: cell(e, "generator_cpu_share", 0, scale=100) + " %"),
            ("other load", lambda e: cell(e, "other_cpu_cores", 2)),
        ],
    ),
    "W2": (
        "100 clients, 10 `echo` invocations in flight on each",
        [
            ("responses/s", lambda e: headline(e, "responses_per_s")),
            ("p50 ms", lambda e: cell(e, "p50_ms", 2)),
            ("p99 ms", lambda e: cell(e, "p99_ms", 2)),
            ("server CPU µs/msg", lambda e: cell(e, "server_cpu_us_per_msg", 1)),
            ("server CPU", lambda e: cell(e, "server_cpu_share", 0, scale=100) + " %"),
            ("generator CPU", lambda e: cell(e, "generator_cpu_share", 0, scale=100) + " %"),
            ("other load", lambda e: cell(e, "other_cpu_cores", 2)),
        ],
    ),
    "W3": (
        "clients in one group, one of them broadcasting ~100-byte messages (next when the previous is acknowledged)",
        [
            ("deliveries/s", lambda e: headline(e, "deliveries_per_s")),
            ("to last client p50 ms", lambda e: cell(e, "p50_ms_to_last_client", 1)),
            ("p99 ms", lambda e: cell(e, "p99_ms_to_last_client", 1)),
            (
                "lost / expected",
                lambda e: f"{e['totals'].get('lost', 0):,} / {int(sum_of(e, 'expected_deliveries')):,}",
            ),
            ("server CPU µs/delivery", lambda e: cell(e, "server_cpu_us_per_msg", 1)),
            ("server CPU", lambda e: cell(e, "server_cpu_share", 0, scale=100) + " %"),
            ("generator CPU", lambda e: cell(e, "generator_cpu_share", 0, scale=100) + " %"),
            ("other load", lambda e: cell(e, "other_cpu_cores", 2)),
        ],
    ),
    "W4": (
        "idle connections held open (handshake done, in the group)",
        [
            ("KiB/connection", lambda e: cell(e, "rss_per_connection_kb", 1, spread=True)),
            ("RSS before → after MiB", lambda e: f"{cell(e, 'rss_before_mb', 0)} → {cell(e, 'rss_after_mb', 0)}"),
            ("held", lambda e: cell(e, "connections")),
            ("connects/s", lambda e: cell(e, "connects_per_s")),
            ("server CPU µs/connect", lambda e: cell(e, "connect_server_cpu_us_per_msg", 0)),
            ("generator CPU", lambda e: cell(e, "connect_generator_cpu_share", 0, scale=100) + " %"),
            ("other load", lambda e: cell(e, "connect_other_cpu_cores", 2)),
        ],
    ),
}


def lost_of(entry: dict[str, Any]) -> str:
    """Lost over all repeats; deliveries still on their way when a run's deadline hit are not lost."""
    text = f"{entry['totals'].get('lost', 0):,} / {int(sum_of(entry, 'expected_deliveries')):,}"
    late = entry["totals"].get("undelivered_at_deadline", 0)
    return text + (f" (+{late:,} cut off by the deadline)" if late else "")


def sum_of(entry: dict[str, Any], key: str) -> float:
    stat = entry["stats"].get(key)
    return stat["median"] * stat["n"] if stat else 0


def workload_title(workload: str, params: dict[str, Any]) -> str:
    p = params.get(workload, {})
    counts = {
        "W1": lambda: f"{p.get('count', 0):,} invocations",
        "W2": lambda: (
            f"{p.get('clients_count')} clients {TIMES} {p.get('in_flight')} in flight, "
            f"{p.get('per_client')} invocations per client"
        ),
        "W3": lambda: f"{p.get('clients_count', 0):,} clients, {p.get('messages')} messages",
        "W4": lambda: f"{p.get('connections', 0):,} connections",
    }[workload]()
    return f"{workload}: {TABLES[workload][0]} ({counts})"


def write_markdown(results: dict[str, Any], path: Path) -> None:
    lines: list[str] = []
    add = lines.append
    machine = results["machine"]
    add("# django-hubs benchmark results")
    add("")
    add(
        f"Mode **{results['mode']}**, {results['repeats']} repeat(s) of every measurement; each cell is the "
        f"**median**, with min{DASH}max over the repeats in parentheses where there are several. "
        f"Run took {results['duration_s']:.0f} s, finished {results['finished']}. "
        "Regenerate with `.venv/bin/python bench/run.py` (see bench/README.md)."
    )
    add("")
    add(
        f"**{TIMES}django-hubs** is the row's headline figure divided by django-hubs' on the same ASGI server and "
        "protocol (uvicorn for servers of their own); above 1 the row is faster (W4: uses more memory). "
        "*server CPU µs/msg* is the server process's CPU time over the measured phase divided by the "
        "messages it handled (requests + replies, or deliveries + the sender's requests and replies). "
        "*generator CPU* is the load generator's own CPU time over the wall time: near 100 % means the "
        "generator, not the server, set the pace: such cells are marked \u2265 and '(generator-bound)', "
        "as the server could do more. *other load* is the CPU (in cores) that everything "
        "else on the machine used meanwhile: the 2-core machine is shared, and a run with other load "
        "above ~0.2 cores is disturbed (throughput drops; CPU per message moves much less)."
    )
    for workload in ("W1", "W2", "W3", "W4"):
        entries = [e for e in results["summary"] if e["workload"] == workload]
        if not entries:
            continue
        columns = TABLES[workload][1]
        add("")
        add(f"## {workload_title(workload, results['params'])}")
        add("")
        header = ["server", "protocol", *(name for name, _ in columns), f"{TIMES}django-hubs", "errors / losses"]
        add("| " + " | ".join(header) + " |")
        add("|" + "---|" * len(header))
        for entry in entries:
            row = [entry["name"], entry["protocol"], *(render(entry) for _, render in columns)]
            row += [ratio(entry), problems(entry)]
            add("| " + " | ".join(row) + " |")
    add("")
    add("## W5: scale-out over Redis — TODO")
    add("")
    for todo in results.get("todo", []):
        add(f"Not measured yet: {todo['what']}. {todo['why not yet'].capitalize()}.")
    if results.get("skipped"):
        add("")
        add("## Skipped servers")
        add("")
        for key, why in results["skipped"].items():
            add(f"- {key}: {why}")
    failures = [r for r in results["runs"] if r["status"] != "ok" and r.get("problems")]
    if failures:
        add("")
        add("## Problems seen")
        add("")
        for run in failures[:30]:
            first = run["problems"][0].replace("\n", " ")[:200]
            add(f"- {run['name']} {run['protocol']} {run['workload']} repeat {run['repeat']}: {run['status']}: {first}")
    if results.get("profiles"):
        add("")
        add("## Where django-hubs spends its time (py-spy samples of the server process)")
        add("")
        add(
            "py-spy samples the server's Python stacks 250 times a second while it holds the GIL "
            "(`--gil`), so idle waiting is left out. Time in C code (the JSON scanner, uvloop, the "
            "socket write system call) counts on the Python line that called it: on loopback a "
            "`transport.write` line includes the kernel's TCP work for both ends of the connection. "
            "Shares are more trustworthy than the µs figures, which also absorb time the process was "
            "descheduled while holding the GIL. Each profile is one run outside the measurements above."
        )
        for profile in results["profiles"]:
            add("")
            add(f"### {profile['title']}")
            add("")
            add(profile["markdown"])
    add("")
    add("## Machine and software")
    add("")
    pinning = results["pinning"]
    observed = ", ".join(sorted(set(filter(None, pinning["observed"].values()))))
    add(
        f"- CPU: {machine['cpu']}, {machine['cpus']} cores ({machine['cpus_usable']} usable), "
        f"{machine['memory_gib']} GiB"
    )
    add(f"- OS: {machine['os']}; Python {machine['python']}")
    add(
        f"- Pinning: server on core {pinning['server_cores']}, generator on core {pinning['generator_cores']} "
        f"(taskset; observed server affinity: {observed or DASH}); nice {pinning.get('nice')}; "
        f"{pinning.get('quiet_wait_s') or 0} s spent waiting for other load to settle"
    )
    generator_cores = sorted(
        {",".join(map(str, (r.get("generator") or {}).get("affinity") or [])) for r in results["runs"]} - {""}
    )
    add(f"- Observed generator affinity: {'; '.join(generator_cores) or DASH}")
    generators = {(r.get("generator") or {}).get("loop") for r in results["runs"]} - {None}
    add(f"- Load generator: asyncio + websockets client on {', '.join(sorted(generators)) or DASH}, one process")
    packages = ", ".join(f"{k} {v}" for k, v in machine["packages"].items() if v)
    add(f"- Packages: {packages}")
    git = machine.get("django_hubs", {})
    if git:
        add(f"- django-hubs at {git.get('commit')}{' (with uncommitted changes)' if git.get('dirty') else ''}")
    add(f"- Parameters: `{results['params']}`")
    path.write_text("\n".join(lines) + "\n")
