"""Live servers and official clients for the interop tests: real processes, real sockets."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
INTEROP = Path(__file__).resolve().parent
NODE_MODULES = INTEROP / "node_modules"
PYTHON = sys.executable
BIN = Path(sys.executable).parent


def require_tool(name: str) -> str:
    """The tool's path; a skip where it is missing, a failure in CI (``CI=true``)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI=true requires it")
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class LiveServer:
    """``tests.asgi`` (or another ASGI app) under daphne or uvicorn, in a subprocess."""

    def __init__(
        self,
        kind: str,
        log_dir: Path,
        env: dict[str, str] | None = None,
        app: str = "tests.asgi:application",
        settings: str = "tests.settings",
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.app = app
        self.log_path = log_dir / f"{kind}-{self.port}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": settings,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.kind == "daphne":
            # The redacting entry point, as README tells users to run daphne.
            return [PYTHON, "-m", "django_hubs.extras.daphne", "-b", "127.0.0.1", "-p", str(self.port), self.app]
        if self.kind == "uvicorn":
            return [
                str(BIN / "uvicorn"),
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--ws",
                "websockets-sansio",
                "--ws-per-message-deflate",
                "false",
                "--lifespan",
                "off",
            ]
        raise ValueError(self.kind)

    def start(self) -> LiveServer:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open by the child
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Die without any cleanup, as a crashed process does."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def run_node(script: str | Path, *args: Any, timeout: float = 60, env: dict[str, str] | None = None) -> Any:
    """Run a Node script from ``tests/interop/js`` and return the JSON it prints last."""
    node = require_tool("node")
    if not (NODE_MODULES / "@microsoft" / "signalr").exists():
        pytest.fail("npm packages are missing: run `npm ci --prefix tests/interop` (the test command does)")
    path = INTEROP / "js" / script if not Path(script).is_absolute() else Path(script)
    completed = subprocess.run(
        [node, str(path), *map(str, args)],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if completed.returncode != 0:
        raise AssertionError(f"{path.name} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    lines = [line for line in completed.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(f"{path.name} printed nothing:\n{completed.stderr}")
    return json.loads(lines[-1])


class JsAgent:
    """A Node process holding official-client connections, driven command by command."""

    def __init__(self) -> None:
        node = require_tool("node")
        if not (NODE_MODULES / "@microsoft" / "signalr").exists():
            pytest.fail("npm packages are missing: run `npm ci --prefix tests/interop` (the test command does)")
        self.process = subprocess.Popen(
            [node, str(INTEROP / "js" / "agent.mjs")],
            cwd=INTEROP,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def __call__(self, op: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
        import select

        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the JS agent did not answer {op} within {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the JS agent exited: {stderr}")
        answer = json.loads(line)
        if "failure" in answer:
            raise AssertionError(f"JS agent failed on {op}: {answer['failure']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(TimeoutError, AssertionError, BrokenPipeError, OSError):
                self("exit", timeout=5)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class RedisServer:
    """A real redis-server on a free port, keeping nothing on disk."""

    def __init__(self, log_dir: Path) -> None:
        self.binary = require_tool("redis-server")
        self.port = free_port()
        self.log_dir = log_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        log = open(self.log_dir / f"redis-{self.port}.log", "ab")  # noqa: SIM115 - kept open by the child
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.log_dir)
        log.close()
        wait_for_port(self.port, process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server; ``drop()`` cuts every connection with no close frame."""

    def __init__(self, target_port: int) -> None:
        import asyncio
        import threading

        self.target_port = target_port
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._writers: set[Any] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)

        async def pipe(reader: Any, writer: Any) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                writer.close()

        async def handle(client_reader: Any, client_writer: Any) -> None:
            try:
                server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:
                client_writer.close()
                return
            self._writers.update((client_writer, server_writer))
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
            self._writers.difference_update((client_writer, server_writer))

        async def serve() -> None:
            self._server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            self._ready.set()

        self._loop.run_until_complete(serve())
        self._loop.run_forever()

    def drop(self) -> None:
        """Abort every proxied TCP connection (RST, no WebSocket close frame)."""
        import threading

        done = threading.Event()

        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()
            done.set()

        self._loop.call_soon_threadsafe(abort)
        done.wait(5)

    def close(self) -> None:
        import asyncio

        async def shutdown() -> None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def rss_kib(server: LiveServer) -> int:
    """The server process's resident memory, from /proc."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")
