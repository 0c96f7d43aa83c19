"""Deciding ``@authorize`` requirements: where the declarations of ``hub`` meet the user.

Sync checks (``has_perms``, a plain ``def`` predicate) may use the ORM, so they run in the
authentication threads, never on the event loop nor behind hub methods.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from ..hub import Requirement
from .threads import run_auth


async def allows(requirement: Requirement, user: Any) -> bool:
    """Whether ``user`` meets one requirement: authenticated, its permissions, its predicate."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if requirement.perms and not await run_auth(user.has_perms, requirement.perms):
        return False
    test = requirement.test
    if test is not None:
        outcome = test(user) if inspect.iscoroutinefunction(test) else await run_auth(test, user)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return bool(outcome)
    return True


async def is_authorized(requirements: Iterable[Requirement], user: Any) -> bool:
    """Every requirement holds for ``user`` (none at all: anyone)."""
    for requirement in requirements:
        if not await allows(requirement, user):
            return False
    return True
