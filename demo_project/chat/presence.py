"""Who is online, hub-wide and per room, as the hub's own bookkeeping.

django-hubs knows connections and groups, not people: a user with two tabs is two
connections, and a room is a group. The chat wants names, once each, so it keeps
``connection id -> username`` maps and derives the lists it broadcasts from them.

The state lives in this process, like the in-process registry of connections. Hub
methods and ``on_connected``/``on_disconnected`` are coroutines on the server's event
loop, so no lock is needed. With several server processes (a Redis channel layer) each
would see only its own connections: keep this in a shared store (Redis, the database)
there instead.
"""

from __future__ import annotations


class Presence:
    def __init__(self) -> None:
        #: Every connection of the hub: connection id -> username.
        self.connections: dict[str, str] = {}
        #: room -> {connection id: username}.
        self.rooms: dict[str, dict[str, str]] = {}

    def connect(self, connection_id: str, username: str) -> None:
        self.connections[connection_id] = username

    def disconnect(self, connection_id: str) -> list[str]:
        """Forget a connection; the rooms it was in, whose lists have changed."""
        self.connections.pop(connection_id, None)
        left = [room for room, members in self.rooms.items() if connection_id in members]
        for room in left:
            self.leave(room, connection_id)
        return left

    def join(self, room: str, connection_id: str, username: str) -> None:
        self.rooms.setdefault(room, {})[connection_id] = username

    def leave(self, room: str, connection_id: str) -> None:
        members = self.rooms.get(room)
        if members is not None:
            members.pop(connection_id, None)
            if not members:
                del self.rooms[room]

    def everyone(self) -> list[str]:
        """The names of everyone connected, once each, sorted."""
        return sorted(set(self.connections.values()))

    def in_room(self, room: str) -> list[str]:
        return sorted(set(self.rooms.get(room, {}).values()))

    def is_online(self, username: str) -> bool:
        return username in self.connections.values()

    def clear(self) -> None:
        self.connections.clear()
        self.rooms.clear()


#: The one instance the hub uses.
presence = Presence()
