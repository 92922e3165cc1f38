"""Reading independent partitions of one stream at once, in order.

A partition is a date window of activities or one parent record (a customer, a plan group).
Up to `workers` partitions are read at the same time, the earliest first; their records come
out partition by partition in the order the partitions were given, so that a stream's state
can advance as records arrive. A reader that is done makes room for the next partition at
once, even while what it read waits to be emitted.

A partition's reader may also yield `Spawn(keys)`: new partitions that come right after it
(a date window that turned out large splits the rest of itself).

How many partitions read at once grows with need, up to `workers`: one at first, twice as many
each time the consumer waits at least `WAITED_SECONDS` for the partition it is emitting. The
first time takes `FIRST_GROWTH_WAITS` such waits in a row, or one of `ROUND_TRIP_SECONDS`:
against a fast server a single wait of a few tens of ms is a pause of this process (another
thread's turn on a busy machine, the garbage collector), not the network, and two readers
instead of one cost a fifth more CPU for the rest of the read (docs/architecture.md). Against
ChartMogul (150-300 ms a round trip) the consumer waits that long on the first page, and all
`workers` read within a few round trips. Against a fast server the partition being emitted and
one reader behind it keep the consumer busy, and more readers only cost CPU: on a local
stand-in, 8 readers at once took nearly a third more CPU than one for the same 300,000
activities (docs/architecture.md). A partition's thread starts only once it may read.

Memory stays flat however large the stream: the partition being emitted (the head) holds at
most HEAD_BATCHES batches before its reader waits, and all the partitions behind it share a
budget of AHEAD_BATCHES_PER_READER for each reader allowed behind the head. Once the budget is
spent every reader behind the head waits for it. With all 8 readers (a slow API) that is 80
batches, sized for the readers behind to keep going while the head walks a partition of a
dozen pages (about twice the size activities.py aims its parts at, which it undershoots when
the activities grow denser within a window): 7 readers x 12 pages of 200 records (half that
stalled the readers: docs/benchmark.md). With the one reader a fast API needs, it is 10: the
readers are then faster than the consumer, and a budget sized for eight only held more
records in memory (a peak of about 110 MB rather than 87 on a read of 300,000 activities).
"""

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Optional, TypeVar

P = TypeVar("P")
R = TypeVar("R")

BATCH = 200
HEAD_BATCHES = 4
AHEAD_BATCHES_PER_READER = 10  # 2,000 records a reader; 16,000 at most (8 readers), whatever the size of the stream
LOOKAHEAD = 4  # partitions taken from the caller ahead of time, per reader
# A wait for the head partition this long means its reader waits on the network: read more at
# once. Far above what a page costs to parse (about 2 ms) or a thread switch (5 ms), far below a
# round trip to ChartMogul (150 ms and more).
WAITED_SECONDS = 0.025
FIRST_GROWTH_WAITS = 2  # long waits in a row before the first reader is added...
# ... or one this long: the network whatever else. Pauses of the process against an instant
# server took 26-29 ms in the reads logged for 2.3.1; ChartMogul answers in 150-300 ms.
ROUND_TRIP_SECONDS = 0.1
_DONE = object()


@dataclass
class Spawn:
    partitions: list


class Readers:
    """How many partitions may read at once: `now`, from one up to `most`.

    A caller that reads one stream in several calls of `ordered` (a fan-out stream, one page of
    parents at a time) passes the same Readers to each, so that what one call learnt holds for
    the next.
    """

    def __init__(self, most: int):
        self.most = most
        self.now = 1
        self._long_waits = 0  # in a row

    def waited(self, seconds: float) -> bool:
        """The consumer took the head's next batch after waiting `seconds` (0: it was there).
        True: the waits say read more at once (`more`)."""
        if seconds < WAITED_SECONDS:
            self._long_waits = 0
            return False
        self._long_waits += 1
        first = self._long_waits >= FIRST_GROWTH_WAITS or seconds >= ROUND_TRIP_SECONDS
        return self.now < self.most and (self.now > 1 or first)

    def more(self) -> bool:
        """Twice as many, up to `most`; False if already there."""
        if self.now >= self.most:
            return False
        self.now = min(self.most, 2 * self.now)
        return True


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Schedule:
    """The partitions in emission order; who may read, and where spawned ones go."""

    def __init__(self, read: Callable, readers: Readers):
        self.read = read
        self.readers = readers
        self.stop = threading.Event()
        self.budget = threading.Semaphore(AHEAD_BATCHES_PER_READER * readers.now)
        self.pending: deque[_Partition] = deque()
        self.head: _Partition | None = None
        self.lock = threading.Lock()

    def add(self, keys: list, after: Optional["_Partition"] = None) -> None:
        with self.lock:
            partitions = [_Partition(key, self) for key in keys]
            if after is None:
                index = len(self.pending)  # from the caller's list: at the end
            elif after is self.head:
                index = 0  # spawned by the partition being emitted: next in line
            else:
                index = self.pending.index(after) + 1
            for offset, partition in enumerate(partitions):
                self.pending.insert(index + offset, partition)
            self._start_readers()

    def next_head(self) -> Optional["_Partition"]:
        with self.lock:
            self.head = self.pending.popleft() if self.pending else None
            if self.head is not None:
                self.head.is_head.set()
            self._start_readers()
            return self.head

    def more_readers(self) -> None:
        """The consumer waited for the head: let twice as many partitions read at once."""
        with self.lock:
            before = self.readers.now
            if self.readers.more():
                self.budget.release(AHEAD_BATCHES_PER_READER * (self.readers.now - before))
                self._start_readers()

    def done_reading(self, partition: "_Partition") -> None:
        with self.lock:
            partition.read_done = True
            self._start_readers()

    def _start_readers(self) -> None:
        """Starts the head and the earliest partitions after it, as long as fewer of them
        still read than `readers` allow. The head reads whatever the others do: they may all wait on the budget."""
        if self.stop.is_set():
            return
        reading = 0  # partitions before this one that still read
        for partition in [self.head, *self.pending] if self.head is not None else self.pending:
            if partition.read_done:
                continue
            if partition is not self.head and reading >= self.readers.now:
                return
            partition.start()
            reading += 1


class _Partition:
    def __init__(self, key, schedule: _Schedule):
        self.key = key
        self.queue: queue.Queue = queue.Queue()  # bounded by the semaphores below, not here
        self.is_head = threading.Event()
        self.read_done = False
        self.started = False
        self._head_room = threading.Semaphore(HEAD_BATCHES)
        self._schedule = schedule
        self.thread = threading.Thread(target=self._run, name="partition", daemon=True)

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.thread.start()

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
        try:
            self._read()
        finally:
            self._schedule.done_reading(self)

    def _read(self) -> None:
        try:
            batch: list = []
            weight = 0  # records in the batch: a list counts its length (a page), anything else one
            for item in self._schedule.read(self.key):
                if type(item) is Spawn:
                    self._schedule.add(item.partitions, after=self)
                    continue
                if weight >= BATCH:
                    if not self._put_batch(batch):
                        return
                    batch, weight = [], 0
                batch.append(item)
                weight += len(item) if type(item) is list else 1
            if batch and not self._put_batch(batch):
                return
            self.queue.put((_DONE, None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            self.queue.put((_Failed(error), None))

    def records(self) -> Iterator:
        while True:
            try:
                item, place = self.queue.get_nowait()
                waited = 0.0
            except queue.Empty:
                began = time.monotonic()
                item, place = self.queue.get()
                waited = time.monotonic() - began
            # A partition's end that was already there says nothing of the network: it comes
            # right after the partition's last batch (a fan-out parent's one page, say).
            if (item is not _DONE or waited >= WAITED_SECONDS) and self._schedule.readers.waited(waited):
                self._schedule.more_readers()
            if place is not None:
                place.release()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield from item


def ordered(
    partitions: Iterable[P], read: Callable[[P], Iterable[R]], workers: int, readers: Readers | None = None
) -> Iterator[R]:
    """Yields read(p) for every p of partitions, in order, reading up to `workers` at once (one
    at first: `Readers`)."""
    schedule = _Schedule(read, readers or Readers(workers))
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
        # A failure or an early stop: the readers stop at their next batch, the others never start.
        schedule.stop.set()
