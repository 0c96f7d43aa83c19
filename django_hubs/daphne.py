"""``python -m django_hubs.daphne``: the ``daphne`` command, with tokens redacted from its access log.

daphne's command line writes its access log straight to a stream (stdout, or the
``--access-log`` file), not through ``logging``, so no logging filter can reach it, and
its HTTP lines carry the full URL: ``GET /hubs/chat?id=...&access_token=...``. This
entry point takes exactly daphne's arguments and runs daphne's own server, with the
access logger wrapped so that every line goes through :func:`django_hubs.logging.redact`.
(``manage.py runserver`` logs through ``logging`` and is covered by the filter alone.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from daphne.cli import CommandLineInterface
from daphne.server import Server

from .logging import redact_value

ActionLogger = Callable[[str, str, dict[str, Any]], None]


def redacting(action_logger: ActionLogger) -> ActionLogger:
    def log_action(protocol: str, action: str, details: dict[str, Any]) -> None:
        action_logger(protocol, action, redact_value(details))

    return log_action


class RedactingServer(Server):
    def __init__(self, *args: Any, action_logger: ActionLogger | None = None, **kwargs: Any) -> None:
        super().__init__(*args, action_logger=redacting(action_logger) if action_logger else None, **kwargs)


class RedactingCommandLineInterface(CommandLineInterface):
    server_class = RedactingServer


def main() -> None:
    RedactingCommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
