"""``manage.py hubs_typescript [--out FILE | --out-dir DIR] [--hub DOTTED.PATH] [--protocol json|messagepack]``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string

from django_hubs.extras.typescript import configured_hubs, generate
from django_hubs.hub import Hub


def _file_name(hub_class: type) -> str:
    """``ChatHub`` -> ``chat-hub.ts``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", hub_class.__name__).lower() + ".ts"


class Command(BaseCommand):
    help = (
        "Write TypeScript declarations and typed HubConnection wrappers for the hubs of settings.HUBS "
        "(or those named with --hub), from their type hints."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group()
        target.add_argument("--out", metavar="FILE", help="one module with every hub (default: standard output)")
        target.add_argument("--out-dir", metavar="DIR", help="one module per hub, named after it (chat-hub.ts)")
        parser.add_argument(
            "--hub",
            action="append",
            default=[],
            metavar="DOTTED.PATH",
            help="a hub class to write instead of those of settings.HUBS (repeatable)",
        )
        parser.add_argument(
            "--protocol",
            choices=["json", "messagepack"],
            default="json",
            help="type values as this hub protocol carries them (datetime: string or Date)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        hubs = self._hubs(options["hub"])
        if not hubs:
            raise CommandError("No hubs: list some in settings.HUBS or name them with --hub.")
        protocol = options["protocol"]
        if options["out_dir"]:
            folder = Path(options["out_dir"])
            folder.mkdir(parents=True, exist_ok=True)
            for hub_class, path in hubs:
                target = folder / _file_name(hub_class)
                target.write_text(generate([(hub_class, path)], protocol))
                self.stdout.write(f"wrote {target}")
        elif options["out"]:
            target = Path(options["out"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(generate(hubs, protocol))
            self.stdout.write(f"wrote {target}")
        else:
            self.stdout.write(generate(hubs, protocol), ending="")

    def _hubs(self, names: list[str]) -> list[tuple[type[Hub], str | None]]:
        configured = configured_hubs()
        if not names:
            return list(configured)
        paths = {hub_class: path for hub_class, path in configured}
        hubs: list[tuple[type[Hub], str | None]] = []
        for name in names:
            try:
                hub_class = import_string(name)
            except ImportError as exc:
                raise CommandError(f"--hub {name}: {exc}") from exc
            if not (isinstance(hub_class, type) and issubclass(hub_class, Hub)):
                raise CommandError(f"--hub {name} is not a django_hubs.Hub subclass.")
            hubs.append((hub_class, paths.get(hub_class)))
        return hubs
