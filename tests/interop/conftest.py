"""Fixtures for live servers: a migrated SQLite file, users, daphne and uvicorn."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import PYTHON, ROOT, JsAgent, LiveServer

pytestmark = pytest.mark.interop

SERVERS = ["daphne", "uvicorn"]


@pytest.fixture(scope="session")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with two users, shared by every live server."""
    path = tmp_path_factory.mktemp("db") / "live.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "HUBS_TEST_DB": str(path), "PYTHONPATH": str(ROOT)}
    subprocess.run([PYTHON, "-m", "django", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    script = (
        "from django.contrib.auth.models import User, Permission;"
        "User.objects.create_user('alice', password='alice-pw');"
        "u = User.objects.create_user('bob', password='bob-pw');"
        "u.user_permissions.add(Permission.objects.get(codename='delete_user'))"
    )
    subprocess.run([PYTHON, "-m", "django", "shell", "-c", script], cwd=ROOT, env=env, check=True)
    return path


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest, live_db: Path, log_dir: Path) -> Iterator[LiveServer]:
    """The test hubs served by daphne, then by uvicorn, with short timeouts."""
    live = LiveServer(
        request.param,
        log_dir,
        env={"HUBS_TEST_DB": str(live_db), "HUBS_KEEP_ALIVE_INTERVAL": "2", "HUBS_CLIENT_TIMEOUT": "6"},
    ).start()
    yield live
    live.stop()


@pytest.fixture
def make_server(live_db: Path, log_dir: Path) -> Iterator[object]:
    """Start extra servers with their own settings; all are stopped after the test."""
    started: list[LiveServer] = []

    def make(kind: str = "daphne", **env: str) -> LiveServer:
        live = LiveServer(kind, log_dir, env={"HUBS_TEST_DB": str(live_db), **env}).start()
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


@pytest.fixture
def agent() -> Iterator[JsAgent]:
    """A Node process driving the official JavaScript client."""
    agent = JsAgent()
    yield agent
    agent.close()
