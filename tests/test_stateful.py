"""The stateful-reconnect message buffer, on its own."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from django_hubs.server.stateful import MessageBuffer, SequenceError, budget


def test_output_is_kept_until_acknowledged():
    buffer = MessageBuffer(limit=100)
    for data in (b"a", b"bb", b"ccc"):
        buffer.add(data)
    assert buffer.replay_from() == 1
    buffer.acknowledge(2, now=0.0)
    assert buffer.unacknowledged() == [b"ccc"]
    assert buffer.replay_from() == 3
    assert buffer.buffered_bytes == 3
    buffer.acknowledge(3, now=0.0)
    assert buffer.unacknowledged() == [] and buffer.replay_from() == 4


def test_the_window_counts_unacknowledged_bytes():
    buffer = MessageBuffer(limit=10)
    buffer.add(b"x" * 10)
    assert buffer.window_open  # up to the limit, as the official server
    buffer.add(b"y")
    assert not buffer.window_open
    buffer.acknowledge(1, now=0.0)
    assert buffer.window_open


def test_input_after_a_reconnect_skips_what_was_processed():
    buffer = MessageBuffer(limit=100)
    assert [buffer.accept() for _ in range(3)] == [True, True, True]
    assert buffer.ack_due() == 3 and buffer.ack_due() is None
    buffer.restart_at(2)  # the peer resends 2 and 3, then 4 is new
    assert [buffer.accept() for _ in range(3)] == [False, False, True]
    assert buffer.ack_due() == 4


def test_a_sequence_beyond_what_was_received_is_an_error():
    buffer = MessageBuffer(limit=100)
    buffer.accept()
    buffer.restart_at(2)  # "next is 2": fine
    with pytest.raises(SequenceError, match=r"Sequence ID greater than amount of messages we.ve received\."):
        buffer.restart_at(4)


def test_past_the_window_messages_are_held_then_released_in_order_by_acks():
    buffer = MessageBuffer(limit=10)
    buffer.add(b"x" * 11)  # the window is now over: what follows waits
    assert not buffer.window_open
    buffer.hold(b"a", now=1.0)
    buffer.hold(b"b", now=2.0)
    assert buffer.held_bytes == 2 and buffer.stalled_since == 1.0
    assert not buffer.room.is_set()
    assert buffer.acknowledge(1, now=3.0) == [b"a", b"b"]  # numbered 2 and 3, in order
    assert buffer.unacknowledged() == [b"a", b"b"] and buffer.replay_from() == 2
    assert buffer.held_bytes == 0
    assert buffer.stalled_since is None and buffer.room.is_set() and buffer.window_open


def test_an_ack_that_makes_some_room_restarts_the_wait():
    buffer = MessageBuffer(limit=10)
    for data in (b"x" * 6, b"y" * 6):
        buffer.add(data)
    buffer.hold(b"z" * 6, now=1.0)
    buffer.hold(b"w" * 6, now=1.0)
    assert buffer.acknowledge(1, now=5.0) == [b"z" * 6]  # 12 unacknowledged again: w waits
    assert buffer.held_bytes == 6 and buffer.stalled_since == 5.0
    assert buffer.acknowledge(1, now=9.0) == [] and buffer.stalled_since == 5.0  # no progress, no reprieve
    buffer.discard()


def test_discard_gives_the_held_bytes_back_and_wakes_producers():
    buffer = MessageBuffer(limit=1)
    buffer.add(b"xx")
    before = budget.used
    buffer.hold(b"a" * 100, now=0.0)
    assert budget.used == before + 100
    buffer.discard()
    assert budget.used == before and buffer.held_bytes == 0 and buffer.room.is_set()


@pytest.mark.django_db
def test_a_token_within_leeway_lasts_until_simplejwt_stops_accepting_it(monkeypatch):
    # Accepted at connect (exp is 5 s past, LEEWAY is 30 s) but given exp as its expiry, the
    # connection was closed at the next tick, and the client reconnected with it: a loop.
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.state import token_backend
    from rest_framework_simplejwt.tokens import AccessToken

    from django_hubs.security.auth import validate_token

    monkeypatch.setattr(token_backend, "leeway", 30)
    token = AccessToken.for_user(User.objects.create(username="late"))
    token.set_exp(lifetime=timedelta(seconds=-5))
    identity = validate_token(str(token).encode())
    assert identity.expires_at == float(token["exp"]) + 30
    assert identity.expires_at > time.time()
