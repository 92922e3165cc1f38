"""Reading independent partitions of one stream at once, in order.

A partition is a date window of activities or one parent record (a customer, a plan group).
Up to `workers` partitions are read at the same time, the earliest first; their records come
out partition by partition in the order the partitions were given, so that a stream's state
can advance as records arrive. A reader that is done makes room for the next partition at
once, even while what it read waits to be emitted.

A partition's reader may also yield `Spawn(keys)`: new partitions that come right after it
(a date window that turned out large splits the rest of itself).

Memory stays flat however large the stream: the partition being emitted (the head) holds at
most HEAD_BATCHES batches before its reader waits, and all the partitions behind it share a
budget of AHEAD_BATCHES. Once the budget is spent every reader behind the head waits for it,
so the budget is sized for the readers behind to keep going while the head walks a partition
of a dozen pages (about twice the size activities.py aims its parts at, which it undershoots
when the activities grow denser within a window): 7 readers x 12 pages of 200 records (half
that stalled the readers: docs/benchmark.md).
"""

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Optional, TypeVar

P = TypeVar("P")
R = TypeVar("R")

BATCH = 200
HEAD_BATCHES = 4
AHEAD_BATCHES = 80  # 16,000 records, whatever the size of the stream
LOOKAHEAD = 4  # partitions taken from the caller ahead of time, per reader
_DONE = object()


@dataclass
class Spawn:
    partitions: list


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Schedule:
    """The partitions in emission order; who may read, and where spawned ones go."""

    def __init__(self, read: Callable, workers: int):
        self.read = read
        self.workers = workers
        self.stop = threading.Event()
        self.budget = threading.Semaphore(AHEAD_BATCHES)
        self.pending: deque[_Partition] = deque()
        self.head: _Partition | None = None
        self.changed = threading.Condition()

    def add(self, keys: list, after: Optional["_Partition"] = None) -> None:
        with self.changed:
            partitions = [_Partition(key, self) for key in keys]
            if after is None:
                index = len(self.pending)  # from the caller's list: at the end
            elif after is self.head:
                index = 0  # spawned by the partition being emitted: next in line
            else:
                index = self.pending.index(after) + 1
            for offset, partition in enumerate(partitions):
                self.pending.insert(index + offset, partition)
            self.changed.notify_all()
        for partition in partitions:
            partition.thread.start()

    def next_head(self) -> Optional["_Partition"]:
        with self.changed:
            self.head = self.pending.popleft() if self.pending else None
            if self.head is not None:
                self.head.is_head.set()
            self.changed.notify_all()
            return self.head

    def may_read(self, partition: "_Partition") -> bool:
        """The earliest `workers` partitions that still read, the head first."""
        if partition is self.head:
            return True  # even past `workers`: the readers behind it may all wait on the budget
        ahead = 1 if self.head is not None and not self.head.read_done else 0
        for other in self.pending:
            if other is partition:
                return ahead < self.workers
            if not other.read_done:
                ahead += 1
        return False

    def wait_to_read(self, partition: "_Partition") -> bool:
        with self.changed:
            while not self.stop.is_set():
                if self.may_read(partition):
                    return True
                self.changed.wait(0.05)
        return False

    def done_reading(self, partition: "_Partition") -> None:
        with self.changed:
            partition.read_done = True
            self.changed.notify_all()


class _Partition:
    def __init__(self, key, schedule: _Schedule):
        self.key = key
        self.queue: queue.Queue = queue.Queue()  # bounded by the semaphores below, not here
        self.is_head = threading.Event()
        self.read_done = False
        self._head_room = threading.Semaphore(HEAD_BATCHES)
        self._schedule = schedule
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _wait_for(self, semaphore: threading.Semaphore, unless_head: bool) -> bool | None:
        """True: got a place of `semaphore`; False: became the head first; None: stopped."""
        stop = self._schedule.stop
        while not stop.is_set():
            if unless_head and self.is_head.is_set():
                return False
            if semaphore.acquire(timeout=0.05):
                if stop.is_set():
                    semaphore.release()
                    return None
                return True
        return None

    def _put_batch(self, batch: list) -> bool:
        # Behind the head, a batch takes a place of the shared budget; the head's own room is
        # what bounds it once it is the head (it never waits on the budget, so it can always go on).
        got = self._wait_for(self._schedule.budget, unless_head=True)
        if got is None:
            return False
        if got:
            self.queue.put((batch, self._schedule.budget))
            return True
        if self._wait_for(self._head_room, unless_head=False) is None:
            return False
        self.queue.put((batch, self._head_room))
        return True

    def _run(self) -> None:
        if not self._schedule.wait_to_read(self):
            return
        try:
            self._read()
        finally:
            self._schedule.done_reading(self)

    def _read(self) -> None:
        try:
            batch = []
            for record in self._schedule.read(self.key):
                if isinstance(record, Spawn):
                    self._schedule.add(record.partitions, after=self)
                    continue
                batch.append(record)
                if len(batch) >= BATCH:
                    if not self._put_batch(batch):
                        return
                    batch = []
            if batch and not self._put_batch(batch):
                return
            self.queue.put((_DONE, None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            self.queue.put((_Failed(error), None))

    def records(self) -> Iterator:
        while True:
            item, place = self.queue.get()
            if place is not None:
                place.release()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield from item


def ordered(partitions: Iterable[P], read: Callable[[P], Iterable[R]], workers: int) -> Iterator[R]:
    """Yields read(p) for every p of partitions, in order, reading up to `workers` at once."""
    schedule = _Schedule(read, workers)
    source = iter(partitions)
    exhausted = False
    try:
        while True:
            if not exhausted:
                wanted = LOOKAHEAD * workers - len(schedule.pending)
                keys = [key for _, key in zip(range(max(wanted, 0)), source)]
                exhausted = len(keys) < wanted
                if keys:
                    schedule.add(keys)
            head = schedule.next_head()
            if head is None:
                return
            yield from head.records()
    finally:
        # A failure or an early stop: the other readers stop at their next batch.
        schedule.stop.set()
