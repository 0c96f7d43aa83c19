"""The version matrix: every Python and Django that README names, with requirements.txt's pins.

``nox`` runs the in-process suite on each cell; ``python3 tests/run.py`` (README's test command)
runs the whole suite (live servers, official clients, the browser) in ``.venv`` first, then these.
Each cell installs requirements.txt as it is, with only its Django pin replaced, so every cell
tests the same versions of everything else.
"""

from __future__ import annotations

import re
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
REQUIREMENTS = ROOT / "requirements.txt"

#: Django series -> the release every cell of it installs.
DJANGO = {"5.2": "5.2.19", "6.0": "6.0.10"}
#: (Python, Django): Django 6.0 supports Python 3.12 and newer.
CELLS = [("3.11", "5.2"), ("3.12", "5.2"), ("3.12", "6.0"), ("3.13", "5.2"), ("3.13", "6.0")]
#: What runs without live servers, browsers or Redis: the in-process suite.
IN_PROCESS = ["tests", "--ignore=tests/interop", "--ignore=tests/browser", "--ignore=tests/reliability"]

nox.options.default_venv_backend = "venv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


def pins(session: nox.Session, django: str) -> Path:
    """requirements.txt with its ``Django==`` line set to this cell's release, in the session's tmp folder."""
    text = REQUIREMENTS.read_text()
    pinned, count = re.subn(r"(?im)^django==\S+$", f"Django=={DJANGO[django]}", text)
    if count != 1:
        raise RuntimeError("requirements.txt must pin Django exactly once")
    path = Path(session.create_tmp()) / "requirements.txt"
    path.write_text(pinned)
    return path


@nox.session
@nox.parametrize(("python", "django"), CELLS, ids=[f"py{p}-django{d}" for p, d in CELLS])
def tests(session: nox.Session, django: str) -> None:
    """The in-process suite (or the pytest arguments given after ``--``) on one cell."""
    session.install("-q", "-r", str(pins(session, django)))
    session.run("python", "-m", "pytest", *(session.posargs or IN_PROCESS), "-q", "-p", "no:cacheprovider")
