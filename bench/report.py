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
    "W5": ("deliveries_per_s", True),
}
#: W5's one-process row (its W3 run), which the two-process row is divided by.
W5_REFERENCE = "hubs-uvicorn"
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
    """django-hubs on the same ASGI server and protocol (uvicorn for servers of their own).

    W5 compares two processes over Redis with one process on the in-memory layer: its
    reference is the one-process row, ``hubs-uvicorn``, of W5 itself.
    """
    if entry["workload"] == "W5":
        return W5_REFERENCE, entry["protocol"]
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


def per_process(entry: dict[str, Any], key: str, digits: int = 0, scale: float = 1.0, join: str = " / ") -> str:
    """``key`` (with ``{n}`` for the process number) of each W5 process; a dash for one process."""
    cells = []
    for n in range(1, 10):
        stat = entry["stats"].get(key.format(n=n))
        if stat is None:
            break
        cells.append(fmt(stat["median"] * scale, digits))
    return join.join(cells) if cells else DASH


def percent(entry: dict[str, Any], key: str) -> str:
    """A share of one core in %, or a dash where the row has none."""
    return cell(entry, key, 0, scale=100) + " %" if key in entry["stats"] else DASH


def server_share(entry: dict[str, Any]) -> str:
    """CPU of each server process (W5: ``a + b``), in % of one core."""
    if "process1_cpu_share" in entry["stats"]:
        return per_process(entry, "process{n}_cpu_share", 0, 100, " + ") + " %"
    return cell(entry, "server_cpu_share", 0, scale=100) + " %"


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
    "W5": (
        "W3's broadcast across two django-hubs processes over Redis, against one process on the in-memory layer",
        [
            ("deliveries/s", lambda e: headline(e, "deliveries_per_s")),
            ("to last client p50 ms", lambda e: cell(e, "p50_ms_to_last_client", 1)),
            ("p99 ms", lambda e: cell(e, "p99_ms_to_last_client", 1)),
            ("last client per process p50 ms", lambda e: per_process(e, "p50_ms_to_last_client_process{n}", 1)),
            ("lost / expected", lambda e: lost_of(e)),
            ("server CPU µs/delivery", lambda e: cell(e, "server_cpu_us_per_msg", 1)),
            ("per process µs/delivery", lambda e: per_process(e, "process{n}_cpu_us_per_delivery", 1)),
            ("server CPU", server_share),
            ("redis-server CPU", lambda e: percent(e, "redis_cpu_share")),
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
        "W5": lambda: f"{p.get('clients_count', 0):,} clients, {p.get('messages')} messages",
    }[workload]()
    return f"{workload}: {TABLES[workload][0]} ({counts})"


def median(entry: dict[str, Any] | None, key: str) -> float | None:
    stat = entry["stats"].get(key) if entry else None
    return stat["median"] if stat else None


def w5_notes(results: dict[str, Any], entries: list[dict[str, Any]]) -> list[str]:
    """What W5's rows are, how they were measured, and the comparison in words."""
    out = [""]
    one_row = {e["protocol"]: e for e in entries if e["server"] == W5_REFERENCE}
    for entry in entries:
        if entry["server"] == W5_REFERENCE:
            continue
        base = one_row.get(entry["protocol"])
        keys = ("deliveries_per_s", "server_cpu_us_per_msg", "p50_ms_to_last_client")
        two, one = [median(entry, k) for k in keys], [median(base, k) for k in keys]
        # A tiny (--quick) run can measure 0 s of CPU in /proc's 10 ms ticks: no ratio then.
        if base is None or any(not v for v in (*two[:2], *one[:2])) or two[2] is None or one[2] is None:
            continue
        (rate, cpu, p50), (base_rate, base_cpu, base_p50) = two, one
        near, far = (median(entry, f"p50_ms_to_last_client_process{n}") for n in (1, 2))
        out.append(
            f"- {entry['protocol']}: two processes over Redis deliver {fmt(rate)}/s against {fmt(base_rate)}/s "
            f"for one process ({rate / base_rate:.2f}{TIMES}); the last client has a message after "
            f"{fmt(p50, 1)} ms (p50) against {fmt(base_p50, 1)} ms (process one's last client after "
            f"{fmt(near, 1)} ms, process two's after {fmt(far, 1)} ms); the server side spends "
            f"{fmt(cpu, 1)} µs of CPU per delivery against {fmt(base_cpu, 1)} µs ({cpu / base_cpu:.2f}{TIMES}), "
            f"and redis-server {percent(entry, 'redis_cpu_share')} of a core. "
            f"Lost: {lost_of(entry)} over two processes, {lost_of(base)} over one."
        )
    pinning = results["pinning"]
    merged = next((m for m in results.get("merged", []) if "W5" in m["workloads"]), None)
    if merged is not None:
        pinning = merged["pinning"]
    observed = pinning.get("w5_observed") or {}
    seen = ", ".join(f"{name} on {cores}" for name, cores in observed.items() if cores) or DASH
    sources = sorted({run.get("baseline_of", "") for run in results["runs"] if run["workload"] == "W5"} - {""})
    if sources and all(source.startswith("the W3 run of repeat") for source in sources):
        sources = ["the W3 run of each repeat, made right before the two-process run"]
    out += [
        "",
        "The two-process row runs two uvicorn processes (`--ws websockets-sansio`, no per-message deflate) "
        "serving the bench hub with `CHANNEL_LAYERS` on `channels_redis.core.RedisChannelLayer`, over a "
        'redis-server the suite starts for each repeat on a free port of 127.0.0.1 (`--save "" '
        "--appendonly no`) and stops after. Client *i* connects to process *i* mod 2, so each holds half "
        "the clients; the sender is a client of process one, as in W3 it broadcasts the next message "
        "when the previous is acknowledged, and every message reaches process two through Redis (one "
        "layer message per broadcast) to be fanned out there. Deliveries are counted per client and "
        "message exactly as in W3: *lost* is what had not arrived after 5 s without any delivery.",
        "",
        f"The one-process row is django-hubs under uvicorn on the in-memory layer, from {'; '.join(sources)} "
        f"(the same workload, in the same run). *{TIMES}1 process* is the two-process deliveries/s divided by "
        "the one-process figure. *server CPU µs/delivery* adds up the CPU of both processes over all "
        "deliveries plus the sender's requests and replies, comparable with the one process; *per process* "
        "divides process one's CPU by its own deliveries plus the sender's requests and replies, and "
        "process two's by its own deliveries. *last client per process* is the time until the last client "
        "of process one / of process two has a message. *server CPU* is each process's CPU in % of a core. "
        "CPU times come from `/proc` in 10 ms ticks: at about 0.3 s of CPU per process and run, a "
        "per-process figure moves in steps of about 3 %.",
        "",
        f"Pinning: both server processes and redis-server share core {pinning.get('server_cores')}, the core "
        f"the single process has to itself in W3; the generator runs on core {pinning.get('generator_cores')} "
        f"(observed: {seen}). The server side thus has the same one core in both rows, so W5 shows what "
        "the backplane and the split cost for the same deliveries, not a speed-up from more cores: on a "
        "2-core machine where one core drives the load, there is no spare core for a second process.",
    ]
    if merged is not None:
        git = merged.get("django_hubs") or {}
        commit = f"{git.get('commit')}{' with uncommitted changes' if git.get('dirty') else ''}" if git else None
        out += [
            "",
            f"These rows come from a separate run ({merged['repeats']} repeat(s), {merged['duration_s']:.0f} s, "
            f"finished {merged['finished']}, django-hubs at {commit or DASH}) merged into this report with "
            "`bench/run.py --merge`; their one-process baseline is that run's own W3, which can differ "
            "from the W3 table above (measured in the full run).",
        ]
    return out


def targets(summary: list[dict[str, Any]]) -> list[str]:
    """Issue #7's targets, each measured against this run's own peers: met or by how much not."""
    index = {(e["server"], e["protocol"], e["workload"]): e for e in summary}

    def value(server: str, protocol: str, workload: str) -> float | None:
        return median(index.get((server, protocol, workload)), HEADLINE[workload][0])

    def bound(server: str, protocol: str, workload: str) -> str:
        """Where the generator set the pace, the server's figure is a lower bound."""
        share = median(index.get((server, protocol, workload)), "generator_cpu_share")
        return " (generator-bound)" if share is not None and share >= GENERATOR_BOUND else ""

    rows: list[tuple[str, str, str, float, float]] = []  # target, ours, theirs, ratio, needed

    def compare(
        target: str,
        ours: tuple[str, str, str],
        theirs: tuple[str, str, str],
        needed: float,
        digits: int = 0,
        less_is_better: bool = False,
        bounded: bool = False,
    ) -> None:
        """A row where both servers ran; ``ours`` and ``theirs`` are (server, protocol, workload)."""
        mine, other = value(*ours), value(*theirs)
        if not (mine and other):
            return
        mine_text, other_text = fmt(mine, digits), fmt(other, digits)
        if bounded:
            mine_text, other_text = mine_text + bound(*ours), other_text + bound(*theirs)
        # Less memory is better: the ratio is theirs / ours, so that ≥ needed reads the same way.
        ratio_value = other / mine if less_is_better else mine / other
        rows.append((target, mine_text, other_text, ratio_value, needed))

    for workload in ("W1", "W2"):
        for host in ("daphne", "uvicorn"):
            compare(
                f"{workload} {host}, json: ≥ 0.9{TIMES} the Channels consumer",
                (f"hubs-{host}", "json", workload),
                (f"channels-{host}", "json", workload),
                0.9,
            )
        for peer, name in (("socketio-uvicorn", "python-socketio"), ("aiosignalr-uvicorn", "aiosignalr")):
            for protocol in ("json", "messagepack"):
                compare(
                    f"{workload} uvicorn, {protocol}: ahead of {name}",
                    ("hubs-uvicorn", protocol, workload),
                    (peer, protocol, workload),
                    1.0,
                )
    for protocol in ("json", "messagepack"):
        compare(
            f"W3 uvicorn, {protocol}: ≥ 0.5{TIMES} the raw `websockets` ceiling",
            ("hubs-uvicorn", protocol, "W3"),
            ("raw-sansio", protocol, "W3"),
            0.5,
            bounded=True,
        )
    for host in ("daphne", "uvicorn"):
        compare(
            f"W4 {host}: no more KiB per idle connection than the Channels consumer",
            (f"hubs-{host}", "json", "W4"),
            (f"channels-{host}", "json", "W4"),
            1.0,
            digits=1,
            less_is_better=True,
        )
    for protocol in ("json", "messagepack"):
        compare(
            f"W5 {protocol}: 2 processes over Redis ≥ 0.5{TIMES} one process",
            ("hubs-uvicorn-redis", protocol, "W5"),
            (W5_REFERENCE, protocol, "W5"),
            0.5,
        )
    if not rows:
        return []
    out = [
        "",
        "## Targets",
        "",
        "The targets of the benchmark issue, each against this run's own figures (medians). *ratio* is "
        "django-hubs divided by the other (W4: the other's memory divided by django-hubs'), so each "
        "target reads *ratio ≥ needed*.",
        "",
        "| target | django-hubs | the other | ratio | needed | |",
        "|---|---|---|---|---|---|",
    ]
    for target, ours_text, theirs_text, ratio_value, needed in rows:
        verdict = "met" if ratio_value >= needed else f"**not met**: {needed / ratio_value - 1:.0%} short"
        out.append(f"| {target} | {ours_text} | {theirs_text} | {ratio_value:.2f} | {needed:g} | {verdict} |")
    return out


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
    lines.extend(targets(results["summary"]))
    for workload in ("W1", "W2", "W3", "W4", "W5"):
        entries = [e for e in results["summary"] if e["workload"] == workload]
        if not entries:
            continue
        columns = TABLES[workload][1]
        add("")
        add(f"## {workload_title(workload, results['params'])}")
        add("")
        compared = f"{TIMES}1 process" if workload == "W5" else f"{TIMES}django-hubs"
        header = ["server", "protocol", *(name for name, _ in columns), compared, "errors / losses"]
        add("| " + " | ".join(header) + " |")
        add("|" + "---|" * len(header))
        for entry in entries:
            row = [entry["name"], entry["protocol"], *(render(entry) for _, render in columns)]
            row += [ratio(entry), problems(entry)]
            add("| " + " | ".join(row) + " |")
        if workload == "W5":
            lines.extend(w5_notes(results, entries))
    if "W5" in results.get("skipped_workloads", {}):
        add("")
        add("## W5: scale-out over Redis — skipped")
        add("")
        add(f"Not measured in this run: {results['skipped_workloads']['W5']}.")
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
