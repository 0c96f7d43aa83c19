"""A Channels project as the Channels tutorial builds it, with a hub added the README's way.

Its own ``asgi.py`` (``AuthMiddlewareStack(URLRouter(websocket_urlpatterns))``), its own
consumer and middleware beside ``ChatHub.as_asgi()``; ``tests/test_consumer.py`` and
``tests/interop/test_channels_project.py`` run it.
"""
