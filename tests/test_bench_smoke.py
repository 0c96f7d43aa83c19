"""The benchmark suite still runs: quick W1 against django-hubs under uvicorn, real sockets.

No timing assertions: only that the run completes, every reply was checked and right,
and the JSON report carries the fields the Markdown report and its readers rely on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_w1_against_django_hubs(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--servers",
            "hubs-uvicorn",
            "--workloads",
            "W1",
            "--protocols",
            "json",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "results.json").read_text())

    assert results["mode"] == "quick"
    assert results["repeats"] == 1
    assert results["machine"]["python"]
    assert results["machine"]["packages"]["websockets"]
    assert results["todo"][0]["workload"] == "W5"

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
