"""The project's own WebSocket middleware: a mark in the scope, and a user from its own header.

It stands for any token middleware a Channels project already has: whatever sets
``scope["user"]`` decides who a hub connection is (when no simplejwt token was sent).
"""

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth import get_user_model

HEADER = b"x-project-user"


@database_sync_to_async
def _user(username):
    return get_user_model().objects.filter(username=username).first()


class ProjectUserMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        scope = {**scope, "project": "tutorial"}
        for name, value in scope.get("headers", ()):
            if name == HEADER:
                user = await _user(value.decode("latin-1"))
                if user is not None:
                    scope["user"] = user
        return await super().__call__(scope, receive, send)
