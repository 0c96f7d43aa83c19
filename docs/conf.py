"""Sphinx configuration: ``sphinx-build -W --keep-going -b html docs docs/_build/html``.

The API reference is read from the docstrings with autodoc, so Django is set up here on
the tutorial's own project (``docs/examples/chat_tutorial``), the code the tutorial shows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "examples" / "chat_tutorial")]
os.environ["DJANGO_SETTINGS_MODULE"] = "mysite.settings"

import django  # noqa: E402

django.setup()

import django_hubs  # noqa: E402

project = "django-hubs"
author = "django-hubs contributors"
copyright = "django-hubs contributors"
release = django_hubs.__version__
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
exclude_patterns = ["_build", "examples", "requirements.txt"]
templates_path: list[str] = []
html_theme = "furo"
html_title = f"django-hubs {release}"
html_static_path: list[str] = []
pygments_style = "sphinx"
pygments_dark_style = "monokai"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# The reference lists what it documents by name; nothing is imported by accident.
autodoc_mock_imports: list[str] = []



def setup(app):
    # ``.. setting:: HUBS_X`` declares a setting; ``:setting:`HUBS_X``` links to it (as Django's docs do).
    app.add_crossref_type("setting", "setting", indextemplate="pair: %s; setting")
    # ``.. check:: django_hubs.E001`` and ``:check:`django_hubs.E001```.
    app.add_crossref_type("check", "check", indextemplate="pair: %s; system check")
