"""The package's layers, as README's Architecture section draws them, checked by import-linter.

The contracts live in pyproject.toml (``[tool.importlinter]``): each layer imports only those
below it, and no package has an import cycle among its modules, counting function-level and
``TYPE_CHECKING`` imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    completed = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Contracts: 2 kept, 0 broken." in completed.stdout


def test_a_layer_importing_upwards_breaks_the_contract(tmp_path: Path) -> None:
    """The contract is not vacuous: a module of the protocol layer importing the server fails it."""
    package = tmp_path / "django_hubs"
    subprocess.run(["cp", "-r", str(ROOT / "django_hubs"), str(package)], check=True)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    bad = package / "protocol" / "errors.py"
    bad.write_text(bad.read_text() + "\nfrom ..server import connection  # noqa: E402,F401\n")
    lint = Path(sys.executable).with_name("lint-imports")
    completed = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True, text=True)
    assert completed.returncode != 0
    assert "django_hubs.protocol is not allowed to import django_hubs.server" in completed.stdout
