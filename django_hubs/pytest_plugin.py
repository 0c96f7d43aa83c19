"""The pytest plugin installed with django-hubs: ``@pytest.mark.django_hubs`` for tests of your hubs.

A hub's sync methods run in worker threads, each with its own database connection, and an
async test's ``sync_to_async`` calls (the async ORM too) run in asgiref's thread. So a test of a
hub needs three things that plain ``@pytest.mark.django_db`` does not give:

- a database those threads share with the test: ``django_db`` wraps the test in a transaction
  of the test's own connection, which other connections cannot see and do not roll back (their
  writes leak into later tests; on SQLite they fail with "database table is locked"). The marker
  implies ``django_db(transaction=True)``: everything is committed, and the tables are emptied
  after the test, whichever connection wrote;
- the connections those threads opened, closed after the test: left open, they keep PostgreSQL
  from dropping the test database at the end of the run ("database ... is being accessed by other
  users", after a 5 s wait);
- an event loop for ``async def`` tests, without pytest-asyncio or ``asyncio_mode``: the plugin
  runs a marked coroutine test itself unless pytest-asyncio already does.

Registered through the ``pytest11`` entry point, so installing django-hubs is enough.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import weakref
from collections.abc import Generator
from typing import Any

import pytest

__all__ = ["MARKER"]

MARKER = "django_hubs"
_DJANGO_DB_PARAMETERS = ("transaction", "reset_sequences", "databases", "serialized_rollback", "available_apps")


class ThreadConnections:
    """The database connections opened outside the thread that runs the tests (in worker threads)."""

    def __init__(self) -> None:
        self.test_thread = threading.get_ident()
        self.lock = threading.Lock()
        self.opened: weakref.WeakSet[Any] = weakref.WeakSet()

    def remember(self, sender: Any, connection: Any, **kwargs: Any) -> None:
        """Receiver of ``connection_created``, which is sent in the thread that opened it."""
        if threading.get_ident() != self.test_thread:
            with self.lock:
                self.opened.add(connection)

    def close(self) -> None:
        """Close those still open; their threads are idle once a test is over.

        Django lets only the owning thread close a connection unless it is shared, so each is
        shared for the time it takes to close it. A thread that uses it again reconnects.
        """
        with self.lock:
            connections = list(self.opened)
        for connection in connections:
            if connection.connection is None:
                continue
            connection.inc_thread_sharing()
            try:
                connection.close()
            finally:
                connection.dec_thread_sharing()


_thread_connections = ThreadConnections()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: a test of django-hubs hubs: implies django_db(transaction=True), closes the database "
        "connections its worker threads opened, and runs an async def test on an event loop.",
    )
    from django.db.backends.signals import connection_created

    # From the start, so that connections opened before the first marked test are closed too.
    connection_created.connect(_thread_connections.remember, dispatch_uid=__name__)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Generator[None]:
    """Mark the items before pytest-django reads ``django_db`` (it orders transactional tests last)."""
    if config.pluginmanager.hasplugin("django"):
        for item in items:
            if item.get_closest_marker(MARKER) is not None:
                item.add_marker(transactional_marker(item.get_closest_marker("django_db")), append=False)
    return (yield)


def transactional_marker(existing: pytest.Mark | None) -> pytest.MarkDecorator:
    """``django_db(transaction=True)`` with the other arguments of the ``django_db`` marker ``existing``."""
    kwargs: dict[str, Any] = {}
    if existing is not None:
        if len(existing.args) > len(_DJANGO_DB_PARAMETERS):
            raise pytest.UsageError(f"django_db takes at most {len(_DJANGO_DB_PARAMETERS)} arguments: {existing}")
        kwargs.update(zip(_DJANGO_DB_PARAMETERS, existing.args, strict=False))
        kwargs.update(existing.kwargs)
    kwargs["transaction"] = True
    return pytest.mark.django_db(**kwargs)


@pytest.fixture(autouse=True)
def _django_hubs_marker(request: pytest.FixtureRequest) -> Generator[None]:
    """Set up a marked test's database (first, so that its connections close before the tables empty)."""
    if request.node.get_closest_marker(MARKER) is None:
        yield
        return
    if request.config.pluginmanager.hasplugin("django"):
        request.getfixturevalue("transactional_db")
    try:
        yield
    finally:
        _thread_connections.close()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run a marked ``async def`` test on a new event loop, unless another plugin already wrapped it."""
    function = pyfuncitem.obj
    if pyfuncitem.get_closest_marker(MARKER) is None or not inspect.iscoroutinefunction(function):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    with asyncio.Runner() as runner:
        runner.run(function(**arguments))
    return True
