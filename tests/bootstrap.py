"""Set up what the demo and the tests need on a fresh machine: a virtualenv and npm packages.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(os.environ.get("HUBS_VENV", ROOT / ".venv"))
REQUIREMENTS = ROOT / "requirements.txt"


def venv_python(folder: Path = VENV) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_venv(folder: Path = VENV, requirements: Path = REQUIREMENTS) -> Path:
    """A virtualenv in ``folder`` with ``requirements`` installed; reinstalled when that file changes.

    The tests use ``.venv`` and requirements.txt; the demo command ``.venv-demo`` and the
    demo's own, smaller file.
    """
    if sys.version_info < (3, 11):  # noqa: UP036 - this runs on whatever python3 the user has
        sys.exit("django-hubs needs Python 3.11 or newer.")
    python = venv_python(folder)
    if not python.exists():
        print(f"Creating a virtual environment in {folder}", flush=True)
        venv.EnvBuilder(with_pip=True).create(folder)
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = folder / ".requirements.sha256"
    if not marker.exists() or marker.read_text() != digest:
        print(f"Installing {requirements.relative_to(ROOT)}", flush=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", "-r", requirements], check=True)
        marker.write_text(digest)
    return python


#: The Pythons of the version matrix (noxfile.py).
MATRIX_PYTHONS = ("3.11", "3.12", "3.13")


def matrix_path(required: bool) -> str:
    """``PATH`` with a ``python3.X`` for every Python of the matrix, taken from pyenv where PATH has none.

    pyenv's shims answer for the selected version only, so each version's own ``bin`` goes first.
    """
    path = os.environ.get("PATH", "")
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    extra = []
    for version in MATRIX_PYTHONS:
        installed = sorted(pyenv.glob(f"{version}.*/bin/python{version}"), key=lambda p: _release(p.parent.parent.name))
        if installed:
            extra.append(str(installed[-1].parent))
        elif shutil.which(f"python{version}") is None:
            message = f"Python {version} (for the version matrix) is not installed"
            if required:
                sys.exit(f"{message}, and CI=true requires it.")
            print(f"{message}: nox will skip its cells", flush=True)
    return os.pathsep.join([*extra, path])


def _release(name: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in name.split("."))


def ensure_npm(folder: Path, required: bool) -> bool:
    """``npm ci`` in ``folder`` when its lockfile changed; ``False`` when npm is missing."""
    npm = shutil.which("npm")
    if npm is None:
        if required:
            sys.exit("npm is required here (CI=true) but is not installed.")
        print(f"npm not found: skipping {folder.relative_to(ROOT)} (tests that need it will skip)", flush=True)
        return False
    lock = folder / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    marker = folder / "node_modules" / ".lock.sha256"
    if not marker.exists() or marker.read_text() != digest:
        print(f"Installing npm packages in {folder.relative_to(ROOT)}", flush=True)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
        marker.write_text(digest)
    return True
