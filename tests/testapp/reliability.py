"""The hub of the reliability suite (tests/reliability): churn, hangs and failing cleanup.

``introspect`` reads this process's own bookkeeping, so a test can count what a live
server holds (connections, groups, users, negotiated records, ticking connections, tasks)
through the same connection it uses for everything else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django_hubs import Hub

#: Invocations of ``hang`` now waiting, and those that were cancelled (by a disconnect).
hangs: dict[str, int] = {"running": 0, "cancelled": 0}


class ReliabilityHub(Hub):
    async def on_disconnected(self, exception: BaseException | None) -> None:
        if "fail_disconnect=1" in self.context.scope.get("query_string", b"").decode():
            raise RuntimeError("on_disconnected failed on purpose")

    async def echo(self, value: Any) -> Any:
        return value

    async def join(self, group: str) -> None:
        await self.groups.add(self.context.connection_id, group)

    async def to_group(self, group: str, message: Any) -> None:
        await self.clients.group(group).send("Receive", f"group:{group}", message)

    async def hang(self) -> None:
        """Awaits forever: it holds an invocation slot until the connection ends."""
        hangs["running"] += 1
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            hangs["cancelled"] += 1
            raise
        finally:
            hangs["running"] -= 1

    async def introspect(self, _label: Any = None) -> dict[str, Any]:
        """The argument is ignored: lean clients always send one."""
        return introspect(self.context.scope["path"])


def introspect(path: str) -> dict[str, Any]:
    """What this process holds for the hub at ``path``, read from the app's own registries."""
    from django_hubs.server.endpoints import find_endpoint
    from django_hubs.server.heartbeat import heartbeat
    from django_hubs.transports.manager import manager

    endpoint = find_endpoint(path.strip("/"))
    assert endpoint is not None
    lifetime = endpoint.lifetime
    return {
        "connections": len(lifetime.connections),
        "groups": {name: len(members) for name, members in lifetime.groups.items()},
        "users": {name: len(members) for name, members in lifetime.users.items()},
        "records": len(manager.records),
        "ticking": len(heartbeat.connections),
        "tasks": len(asyncio.all_tasks()),
        "hangs": dict(hangs),
    }
