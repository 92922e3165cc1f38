"""parallel.py: partitions read at once, records out in partition order, failures and early stops."""

import random
import threading
import time

import pytest

from source_chartmogul.parallel import (
    AHEAD_BATCHES_PER_READER,
    BATCH,
    HEAD_BATCHES,
    LOOKAHEAD,
    ROUND_TRIP_SECONDS,
    WAITED_SECONDS,
    Readers,
    ordered,
)
from unit_tests.conftest import Gauge


def readers() -> int:
    """Partition readers alive, whichever test started them."""
    return sum(thread.name == "partition" for thread in threading.enumerate())


def wait_for_threads(baseline: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while readers() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return readers()


def records_for(partition: int) -> list:
    # Some partitions empty, some bigger than a batch, so that batching and back-pressure are used.
    sizes = {0: 0, 3: BATCH * 2 + 7, 7: BATCH, 11: 1}
    return [(partition, i) for i in range(sizes.get(partition, 5 + partition))]


def test_every_record_of_every_partition_in_partition_order():
    partitions = list(range(17))
    rng = random.Random(4)
    delays = {p: rng.uniform(0, 0.01) for p in partitions}

    def read(partition):
        for record in records_for(partition):
            if record[1] % 50 == 0:
                time.sleep(delays[partition])
            yield record

    result = list(ordered(partitions, read, workers=4))

    assert result == [record for p in partitions for record in records_for(p)]


def test_order_holds_when_later_partitions_finish_first():
    def read(partition):
        time.sleep(0.05 if partition == 0 else 0.0)
        yield from [(partition, i) for i in range(3)]

    assert list(ordered(range(10), read, workers=5)) == [(p, i) for p in range(10) for i in range(3)]


def test_no_partitions_gives_nothing():
    assert list(ordered([], lambda p: [p], workers=3)) == []


def test_partitions_are_read_at_once_up_to_the_number_of_workers():
    gauge = Gauge()

    def read(partition):
        with gauge.inside(until=4):
            pass
        yield partition

    result = list(ordered(range(12), read, workers=4))

    assert result == list(range(12))
    assert gauge.highest == 4


def test_one_reader_while_the_consumer_never_waits_for_long():
    gauge = Gauge()

    def read(partition):
        with gauge.inside(until=1, linger=0.001):  # far quicker than WAITED_SECONDS
            yield from [(partition, i) for i in range(BATCH + 1)]

    readers = Readers(8)
    result = list(ordered(range(40), read, workers=8, readers=readers))

    assert result == [(p, i) for p in range(40) for i in range(BATCH + 1)]
    assert gauge.highest == 1 and readers.now == 1


def test_readers_double_each_time_the_consumer_waits_up_to_the_workers_and_the_next_call_keeps_them():
    gauge = Gauge()

    def read(partition):
        with gauge.inside(until=1, linger=0):
            time.sleep(2 * WAITED_SECONDS)  # a round trip to a slow API
        yield partition

    readers = Readers(6)
    assert list(ordered(range(3), read, workers=6, readers=readers)) == [0, 1, 2]
    learnt = readers.now
    assert 2 <= learnt <= 6 and gauge.highest <= learnt

    assert list(ordered(range(30), read, workers=6, readers=readers)) == list(range(30))
    assert readers.now == 6 and gauge.highest == 6


def test_partitions_are_taken_from_the_iterable_lazily():
    taken = []

    def partitions():
        for p in range(100):
            taken.append(p)
            yield p

    consumer = ordered(partitions(), lambda p: [p], workers=3)
    assert next(consumer) == 0
    assert len(taken) <= LOOKAHEAD * 3 + 1
    consumer.close()


def test_an_error_in_a_partition_reaches_the_consumer_after_the_partitions_before_it():
    baseline = wait_for_threads(0)

    def read(partition):
        if partition == 5:
            yield (partition, 0)
            raise ValueError("ChartMogul answered garbage for partition 5")
        yield from [(partition, i) for i in range(3)]

    received = []
    with pytest.raises(ValueError, match="garbage for partition 5"):
        for record in ordered(range(20), read, workers=3):
            received.append(record)

    assert received[: 5 * 3] == [(p, i) for p in range(5) for i in range(3)]
    assert all(p <= 5 for p, _ in received)
    assert wait_for_threads(baseline) <= baseline


def test_an_error_in_the_first_partition_is_raised_even_if_later_ones_are_fine():
    def read(partition):
        if partition == 0:
            time.sleep(0.05)
            raise RuntimeError("first failed")
        return [partition]

    with pytest.raises(RuntimeError, match="first failed"):
        list(ordered(range(6), read, workers=3))


class Endless:
    """A partition reader that never ends; counts what it produced, per partition."""

    def __init__(self):
        self.produced: dict = {}
        self.lock = threading.Lock()

    def __call__(self, partition):
        i = 0
        while True:
            with self.lock:
                self.produced[partition] = self.produced.get(partition, 0) + 1
            yield (partition, i)
            i += 1


def test_closing_the_consumer_early_stops_every_worker():
    baseline = wait_for_threads(0)
    endless = Endless()
    produced, lock = endless.produced, endless.lock

    consumer = ordered(range(50), endless, workers=4)
    first = [next(consumer) for _ in range(10)]
    assert first == [(0, i) for i in range(10)]
    assert readers() > baseline  # workers are running

    consumer.close()

    assert wait_for_threads(baseline) <= baseline, [t.name for t in threading.enumerate()]
    with lock:
        total = sum(produced.values())
    time.sleep(0.2)
    with lock:
        assert sum(produced.values()) == total  # nobody reads any more
    # Memory stays bounded: the head's queue, the shared budget, and a batch in each reader's hands.
    assert sum(produced.values()) <= BATCH * (HEAD_BATCHES + AHEAD_BATCHES_PER_READER * 4 + 4 + 1), produced


def test_stopping_after_an_error_in_the_consumer_stops_every_worker():
    baseline = wait_for_threads(0)

    def endless(partition):
        while True:
            yield partition
            time.sleep(0.0001)

    with pytest.raises(KeyError):
        for _record in ordered(range(10), endless, workers=4):
            raise KeyError("the consumer failed")

    assert wait_for_threads(baseline) <= baseline


def test_the_read_ahead_budget_is_per_reader_allowed_so_one_reader_holds_little():
    """A consumer that never waits for the head keeps one reader behind it, and that reader's
    share of the budget (AHEAD_BATCHES_PER_READER batches) is all that is read ahead."""
    endless = Endless()
    produced, lock = endless.produced, endless.lock

    readers = Readers(8)
    consumer = ordered(range(50), endless, workers=8, readers=readers)
    assert next(consumer) == (0, 0)
    time.sleep(0.3)  # every reader fills what it may, and waits
    with lock:
        total = sum(produced.values())
    consumer.close()

    assert readers.now == 1
    # The head's own room, one reader's share of the budget, and what the two readers hold
    # (a batch being filled each, and the record that ended it).
    assert total < BATCH * (HEAD_BATCHES + AHEAD_BATCHES_PER_READER + 3), produced
    assert total > BATCH * (HEAD_BATCHES + 2)  # the budget was used: read ahead beyond the head's room


def test_the_first_reader_is_added_after_two_long_waits_in_a_row_the_next_ones_after_one():
    readers = Readers(8)
    assert not readers.waited(2 * WAITED_SECONDS)  # one long wait: a pause, not the network
    assert not readers.waited(0.0)  # the next batch was there: the streak ends
    assert not readers.waited(2 * WAITED_SECONDS)
    assert readers.waited(2 * WAITED_SECONDS)  # two in a row
    assert readers.more() and readers.now == 2
    assert readers.waited(2 * WAITED_SECONDS)  # from now on each long wait
    assert readers.more() and readers.now == 4
    assert not readers.waited(WAITED_SECONDS / 2)
    assert readers.waited(2 * WAITED_SECONDS)
    assert readers.more() and readers.now == 8
    assert not readers.waited(2 * WAITED_SECONDS)  # all of them already


def test_one_wait_of_a_round_trip_adds_the_first_reader_at_once():
    readers = Readers(8)
    assert 2 * WAITED_SECONDS < ROUND_TRIP_SECONDS
    assert readers.waited(ROUND_TRIP_SECONDS)  # the network: no second wait needed
    assert readers.more() and readers.now == 2


def test_one_pause_of_the_consumer_s_head_adds_no_reader():
    def read(partition):
        if partition == 5:
            time.sleep(3 * WAITED_SECONDS)  # once: the process paused
        yield from [(partition, i) for i in range(3)]

    readers = Readers(8)
    assert list(ordered(range(20), read, workers=8, readers=readers)) == [(p, i) for p in range(20) for i in range(3)]
    assert readers.now == 1
