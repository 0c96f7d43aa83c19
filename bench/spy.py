"""Where django-hubs' per-message time goes: py-spy samples of the server under W1, W2 and W3.

The server is started *by* py-spy (``py-spy record -- taskset -c 0 uvicorn ...``):
attaching to a running process needs ptrace rights that containers often lack.
py-spy runs on the generator's core so it does not take the server's. Samples taken
while Python imports modules (start-up) are dropped; the rest are grouped by the
file of the innermost frame (self time) and by django-hubs function (inclusive).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .servers import BIN, SERVERS, RunningServer, ServerSpec, pin_prefix

RATE = 250
#: (server, protocol, workload, parameters): long enough that warm-up and connecting are noise.
PLAN = (
    ("hubs-uvicorn", "json", "W1", {"count": 20000}),
    ("hubs-uvicorn", "json", "W2", {"clients_count": 100, "in_flight": 10, "per_client": 400}),
    ("hubs-uvicorn", "json", "W3", {"clients_count": 1000, "messages": 300}),
    ("hubs-uvicorn", "messagepack", "W1", {"count": 20000}),
    ("hubs-daphne", "json", "W1", {"count": 20000}),
    ("hubs-daphne", "json", "W3", {"clients_count": 1000, "messages": 200}),
    # The control: the same broadcast on the ceiling server shows what the bare writes cost.
    ("raw-sansio", "json", "W3", {"clients_count": 1000, "messages": 300}),
)
QUICK_PLAN = (("hubs-uvicorn", "json", "W1", {"count": 2000}),)

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>.*):(?P<line>\d+)\)$")


def py_spy() -> str | None:
    local = BIN / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


class SpiedServer(RunningServer):
    """A server process started under ``py-spy record``; ``pid`` is the server's."""

    def __init__(self, spec: ServerSpec, log_dir: Path, cores: str | None, spy_cores: str | None, output: Path):
        self.output = output
        self.spy_prefix = [
            *pin_prefix(spy_cores),
            py_spy() or "py-spy",
            "record",
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--full-filenames",
            "--gil",
            "-o",
            str(output),
            "--",
        ]
        super().__init__(spec, log_dir, cores)

    def launch_command(self) -> list[str]:
        return self.spy_prefix + super().launch_command()

    @property
    def pid(self) -> int:
        """The server: py-spy's child (``taskset`` execs it)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        for _ in range(100):
            found = children.read_text().split() if children.exists() else []
            if found:
                return int(found[0])
            time.sleep(0.05)
        raise RuntimeError("py-spy started no server")

    def stop(self) -> None:
        """End the server; py-spy then writes its samples and exits."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, RuntimeError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.send_signal(signal.SIGINT)
                self.process.wait(10)


def area(path: str, function: str) -> str:
    """A readable bucket for the file a frame runs in."""
    if "/django_hubs/" in path:
        return "django_hubs." + path.rsplit("/django_hubs/", 1)[1].removesuffix(".py").replace("/", ".")
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        return package
    match = re.search(r"/lib/python3\.\d+/([^/]+)", path)
    if match:
        return "stdlib " + match.group(1).removesuffix(".py")
    if path.startswith("<"):
        return path
    return "other " + Path(path).name


def parse(path: Path) -> tuple[Counter[str], Counter[str], Counter[str], int, int]:
    """Self time by area, self time by function, inclusive django_hubs time; samples; dropped."""
    by_area: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = dropped = 0
    if not path.exists():
        return by_area, by_function, inclusive, 0, 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if any("importlib._bootstrap" in f or "<frozen importlib" in f for f in frames):
            dropped += count
            continue
        total += count
        leaf = FRAME.match(frames[-1])
        if leaf:
            by_area[area(leaf["file"], leaf["function"])] += count
            by_function[f"{leaf['function']} ({short(leaf['file'])}:{leaf['line']})"] += count
        else:
            by_area[frames[-1]] += count
        seen = set()
        for frame in frames:
            match = FRAME.match(frame)
            if match and "/django_hubs/" in match["file"]:
                name = f"{short(match['file'])} {match['function']}"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
    return by_area, by_function, inclusive, total, dropped


def short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarize(path: Path, messages: int, title: str) -> dict[str, Any]:
    by_area, by_function, inclusive, total, dropped = parse(path)
    seconds = total / RATE
    per_message = 1e6 * seconds / messages if messages else None

    def table(counter: Counter[str], limit: int, label: str) -> list[str]:
        rows = [f"| {label} | share of samples | µs per message |", "|---|---|---|"]
        for name, count in counter.most_common(limit):
            share = count / total if total else 0
            micro = f"{share * per_message:.1f}" if per_message else "\u2013"
            rows.append(f"| `{name}` | {100 * share:.1f} % | {micro} |")
        return rows

    lines = [
        f"{total:,} samples at {RATE} Hz (≈ {seconds:.1f} s of server CPU, {dropped:,} start-up samples dropped) "
        f"over {messages:,} messages handled: ≈ {per_message:.1f} µs of sampled CPU per message."
        if per_message
        else f"{total:,} samples.",
        "",
        "Self time by where the innermost frame runs:",
        "",
        *table(by_area, 18, "area"),
        "",
        "Hottest functions (self time):",
        "",
        *table(by_function, 15, "function"),
        "",
        "django-hubs functions, inclusive (time in them and what they call; the transport's serve loop "
        "and the ASGI middlewares around it contain everything a connection does):",
        "",
        *table(inclusive, 15, "function"),
    ]
    return {
        "title": title,
        "samples": total,
        "dropped": dropped,
        "messages": messages,
        "us_per_message": per_message,
        "by_area": dict(by_area.most_common(30)),
        "by_function": dict(by_function.most_common(40)),
        "django_hubs_inclusive": dict(inclusive.most_common(40)),
        "raw": str(path),
        "markdown": "\n".join(lines),
    }


def messages_of(workload: str, metrics: dict[str, Any]) -> int:
    if workload == "W1":
        return 2 * int(metrics.get("invocations", 0))
    if workload == "W2":
        return 2 * int(metrics.get("responses", 0))
    if workload == "W3":
        return int(metrics.get("deliveries", 0)) + 2 * int(metrics.get("acked", 0))
    return 0


def profile_hubs(
    out_dir: Path,
    quick: bool,
    server_cores: str | None,
    generator_cores: str | None,
    run_generator: Callable[..., dict[str, Any]],
) -> list[dict[str, Any]]:
    if py_spy() is None:
        print("py-spy is not installed: no profiles (pip install -r bench/requirements.txt)", flush=True)
        return []
    profiles = []
    for key, protocol, workload, params in QUICK_PLAN if quick else PLAN:
        spec = SERVERS[key]
        output = out_dir / f"profile-{key}-{protocol}-{workload}.txt"
        output.unlink(missing_ok=True)
        server = SpiedServer(spec, out_dir / "logs", server_cores, generator_cores, output)
        try:
            result = run_generator(server, protocol, workload, params, generator_cores)
        finally:
            server.stop()
        metrics = result.get("metrics", {})
        title = f"{spec.name}, {protocol}, {workload} ({params})"
        summary = summarize(output, messages_of(workload, metrics), title)
        summary["status"] = result.get("status")
        summary["metrics"] = metrics
        profiles.append(summary)
        print(f"profiled {title}: {summary['samples']} samples, status {result.get('status')}", flush=True)
    return profiles
