"""The threads sync code runs in: one bounded pool for hub methods, one for authentication.

Channels' ``database_sync_to_async`` sends every call of a process to one shared thread
(outside an HTTP request). Hub methods there queue behind each other across all
connections, and a WebSocket's token check queues behind them all: one slow method
slowed every user. Here a sync hub method gets a thread of ``HUBS_SYNC_THREADS``, and
token checks, session look-ups, permission checks and sync ``@authorize(test=...)``
predicates get threads of their own pool (``HUBS_AUTH_THREADS``), so a connect never
waits behind hub methods. When a pool's threads are all busy, calls wait for one in
arrival order; a connection has at most ``HUBS_MAX_PARALLEL_INVOCATIONS`` calls there.

Each call closes stale database connections before and after it, in its worker thread,
as Channels' ``database_sync_to_async`` does: every worker has its own thread-local
connection, and ``CONN_MAX_AGE`` decides whether it survives between calls.
``async_to_sync`` inside the sync code still reaches the server's event loop (asgiref's
machinery runs the call).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from asgiref.sync import AsyncToSync, SyncToAsync
from channels.db import database_sync_to_async
from django.core.signals import setting_changed
from django.db import close_old_connections

from .. import conf

T = TypeVar("T")

_lock = threading.Lock()
_pools: dict[str, ThreadPoolExecutor] = {}


def _pool(name: str, size: int) -> ThreadPoolExecutor:
    pool = _pools.get(name)
    if pool is None:
        with _lock:
            pool = _pools.get(name)
            if pool is None:
                pool = _pools[name] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=f"hubs-{name}")
    return pool


def hub_pool() -> ThreadPoolExecutor:
    """The pool of sync hub methods: ``HUBS_SYNC_THREADS`` threads, created on first use."""
    return _pool("sync", int(conf.get("HUBS_SYNC_THREADS")))


def auth_pool() -> ThreadPoolExecutor:
    """The pool of authentication checks, apart from hub methods so that connects never wait behind them."""
    return _pool("auth", int(conf.get("HUBS_AUTH_THREADS")))


class _ClosingSyncToAsync(SyncToAsync[Any, Any]):
    """``database_sync_to_async`` with a pool of our own (Channels' test communicator mutes its copy)."""

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)
        finally:
            close_old_connections()


def _caller_thread_waits() -> bool:
    """This event loop runs inside ``async_to_sync`` called from a sync thread that waits for it.

    That is how Django's ``TestCase`` runs an ``async def`` test (and how scripts run a loop),
    never how daphne or uvicorn run theirs. The waiting thread holds the test's transaction.
    """
    return asyncio.get_running_loop() in AsyncToSync.loop_thread_executors


async def run_in(pool: ThreadPoolExecutor, function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in a thread of ``pool``, database connections closed around it.

    Under ``async_to_sync`` (a Django ``TestCase``) it runs where Channels would run it, in the
    waiting thread: there it sees the rows of the test's transaction, which a pool thread's own
    connection could not (SQLite even reports the table locked), and Channels' test
    communicator can keep that connection open.
    """
    if _caller_thread_waits():
        legacy: Callable[..., Any] = database_sync_to_async(function)
        waited: T = await legacy(*args)
        return waited
    call: Callable[..., Any] = _ClosingSyncToAsync(function, thread_sensitive=False, executor=pool)
    result: T = await call(*args)
    return result


async def run_hub_method(function: Callable[..., T], *args: Any) -> T:
    return await run_in(hub_pool(), function, *args)


async def run_auth(function: Callable[..., T], *args: Any) -> T:
    return await run_in(auth_pool(), function, *args)


def _reset(*, setting: str, **kwargs: Any) -> None:
    """A changed ``HUBS_SYNC_THREADS`` or ``HUBS_AUTH_THREADS`` (tests) takes effect for calls from now on."""
    name = {"HUBS_SYNC_THREADS": "sync", "HUBS_AUTH_THREADS": "auth"}.get(setting)
    if name is not None:
        with _lock:
            pool = _pools.pop(name, None)
        if pool is not None:
            pool.shutdown(wait=False)


setting_changed.connect(_reset)
