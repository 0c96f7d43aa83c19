"""Hubs for the thread tests: slow sync methods, ORM predicates and values whose validation raises.

``tests/test_threads.py`` (in process) and ``tests/reliability/test_threads.py`` (live). An
ignored ``_label`` argument on some methods: the lean live client always sends one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from django_hubs import Hub, authorize

#: ``sleep_sync`` calls now in their thread (read by ``running``: a test's sync point, not a clock).
sleeping = {"count": 0}

#: What each ``Strict.kind`` makes ``__post_init__`` raise.
RAISES: dict[str, type[Exception]] = {
    "key": KeyError,
    "type": TypeError,
    "value": ValueError,
    "validation": ValidationError,
    "runtime": RuntimeError,
}


@dataclass
class Strict:
    """A value whose own validation raises what ``kind`` names (not a ``BindingError``)."""

    kind: str

    def __post_init__(self) -> None:
        error = RAISES.get(self.kind)
        if error is not None:
            raise error(f"{self.kind} refused on purpose")


def may_delete_users(user: Any) -> bool:
    """A sync predicate that uses the ORM, as ``@authorize(test=...)`` predicates do."""
    return bool(user.user_permissions.filter(codename="delete_user").exists())


class ThreadsHub(Hub):
    def sleep_sync(self, seconds: float) -> dict[str, Any]:
        """A plain ``def`` method that holds its thread: when it ran, and in which thread."""
        started = time.time()
        sleeping["count"] += 1
        try:
            time.sleep(seconds)
        finally:
            sleeping["count"] -= 1
        return {"started": started, "ended": time.time(), "thread": threading.current_thread().name}

    def count_users(self, _label: Any = None) -> dict[str, Any]:
        """A quick sync method that uses the ORM."""
        return {"users": get_user_model().objects.count(), "ended": time.time()}

    def append(self, log: str, value: int, seconds: float) -> int:
        """Appends ``value`` to the connection's ``items[log]`` after ``seconds``: shows the order calls ran in."""
        time.sleep(seconds)
        self.context.items.setdefault(log, []).append(value)
        return value

    def order(self, log: str) -> list[int]:
        return list(self.context.items.get(log, []))

    async def running(self, _label: Any = None) -> int:
        return sleeping["count"]

    async def whoami(self, _label: Any = None) -> str | None:
        return self.context.user_identifier

    async def strict(self, value: Strict) -> str:
        return value.kind

    async def echo(self, value: Any) -> Any:
        return value

    @authorize(test=may_delete_users)
    async def delete_everything(self) -> str:
        return "deleted"


@authorize(test=may_delete_users)
class DeletersHub(Hub):
    """Only users who may delete users connect at all (negotiate answers 401 to the others)."""

    async def echo(self, value: Any) -> Any:
        return value
