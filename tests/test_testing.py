"""The pytest plugin (``@pytest.mark.django_hubs``) in a user's project, on SQLite and PostgreSQL.

Each test copies ``tests/example_project`` (its own settings, a hub with sync ORM methods, no
``asyncio_mode``) into a temporary folder with README's testing example as ``test_readme.py``
and runs pytest there in a subprocess. The plugin loads through an entry point, as it does once
django-hubs is installed: a ``.dist-info`` made from pyproject's ``pytest11`` table.

The control runs replace the marker with what README used to advise, to show that the checks
see the leaks and the PostgreSQL teardown error the plugin prevents.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

from django_hubs import pytest_plugin

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path(__file__).resolve().parent / "example_project"
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "test"}
STUCK_SESSION = "is being accessed by other users"

# pytest-asyncio installed and not configured (strict mode), not installed at all, and in auto mode.
EVENT_LOOPS = {"strict": [], "no-asyncio": ["-p", "no:asyncio"], "auto": ["-o", "asyncio_mode=auto"]}


def readme_example() -> str:
    """The code block of README's "Testing your hubs" section, as a user would paste it."""
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("## Testing your hubs") :]
    block = re.search(r"```python\n(.*?)\n *```", paragraph, re.DOTALL)
    assert block is not None, "README's testing paragraph has no python code block"
    return textwrap.dedent(block.group(1)) + "\n"


def entry_points() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["pytest11"]


@dataclass
class Run:
    returncode: int
    output: str

    def passed(self, count: int) -> bool:
        return self.returncode == 0 and re.search(rf"\b{count} passed\b", self.output) is not None


def run_example(project: Path, *, marker: str, options: list[str], database: dict[str, str]) -> Run:
    """pytest in a copy of the example project, its tests marked with ``marker``."""
    project.mkdir()
    for source in EXAMPLE.rglob("*"):
        if source.is_file() and "__pycache__" not in source.parts:
            target = project / source.relative_to(EXAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(source.read_text())
    (project / "leaks.py").rename(project / "test_leaks.py")
    (project / "test_readme.py").write_text(readme_example())
    for test in project.glob("test_*.py"):
        test.write_text(test.read_text().replace("pytest.mark.django_hubs", marker))
    site = project.parent / "site"
    dist_info = site / "django_hubs-0.dev0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: django-hubs\nVersion: 0.dev0\n")
    lines = "".join(f"{name} = {module}\n" for name, module in entry_points().items())
    (dist_info / "entry_points.txt").write_text(f"[pytest11]\n{lines}")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_", "HUBS_", "EXAMPLE_")) and name != "PYTHONPATH"
    }
    env.update(database, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-v", *options],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return Run(done.returncode, done.stdout + done.stderr)


@pytest.fixture
def postgres(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """The example's settings for a test database of its own on the local PostgreSQL, dropped after."""
    try:
        import psycopg
    except ImportError as exc:
        unusable(f"psycopg is not installed ({exc})")
    try:
        admin = psycopg.connect(**POSTGRES, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unusable(f"PostgreSQL at {POSTGRES['host']}:{POSTGRES['port']} is not reachable: {exc}")
    name = re.sub(r"\W", "_", f"test_hubs_example_{os.getpid()}_{request.node.name}").lower()[:63]
    with admin:
        yield {
            "EXAMPLE_POSTGRES_HOST": POSTGRES["host"],
            "EXAMPLE_POSTGRES_PORT": str(POSTGRES["port"]),
            "EXAMPLE_POSTGRES_USER": POSTGRES["user"],
            "EXAMPLE_POSTGRES_DB": POSTGRES["dbname"],
            "EXAMPLE_POSTGRES_TEST_DB": name,
        }
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unusable(message: str) -> NoReturn:
    """A skip where PostgreSQL cannot be used; a failure in CI (``CI=true``), as for other tools."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(message)


def database_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(**POSTGRES, connect_timeout=5) as connection:
        return connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


# --- the plugin as users get it --------------------------------------------------------


def test_pyproject_registers_the_plugin_as_pytest11_entry_point():
    assert entry_points() == {"django_hubs": "django_hubs.pytest_plugin"}


@pytest.mark.parametrize("loop", EVENT_LOOPS)
def test_example_project_passes_on_sqlite(tmp_path, loop):
    """README's example and the leak checks pass on SQLite, whoever runs the event loop."""
    run = run_example(tmp_path / "project", marker="pytest.mark.django_hubs", options=EVENT_LOOPS[loop], database={})
    assert run.passed(4), run.output
    assert "warning" not in run.output.lower(), run.output


@pytest.mark.parametrize("loop", ["strict", "auto"])
def test_example_project_passes_on_postgresql(tmp_path, postgres, loop):
    """On PostgreSQL too; and no session is left to keep the test database from being dropped."""
    run = run_example(
        tmp_path / "project", marker="pytest.mark.django_hubs", options=EVENT_LOOPS[loop], database=postgres
    )
    assert run.passed(4), run.output
    assert STUCK_SESSION not in run.output, run.output
    assert "warning" not in run.output.lower(), run.output
    assert not database_exists(postgres["EXAMPLE_POSTGRES_TEST_DB"]), "the run did not drop its test database"


# --- controls: what README used to advise, and what the checks above would see --------


def test_control_plain_django_db_fails_on_sqlite(tmp_path):
    """The hub's worker thread cannot read a table the test's transaction wrote to."""
    run = run_example(tmp_path / "project", marker="pytest.mark.django_db", options=EVENT_LOOPS["auto"], database={})
    assert run.returncode != 0, run.output
    assert "FAILED test_leaks.py::test_first_writes_from_four_threads" in run.output, run.output
    assert "database table is locked" in run.output, run.output


def test_control_plain_django_db_leaks_on_postgresql(tmp_path, postgres):
    """The hub's thread does not see the test's writes, its own writes stay, and the run ends with an error."""
    run = run_example(
        tmp_path / "project", marker="pytest.mark.django_db", options=EVENT_LOOPS["auto"], database=postgres
    )
    assert "FAILED test_leaks.py::test_first_writes_from_four_threads" in run.output, run.output
    assert "FAILED test_leaks.py::test_a_sync_test_after_them_sees_nothing" in run.output, run.output
    assert STUCK_SESSION in run.output, run.output


def test_control_transaction_true_alone_leaves_a_session_on_postgresql(tmp_path, postgres):
    """``django_db(transaction=True)`` stops the leaks, but the worker threads' connections stay open."""
    run = run_example(
        tmp_path / "project",
        marker="pytest.mark.django_db(transaction=True)",
        options=EVENT_LOOPS["auto"],
        database=postgres,
    )
    assert "4 passed" in run.output, run.output
    assert STUCK_SESSION in run.output, run.output


# --- the marker's arguments ----------------------------------------------------------


def test_transactional_marker_keeps_the_other_django_db_arguments():
    existing = pytest.mark.django_db(False, databases=["default", "other"], reset_sequences=True).mark
    assert pytest_plugin.transactional_marker(existing).mark.kwargs == {
        "transaction": True,
        "databases": ["default", "other"],
        "reset_sequences": True,
    }
    assert pytest_plugin.transactional_marker(None).mark.kwargs == {"transaction": True}
