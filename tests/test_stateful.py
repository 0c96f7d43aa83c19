"""The stateful-reconnect message buffer, on its own."""

from __future__ import annotations

import pytest

from django_hubs.server.stateful import MessageBuffer, SequenceError


def test_output_is_kept_until_acknowledged():
    buffer = MessageBuffer(limit=100)
    for data in (b"a", b"bb", b"ccc"):
        buffer.add(data)
    assert buffer.replay_from() == 1
    buffer.acknowledge(2)
    assert buffer.unacknowledged() == [b"ccc"]
    assert buffer.replay_from() == 3
    assert buffer.buffered_bytes == 3
    buffer.acknowledge(3)
    assert buffer.unacknowledged() == [] and buffer.replay_from() == 4


def test_the_limit_counts_unacknowledged_bytes():
    buffer = MessageBuffer(limit=10)
    buffer.add(b"x" * 10)
    assert not buffer.over_limit
    buffer.add(b"y")
    assert buffer.over_limit
    buffer.acknowledge(1)
    assert not buffer.over_limit


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
