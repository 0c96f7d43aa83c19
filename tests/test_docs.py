"""The documentation: it builds without a warning, its reference lists match the code, and the
tutorial's project (``docs/examples/chat_tutorial``, shown by ``literalinclude``) works.

The tutorial project is copied to a temporary directory for each test that runs it, so
nothing (a database, ``__pycache__``) is written into ``docs/``.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .interop.live import NODE_MODULES, LiveServer, require_tool

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "examples" / "chat_tutorial"
SOURCE = ROOT / "django_hubs"


def rst(*parts: str) -> str:
    return (DOCS.joinpath(*parts)).read_text()


def all_rst() -> dict[Path, str]:
    return {path: path.read_text() for path in DOCS.rglob("*.rst") if "_build" not in path.parts}


def source_text() -> str:
    return "\n".join(path.read_text() for path in sorted(SOURCE.rglob("*.py")))


def declared(directive: str, text: str) -> set[str]:
    return set(re.findall(rf"^\.\. {directive}:: (\S+)$", text, re.MULTILINE))


# --- the build -----------------------------------------------------------------------


def test_the_docs_build_without_a_warning(tmp_path: Path) -> None:
    """Broken references, bad reST in a page or a docstring, a missing literalinclude: all fail."""
    completed = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(tmp_path / "html")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, f"sphinx-build failed:\n{completed.stdout}\n{completed.stderr}"
    api = (tmp_path / "html" / "reference" / "api.html").read_text()
    # autodoc read the docstrings (not only the directives' names).
    assert 'id="django_hubs.testing.HubClient.invoke"' in api
    assert "The method\u2019s result" in api


# --- the reference matches the code ----------------------------------------------------


def test_every_setting_is_documented_and_nothing_else() -> None:
    from django_hubs import checks, conf

    in_code = {"HUBS", *conf.DEFAULTS, *checks.VALIDATORS}
    documented = declared("setting", rst("reference", "settings.rst"))
    assert documented == in_code, (
        f"undocumented: {sorted(in_code - documented)}; documented but not in conf/checks: {sorted(documented - in_code)}"
    )


def test_every_system_check_is_documented_and_nothing_else() -> None:
    in_code = set(re.findall(r'id="(django_hubs\.[EW]\d{3})"', source_text()))
    documented = declared("check", rst("reference", "checks.rst"))
    assert in_code, "no check ids found in django_hubs/"
    assert documented == in_code, (
        f"undocumented: {sorted(in_code - documented)}; documented but not in the code: {sorted(documented - in_code)}"
    )


def test_every_logger_is_documented_and_nothing_else() -> None:
    text = source_text()
    in_code = set(re.findall(r'getLogger\("(django_hubs[\w.]*)"\)', text))
    in_code |= set(re.findall(r'logger: str = "(django_hubs[\w.]*)"', text))  # a filter's default logger
    documented = set(re.findall(r"^   \* - ``(django_hubs[\w.]*)``$", rst("reference", "logging.rst"), re.MULTILINE))
    assert documented == in_code, (
        f"undocumented: {sorted(in_code - documented)}; documented but not in the code: {sorted(documented - in_code)}"
    )


def test_every_metric_is_documented_and_nothing_else() -> None:
    families = re.findall(
        r'(Gauge|Counter|Histogram)MetricFamily\(\s*"(\w+)"(?:[^()]*?unit="(\w+)")?', source_text(), re.DOTALL
    )
    suffix = {"Gauge": "", "Counter": "_total", "Histogram": ""}
    in_code = {name + (f"_{unit}" if unit else "") + suffix[kind] for kind, name, unit in families}
    documented = set(re.findall(r"^   \* - ``(\w+)``$", rst("reference", "metrics.rst"), re.MULTILINE))
    assert len(in_code) >= 10, f"the metric families were not found in django_hubs/: {in_code}"
    assert documented == in_code, (
        f"undocumented: {sorted(in_code - documented)}; documented but not exposed: {sorted(documented - in_code)}"
    )


def test_every_opentelemetry_instrument_is_documented_and_nothing_else() -> None:
    in_code = set(re.findall(r'create_(?:up_down_counter|counter|histogram|gauge)\(\s*"([\w.]+)"', source_text()))
    documented = set(re.findall(r"^   \* - ``(\w+\.[\w.]+)``$", rst("reference", "metrics.rst"), re.MULTILINE))
    assert {"signalr.server.active_connections", "signalr.server.connection.duration"} <= in_code, in_code
    assert documented == in_code, (
        f"undocumented: {sorted(in_code - documented)}; documented but not recorded: {sorted(documented - in_code)}"
    )


@pytest.mark.parametrize("role", ["setting", "check"])
def test_every_setting_and_check_reference_names_a_declared_one(role: str) -> None:
    pages = all_rst()
    targets = set().union(*(declared(role, text) for text in pages.values()))
    unknown = {
        f"{path.relative_to(DOCS)}: {name}"
        for path, text in pages.items()
        for name in re.findall(rf":{role}:`([^`]+)`", text)
        if name not in targets
    }
    assert not unknown, f"references to undeclared {role}s: {sorted(unknown)}"


# --- the tutorial's project ---------------------------------------------------------------


@pytest.fixture
def tutorial(tmp_path: Path) -> Path:
    project = tmp_path / "chat_tutorial"
    shutil.copytree(TUTORIAL, project, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3", "node_modules"))
    return project


def tutorial_env(project: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mysite.settings",
        # The library from this checkout; a user has it from pip.
        "PYTHONPATH": os.pathsep.join([str(project), str(ROOT)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def manage(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=project,
        env=tutorial_env(project),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tutorial_project_passes_its_system_checks(tutorial: Path) -> None:
    completed = manage(tutorial, "check", "--fail-level", "WARNING")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_the_tutorial_tests_pass(tutorial: Path) -> None:
    completed = manage(tutorial, "test", "chat", "-v", "2")
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Ran 2 tests" in output
    assert re.search(r"^test_a_message_reaches_everyone_in_the_lobby .*\.\.\. ok$", output, re.MULTILINE), output


@pytest.fixture
def tutorial_server(tutorial: Path, tmp_path: Path) -> Iterator[LiveServer]:
    migrated = manage(tutorial, "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    live = LiveServer(
        "uvicorn",
        tmp_path,
        env={"PYTHONPATH": tutorial_env(tutorial)["PYTHONPATH"]},
        app="mysite.asgi:application",
        settings="mysite.settings",
    ).start()
    yield live
    live.stop()


@pytest.mark.interop
def test_the_tutorial_chat_works_with_the_official_client(tutorial: Path, tutorial_server: LiveServer) -> None:
    """The page is served, and the Node client of the tutorial's last step chats through the hub."""
    node = require_tool("node")
    if not (NODE_MODULES / "@microsoft" / "signalr").exists():
        pytest.fail("npm packages are missing: run `npm ci --prefix tests/interop` (the test command does)")
    with urllib.request.urlopen(tutorial_server.url + "/", timeout=10) as response:
        page = response.read().decode()
    assert '.withUrl("/hubs/chat")' in page

    (tutorial / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    completed = subprocess.run(
        [node, "client.mjs", tutorial_server.url + "/hubs/chat"],
        cwd=tutorial,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, f"{completed.stdout}\n{completed.stderr}\n{tutorial_server.log()}"
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {
        "received": ["node", "hello from Node"],
        "refusal": "An unexpected error occurred invoking 'SendMessage' on the server. HubException: Say something.",
    }


# --- the package layout the pages name ------------------------------------------------------


def test_the_modules_the_reference_names_exist() -> None:
    for name in (
        "django_hubs.security.origins",
        "django_hubs.security.cors",
        "django_hubs.security.auth",
        "django_hubs.security.redaction",
        "django_hubs.extras.status",
        "django_hubs.extras.prometheus",
        "django_hubs.extras.typescript",
        "django_hubs.extras.daphne",
        "django_hubs.server.endpoints",
        "django_hubs.server.metrics",
        "django_hubs.consumer",
    ):
        importlib.import_module(name)
    import django_hubs

    assert hasattr(django_hubs.Hub, "as_asgi")
    assert hasattr(django_hubs, "HubFilter") and hasattr(django_hubs, "HubConsumer")
    assert hasattr(importlib.import_module("django_hubs.server.endpoints").HubContext, "abort")
