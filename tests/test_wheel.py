"""The package as users get it: ``python -m build``, the wheel in a fresh virtual environment.

The sdist and the wheel are built from this checkout (setuptools comes from the package index
into build's isolated environment). The wheel is installed with requirements.txt as constraints
into a new ``python -m venv``, and the tutorial's project (``docs/examples/chat_tutorial``),
copied outside the checkout, runs against it: ``manage.py check``, its ``HubClient`` tests
under pytest with the installed plugin (``@pytest.mark.django_hubs``), and a live connection
to ``manage.py runserver`` whose stderr shows the connection's INFO lines without ``LOGGING``.

With ``CI=true`` a missing tool (build, pip's index) fails these tests; otherwise they skip.
"""

from __future__ import annotations

import asyncio
import email.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import django
import pytest

from tests.interop.live import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "examples" / "chat_tutorial"
PACKAGE = ROOT / "django_hubs"
RS = "\x1e"

#: The subpackages README's Architecture section lists; the wheel must hold each (and any other found in the tree).
SUBPACKAGES = {
    "django_hubs/server",
    "django_hubs/security",
    "django_hubs/transports",
    "django_hubs/filters",
    "django_hubs/extras",
    "django_hubs/checks",
    "django_hubs/protocol",
    "django_hubs/management",
    "django_hubs/management/commands",
}


def unusable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI=true requires it")
    pytest.skip(message)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that points Python or Django at this checkout."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_", "HUBS_", "VIRTUAL_ENV", "PYTHON")) and name != "CI"
    }
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1", **extra}


def run(command: list[str | Path], cwd: Path, timeout: float = 300, **env: str) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(map(str, command))} exited with {done.returncode}:\n{output}"
    return output


@dataclass
class Dist:
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """``python -m build``: the sdist, then the wheel built from it (so the sdist is complete)."""
    try:
        import build  # noqa: F401
    except ImportError:
        unusable("the build package is not installed (requirements.txt pins it)")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, f"expected one wheel and one sdist, got {os.listdir(out)}"
    return Dist(wheels[0], sdists[0])


def source_packages() -> set[str]:
    return {
        str(init.parent.relative_to(ROOT))
        for init in PACKAGE.rglob("__init__.py")
        if "__pycache__" not in init.parts and init.parent != PACKAGE
    }


def test_the_wheel_holds_every_module_and_nothing_else(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = wheel.namelist()
    folders = {name.rsplit("/", 1)[0] for name in names if name.startswith("django_hubs/")}
    assert source_packages() >= SUBPACKAGES, "the list above names a folder the tree no longer has"
    assert source_packages() <= folders, f"missing from the wheel: {source_packages() - folders}"
    sources = {str(path.relative_to(ROOT)) for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    assert sources <= set(names), f"modules missing from the wheel: {sorted(sources - set(names))}"
    assert "django_hubs/py.typed" in names
    assert not [name for name in names if name.split("/")[0] not in ("django_hubs", dist_info(names))], names
    assert not [name for name in names if re.search(r"(^|/)(tests|demo_project|docs|bench)/", name)]


def dist_info(names: list[str]) -> str:
    (folder,) = {name.split("/")[0] for name in names if name.split("/")[0].endswith(".dist-info")}
    return folder


def test_the_metadata(dist: Dist) -> None:
    """License expression and file, the extras, the plugin, and a classifier for each cell of the matrix."""
    wheel = zipfile.ZipFile(dist.wheel)
    folder = dist_info(wheel.namelist())
    metadata = email.parser.Parser().parsestr(wheel.read(f"{folder}/METADATA").decode())
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert f"{folder}/licenses/LICENSE" in wheel.namelist()
    assert set(metadata.get_all("Provides-Extra") or []) >= {"redis", "uvicorn", "prometheus"}
    assert "[pytest11]\ndjango_hubs = django_hubs.pytest_plugin" in wheel.read(f"{folder}/entry_points.txt").decode()
    classifiers = set(metadata.get_all("Classifier") or [])
    noxfile = (ROOT / "noxfile.py").read_text()
    cells = re.findall(r'\("(3\.\d+)", "(\d+\.\d+)"\)', noxfile.split("CELLS = ", 1)[1].split("\n", 1)[0])
    assert cells, "noxfile.py's CELLS were not found"
    for python, series in cells:
        assert f"Programming Language :: Python :: {python}" in classifiers
        assert f"Framework :: Django :: {series}" in classifiers
    declared = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert declared == {python for python, _ in cells}, "a classifier names a Python the matrix does not test"
    assert metadata["Requires-Python"] == f">={min(cells, key=lambda cell: tuple(map(int, cell[0].split('.'))))[0]}"


def test_the_sdist_holds_the_license_readme_and_package(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as sdist:
        names = sdist.getnames()
    top = names[0].split("/")[0]
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "django_hubs/py.typed"):
        assert f"{top}/{name}" in names, f"{name} is missing from the sdist"
    # The test suite needs the whole checkout (Node packages, live servers): none of it half-shipped.
    assert not [name for name in names if name.startswith(f"{top}/tests/")]


# --- the wheel in a fresh virtual environment -----------------------------------------


@dataclass
class Venv:
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def constraints(tmp: Path) -> Path:
    """requirements.txt as pip constraints (which cannot carry extras): the tested versions."""
    text = re.sub(r"(?m)^([A-Za-z0-9_.\-]+)\[[^\]]*\]", r"\1", (ROOT / "requirements.txt").read_text())
    # The Django this suite runs on: a nox cell replaces requirements.txt's pin with its own.
    text = re.sub(r"(?im)^django==\S+$", f"Django=={django.get_version()}", text)
    path = tmp / "constraints.txt"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    tmp = tmp_path_factory.mktemp("venv")
    made = Venv(tmp / "venv")
    run([sys.executable, "-m", "venv", made.path], cwd=tmp)
    try:
        run(
            [
                made.python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-compile",
                dist.wheel,
                "pytest",
                "pytest-django",
                "-c",
                constraints(tmp),
            ],
            cwd=tmp,
        )
    except AssertionError as exc:
        unusable(f"pip could not install the wheel and its dependencies: {exc}")
    return made


@pytest.fixture(scope="module")
def project(venv: Venv, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's project outside the checkout, plus a pytest test that uses the installed plugin."""
    path = tmp_path_factory.mktemp("outside") / "chat_tutorial"
    shutil.copytree(TUTORIAL, path, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3", "client.mjs"))
    (path / "pytest.ini").write_text("[pytest]\nDJANGO_SETTINGS_MODULE = mysite.settings\naddopts = --strict-markers\n")
    (path / "chat" / "test_plugin.py").write_text(
        "import pytest\n"
        "from django_hubs.testing import HubClient\n\n\n"
        "@pytest.mark.django_hubs\n"
        "async def test_the_lobby_hears_a_message():\n"
        '    async with HubClient("hubs/chat") as client:\n'
        '        await client.invoke("SendMessage", "ada", "hello")\n'
        '        assert (await client.receive("ReceiveMessage")).arguments == ["ada", "hello"]\n'
    )
    return path


def test_the_installed_package_is_the_one_imported(venv: Venv, project: Path) -> None:
    found = run([venv.python, "-c", "import django_hubs; print(django_hubs.__file__)"], cwd=project).strip()
    assert Path(found).is_relative_to(venv.path), f"django_hubs came from {found}, not from the virtual environment"
    assert not Path(found).is_relative_to(ROOT / "django_hubs")  # not the checkout's source (nox's tmp is inside it)
    pins = dict(re.findall(r"(?m)^([A-Za-z][\w.\-]*)==(\S+)", (ROOT / "requirements.txt").read_text()))
    script = "import importlib.metadata as m; print(m.version('django'), m.version('channels'), m.version('daphne'))"
    installed = run([venv.python, "-c", script], cwd=project).split()
    assert installed == [django.get_version(), pins["channels"], pins["daphne"]], "the constraints did not hold"


def test_manage_py_check(venv: Venv, project: Path) -> None:
    assert "System check identified no issues" in run([venv.python, "manage.py", "check"], cwd=project)


def test_hub_client_tests_under_the_installed_plugin(venv: Venv, project: Path) -> None:
    output = run(
        [venv.python, "-m", "pytest", "-p", "no:cacheprovider", "-v", "chat/tests.py", "chat/test_plugin.py"],
        cwd=project,
    )
    assert re.search(r"\b3 passed\b", output), output
    assert "Logging error" not in output, output
    plugins = run([venv.python, "-m", "pytest", "--markers"], cwd=project)
    assert "@pytest.mark.django_hubs" in plugins, "the pytest11 entry point did not load the plugin"


async def websocket_round_trip(port: int) -> list[dict[str, object]]:
    """Handshake, one invocation, and what the hub sends back (its broadcast and the completion)."""
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/hubs/chat", open_timeout=10) as socket:
        await socket.send(json.dumps({"protocol": "json", "version": 1}) + RS)
        assert await asyncio.wait_for(socket.recv(), 10) == "{}" + RS
        invocation = {"type": 1, "invocationId": "1", "target": "SendMessage", "arguments": ["ada", "hi"]}
        await socket.send(json.dumps(invocation) + RS)
        messages: list[dict[str, object]] = []
        while not any(message.get("type") == 3 for message in messages) and len(messages) < 10:
            frame = await asyncio.wait_for(socket.recv(), 10)
            messages += [
                json.loads(part) for part in str(frame).split(RS) if part and json.loads(part).get("type") != 6
            ]
        await socket.send(json.dumps({"type": 7}) + RS)
    return messages


def test_a_live_connection_to_runserver_logs_at_info(venv: Venv, project: Path, tmp_path: Path) -> None:
    """``manage.py runserver`` (daphne's), no ``LOGGING``: the connection works and stderr shows it."""
    port = free_port()
    log_path = tmp_path / "runserver.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [venv.python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=project,
            env=clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        wait_for_port(port, timeout=60, process=server)
        messages = asyncio.run(websocket_round_trip(port))
    finally:
        server.terminate()
        server.wait(10)
    assert {"type": 1, "target": "ReceiveMessage", "arguments": ["ada", "hi"]} in messages, messages
    assert {"type": 3, "invocationId": "1", "result": None} in messages, messages
    stderr = log_path.read_text()
    assert re.search(
        r"INFO django_hubs\.connection: connected \S+ hub=hubs/chat user=None transport=WebSockets", stderr
    ), stderr
    assert re.search(r"INFO django_hubs\.connection: disconnected \S+ hub=hubs/chat", stderr), stderr
