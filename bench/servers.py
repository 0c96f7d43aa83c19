"""The servers under test and how to start each one alone on 127.0.0.1, pinned to a core."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SETTINGS = "bench.hubapp.settings"


@dataclass(frozen=True)
class ServerSpec:
    key: str
    #: What runs (the thing compared) and the process serving it.
    family: str
    host: str
    dialect: str
    path: str
    protocols: tuple[str, ...]
    app: str = ""
    #: A module that must be importable (an optional peer from bench/requirements.txt).
    needs: str = ""

    @property
    def name(self) -> str:
        return f"{self.family} / {self.host}"

    def available(self) -> str | None:
        """Why this server cannot run here, or ``None``."""
        host_module = self.host if self.host in ("daphne", "uvicorn") else "websockets"
        for module in filter(None, (self.needs, host_module)):
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install -r bench/requirements.txt)"
        return None

    def command(self, port: int) -> list[str]:
        if self.host == "daphne":
            return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), self.app]
        if self.host == "uvicorn":
            return [
                str(BIN / "uvicorn"),
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ws",
                "websockets-sansio",
                "--ws-per-message-deflate",
                "false",
                "--lifespan",
                "off",
                "--log-level",
                "warning",
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "2",
            ]
        if self.host in ("sans-I/O", "asyncio"):
            api = "sansio" if self.host == "sans-I/O" else "asyncio"
            return [sys.executable, "-m", "bench.peers.raw_signalr", "--port", str(port), "--api", api]
        raise ValueError(self.host)

    def url(self, port: int) -> str:
        return f"ws://127.0.0.1:{port}{self.path}"


HUBS_APP = "bench.hubapp.asgi:application"
CHANNELS_APP = "bench.hubapp.asgi_channels:application"
#: The hub as a consumer in a Channels project's own routing (README, "Add to an existing Channels project").
ROUTER_APP = "bench.hubapp.asgi_router:application"
SIGNALR = ("json", "messagepack")

SERVERS: dict[str, ServerSpec] = {
    spec.key: spec
    for spec in (
        ServerSpec("hubs-daphne", "django-hubs", "daphne", "signalr", "/hubs/bench", SIGNALR, HUBS_APP),
        ServerSpec("hubs-uvicorn", "django-hubs", "uvicorn", "signalr", "/hubs/bench", SIGNALR, HUBS_APP),
        ServerSpec(
            "hubs-router-uvicorn",
            "django-hubs in a URLRouter",
            "uvicorn",
            "signalr",
            "/hubs/bench",
            SIGNALR,
            ROUTER_APP,
        ),
        ServerSpec("channels-daphne", "Channels consumer", "daphne", "channels", "/ws/echo", ("json",), CHANNELS_APP),
        ServerSpec("channels-uvicorn", "Channels consumer", "uvicorn", "channels", "/ws/echo", ("json",), CHANNELS_APP),
        ServerSpec(
            "socketio-uvicorn",
            "python-socketio",
            "uvicorn",
            "socketio",
            "/socket.io/?EIO=4&transport=websocket",
            ("json",),
            "bench.peers.socketio_app:app",
            needs="socketio",
        ),
        ServerSpec(
            "aiosignalr-uvicorn",
            "aiosignalr",
            "uvicorn",
            "signalr",
            "/hub",
            SIGNALR,
            "bench.peers.aiosignalr_app:app",
            needs="aiosignalr",
        ),
        ServerSpec("raw-sansio", "raw websockets (ceiling)", "sans-I/O", "signalr", "/hub", SIGNALR),
        ServerSpec("raw-asyncio", "raw websockets", "asyncio", "signalr", "/hub", SIGNALR),
    )
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pin_prefix(cores: str | None) -> list[str]:
    """``taskset -c CORES`` where that exists and cores were asked for."""
    if cores is None:
        return []
    taskset = shutil.which("taskset")
    return [taskset, "-c", cores] if taskset else []


def affinity(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


class RunningServer:
    """One server process; ``pid`` is the server itself (``taskset`` execs it)."""

    def __init__(
        self, spec: ServerSpec, log_dir: Path, cores: str | None, extra_env: dict[str, str] | None = None
    ) -> None:
        self.spec = spec
        self.cores = cores
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.key}-{self.port}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.launch_command(),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready()

    def launch_command(self) -> list[str]:
        return pin_prefix(self.cores) + self.spec.command(self.port)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return self.spec.url(self.port)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.spec.key} exited with {self.process.returncode}: see {self.log_path}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.spec.key} did not listen on {self.port} within {timeout} s")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def redis_missing() -> str | None:
    """Why W5 (django-hubs over Redis) cannot run here, or ``None``."""
    if shutil.which("redis-server") is None:
        return "redis-server is not on PATH (Debian/Ubuntu: apt-get install redis-server)"
    if importlib.util.find_spec("channels_redis") is None:
        return "channels_redis is not installed (pip install -r requirements.txt)"
    return None


class RedisServer:
    """A real redis-server on a free port of 127.0.0.1 that keeps nothing on disk, pinned like the servers."""

    def __init__(self, log_dir: Path, cores: str | None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(redis_missing())
        self.port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"redis-{self.port}.log"
        command = [
            *pin_prefix(cores),
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        with open(self.log_path, "ab") as log:
            # Its working directory is the log folder: whatever it might write stays out of the tree.
            self.process = subprocess.Popen(
                command, cwd=log_dir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: see {self.log_path}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"redis-server did not listen on {self.port}")

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
