"""Reading independent partitions of one stream at once, in order.

A partition is a date window of activities or one parent record (a customer, a plan group).
Up to `workers` partitions are read at the same time, the earliest first; their records come
out partition by partition in the order the partitions were given, so that a stream's state
can advance as records arrive. A reader that is done makes room for the next partition at
once, even while what it read waits to be emitted.

Memory stays flat however large the stream: the partition being emitted (the head) holds at
most HEAD_BATCHES batches before its reader waits, and all the partitions behind it share a
budget of AHEAD_BATCHES. The budget is shared rather than split because partitions differ
in size (recent date windows hold more activities than old ones): a reader of a large window
may read far ahead while small ones are done, instead of stopping after a page or two.
"""

import queue
import threading
from collections import deque
from typing import Callable, Iterable, Iterator, Optional, TypeVar

P = TypeVar("P")
R = TypeVar("R")

BATCH = 200
HEAD_BATCHES = 4
AHEAD_BATCHES = 50  # 10,000 records, some 15 MB, whatever the size of the stream
LOOKAHEAD = 4  # partitions queued for a reader, per reader
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Partition:
    def __init__(self, key, read: Callable, stop: threading.Event, budget: threading.Semaphore,
                 readers: threading.Semaphore):
        self.queue: queue.Queue = queue.Queue()  # bounded by the semaphores below, not here
        self.is_head = threading.Event()
        self._head_room = threading.Semaphore(HEAD_BATCHES)
        self._stop = stop
        self._budget = budget
        self._readers = readers
        self.thread = threading.Thread(target=self._run, args=(key, read), daemon=True)
        self.thread.start()

    def _wait_for(self, semaphore: threading.Semaphore, unless_head: bool) -> Optional[bool]:
        """True: got a place of `semaphore`; False: became the head first; None: stopped."""
        while not self._stop.is_set():
            if unless_head and self.is_head.is_set():
                return False
            if semaphore.acquire(timeout=0.05):
                if self._stop.is_set():
                    semaphore.release()
                    return None
                return True
        return None

    def _put_batch(self, batch: list) -> bool:
        # Behind the head, a batch takes a place of the shared budget; the head's own room is
        # what bounds it once it is the head (it never waits on the budget, so it can always go on).
        got = self._wait_for(self._budget, unless_head=True)
        if got is None:
            return False
        if got:
            self.queue.put((batch, self._budget))
            return True
        if self._wait_for(self._head_room, unless_head=False) is None:
            return False
        self.queue.put((batch, self._head_room))
        return True

    def _run(self, key, read: Callable) -> None:
        # At most `workers` readers at once, but the head always reads: readers behind it that
        # wait for the budget hold their places, and must not keep it waiting.
        slot = self._wait_for(self._readers, unless_head=True)
        if slot is None:
            return
        try:
            self._read(key, read)
        finally:
            if slot:
                self._readers.release()

    def _read(self, key, read: Callable) -> None:
        try:
            batch = []
            for record in read(key):
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
        self.is_head.set()
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
    stop = threading.Event()
    budget = threading.Semaphore(AHEAD_BATCHES)
    readers = threading.Semaphore(workers)  # waiters are served first come, first served
    pending: deque[_Partition] = deque()
    source = iter(partitions)
    try:
        while True:
            while len(pending) < LOOKAHEAD * workers:
                key = next(source, _DONE)
                if key is _DONE:
                    break
                pending.append(_Partition(key, read, stop, budget, readers))
            if not pending:
                return
            yield from pending.popleft().records()
    finally:
        # A failure or an early stop: the other readers stop at their next batch.
        stop.set()
