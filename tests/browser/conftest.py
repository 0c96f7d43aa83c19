"""The demo chat in a real headless Chromium, driven by Playwright, against a live daphne.

Chromium is Debian's ``chromium`` package (``apt-get install chromium``), never a browser
downloaded by ``playwright install``. Missing Chromium or npm skip these tests, and fail
them with ``CI=true``. Each module gets its own server and SQLite database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.bootstrap import ensure_npm
from tests.interop.live import PYTHON, ROOT, LiveServer, require_tool

DEMO = ROOT / "demo_project"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The window of every page, as on a common laptop.
VIEWPORT = {"width": 1280, "height": 800}
#: How long an expectation waits for the page; reconnects after a restart take a few seconds.
EXPECT_TIMEOUT_MS = 20_000


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this
    # thread while it is open, which would break every asyncio test collected after it.
    chromium = require_tool("chromium")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def demo_client_installed() -> None:
    """The official browser client in demo_project/node_modules, as the demo command installs it."""
    if not ensure_npm(DEMO, required=False) and not (DEMO / "node_modules" / "@microsoft" / "signalr").exists():
        missing("npm is not installed: the demo's browser client cannot be installed")


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-logs")


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database with the demo users, copied for every server."""
    path = tmp_path_factory.mktemp("demo-db") / "template.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "demo_project.settings",
        "PYTHONPATH": str(ROOT),
        "DEMO_DB": str(path),
    }
    for command in (["migrate", "-v", "0"], ["seed_demo"]):
        subprocess.run([PYTHON, "manage.py", *command], cwd=ROOT, env=env, check=True, capture_output=True)
    return path


def launch_demo(database: Path, log_dir: Path, **env: str) -> LiveServer:
    """The demo under daphne, on a free port, with ``database`` (its own copy) and ``env`` settings."""
    copy = database.with_name(f"demo-{os.urandom(4).hex()}.sqlite3")
    shutil.copyfile(database, copy)
    env = {"DEMO_DB": str(copy), "DEMO_TASK_STEP_SECONDS": "0.05", **env}
    return LiveServer(
        "daphne", log_dir, env=env, app="demo_project.asgi:application", settings="demo_project.settings"
    ).start()


@pytest.fixture(scope="module")
def demo(seeded_database: Path, log_dir: Path, demo_client_installed: None) -> Iterator[LiveServer]:
    """The demo server shared by a module's tests (a test may restart it: same port, same database)."""
    server = launch_demo(seeded_database, log_dir)
    yield server
    server.stop()


@pytest.fixture
def start_demo(
    seeded_database: Path, log_dir: Path, demo_client_installed: None
) -> Iterator[Callable[..., LiveServer]]:
    """Start a demo server of the test's own, with extra settings; stopped after the test."""
    started: list[LiveServer] = []

    def start(**env: str) -> LiveServer:
        server = launch_demo(seeded_database, log_dir, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Callable[[], Any]]:
    """Browser contexts (one per person: own cookies and storage) at 1280x800.

    Uncaught page errors fail the test, and so does anything the Content Security Policy
    blocked (Chromium reports it on the console): a policy that refused the hub's WebSocket.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def watch(page: Any) -> None:
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on(
            "console",
            lambda message: errors.append(message.text) if "Content Security Policy" in message.text else None,
        )

    def make() -> Any:
        context = browser.new_context(viewport=VIEWPORT)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
