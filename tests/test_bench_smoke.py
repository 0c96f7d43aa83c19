"""The benchmark suite still runs: quick W1 against django-hubs under uvicorn, real sockets;
quick W5 across two django-hubs processes over a real redis-server, and ``--merge``.

No timing assertions: only that the run completes, every reply and delivery was checked
and right, and the JSON report carries the fields the Markdown report and its readers rely on.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.interop.live import require_tool

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def quick(out: Path, workloads: str) -> dict[str, Any]:
    bench("--quick", "--servers", "hubs-uvicorn", "--workloads", workloads, "--protocols", "json", "--out", str(out))
    return json.loads((out / "results.json").read_text())


def test_quick_w1_against_django_hubs(tmp_path: Path) -> None:
    results = quick(tmp_path, "W1")

    assert results["mode"] == "quick"
    assert results["repeats"] == 1
    assert results["machine"]["python"]
    assert results["machine"]["packages"]["websockets"]
    assert results["skipped_workloads"] == {}

    [run] = results["runs"]
    assert (run["server"], run["protocol"], run["workload"], run["status"]) == ("hubs-uvicorn", "json", "W1", "ok")
    assert run["problems"] == []
    metrics = run["metrics"]
    assert metrics["invocations"] == metrics["planned"] == results["params"]["W1"]["count"]
    assert metrics["errors"] == 0
    assert metrics["round_trips_per_s"] > 0
    assert 0 < metrics["p50_ms"] <= metrics["p99_ms"] <= metrics["max_ms"]
    assert metrics["server_cpu_s"] >= 0
    assert metrics["generator_cpu_s"] > 0
    assert run["generator"]["fd_limit"] >= 1024

    [entry] = results["summary"]
    assert entry["stats"]["round_trips_per_s"]["n"] == 1
    assert entry["ratio_to_django_hubs"] == 1.0
    report = (tmp_path / "results.md").read_text()
    assert "## W1:" in report
    assert "django-hubs / uvicorn" in report


def test_quick_w5_two_processes_over_redis_and_merge(tmp_path: Path) -> None:
    require_tool("redis-server")
    results = quick(tmp_path / "w5", "W5")

    assert results["skipped_workloads"] == {}
    one, two = results["runs"]
    # W3 did not run, so W5 measured its one-process baseline itself.
    assert (one["server"], one["workload"], one["status"], one["baseline_of"]) == (
        "hubs-uvicorn",
        "W5",
        "ok",
        "a W3 run made for W5",
    )
    assert (two["server"], two["workload"], two["status"], two["problems"]) == ("hubs-uvicorn-redis", "W5", "ok", [])
    params = results["params"]["W5"]
    for run in (one, two):
        metrics = run["metrics"]
        assert metrics["clients"] == params["clients_count"]
        assert metrics["deliveries"] == metrics["expected_deliveries"] == params["clients_count"] * params["messages"]
        assert metrics["lost"] == metrics["duplicates"] == metrics["wrong"] == metrics["errors"] == 0
        assert metrics["deliveries_per_s"] > 0
    metrics = two["metrics"]
    assert metrics["processes"] == 2
    # Half the clients on each process, and process two got every message through Redis.
    half = params["clients_count"] // 2
    assert metrics["process1_clients"] == metrics["process2_clients"] == half
    assert metrics["process1_deliveries"] == metrics["process2_deliveries"] == half * params["messages"]
    assert metrics["process2_cpu_s"] >= 0 and metrics["redis_cpu_s"] >= 0
    assert 0 < metrics["p50_ms_to_last_client_process2"] <= metrics["p50_ms_to_last_client"]
    assert set(results["pinning"]["w5_observed"]) == {"server1", "server2", "redis"}
    ratios = {entry["server"]: entry["ratio_to_django_hubs"] for entry in results["summary"]}
    assert ratios["hubs-uvicorn"] == 1.0
    assert ratios["hubs-uvicorn-redis"] > 0
    report = (tmp_path / "w5" / "results.md").read_text()
    assert "## W5:" in report
    assert "2 \u00d7 uvicorn over Redis" in report

    # --merge puts these W5 rows into another report and leaves its other rows alone.
    base_path = tmp_path / "base" / "results.json"
    base_path.parent.mkdir()
    shutil.copy(ROOT / "bench" / "results.json", base_path)
    base = json.loads(base_path.read_text())
    bench("--merge", str(tmp_path / "w5" / "results.json"), "--workloads", "W5", "--into", str(base_path))
    merged = json.loads(base_path.read_text())
    assert [r for r in merged["runs"] if r["workload"] == "W5"] == results["runs"]
    assert [r for r in merged["runs"] if r["workload"] != "W5"] == [r for r in base["runs"] if r["workload"] != "W5"]
    assert merged["params"]["W5"] == params
    assert merged["merged"][-1]["workloads"] == ["W5"]
    assert merged["merged"][-1]["finished"] == results["finished"]
    assert "todo" not in merged
    merged_report = (base_path.parent / "results.md").read_text()
    assert "## W5:" in merged_report
    assert "TODO" not in merged_report


def test_the_report_states_each_target_met_or_by_how_much_not() -> None:
    from bench.report import targets

    def entry(server: str, workload: str, value: float, protocol: str = "json") -> dict[str, Any]:
        metric = {"W1": "round_trips_per_s", "W2": "responses_per_s", "W4": "rss_per_connection_kb"}[workload]
        return {"server": server, "protocol": protocol, "workload": workload, "stats": {metric: {"median": value}}}

    lines = targets(
        [
            entry("hubs-uvicorn", "W1", 900),
            entry("channels-uvicorn", "W1", 1000),  # 0.9: just met
            entry("hubs-uvicorn", "W2", 750),
            entry("aiosignalr-uvicorn", "W2", 1000),  # 0.75 of 1: 33 % short
            entry("hubs-uvicorn", "W4", 30.0),
            entry("channels-uvicorn", "W4", 33.0),  # less memory: met
        ]
    )
    table = "\n".join(lines)
    assert "| W1 uvicorn, json: ≥ 0.9\u00d7 the Channels consumer | 900 | 1,000 | 0.90 | 0.9 | met |" in table
    assert "| W2 uvicorn, json: ahead of aiosignalr | 750 | 1,000 | 0.75 | 1 | **not met**: 33% short |" in table
    assert (
        "| W4 uvicorn: no more KiB per idle connection than the Channels consumer | 30.0 | 33.0 | 1.10 | 1 | met |"
        in table
    )
    assert targets([]) == []
