"""Reading independent partitions of one stream at once, in order.

A partition is a date window of activities or one parent record (a customer, a plan group).
Up to `workers` partitions are read at the same time; their records come out partition by
partition in the order the partitions were given, so that a stream's state can advance as
records arrive. Each partition holds at most `max_batches` batches in memory before its
reader waits, so memory stays flat however large the stream is.
"""

import queue
import threading
from collections import deque
from typing import Callable, Iterable, Iterator, TypeVar

P = TypeVar("P")
R = TypeVar("R")

BATCH = 200
_DONE = object()


class _Failed:
    def __init__(self, error: BaseException):
        self.error = error


class _Partition:
    def __init__(self, key, read: Callable, stop: threading.Event, max_batches: int):
        self.queue: queue.Queue = queue.Queue(max_batches)
        self._stop = stop
        self.thread = threading.Thread(target=self._run, args=(key, read), daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, key, read: Callable) -> None:
        try:
            batch = []
            for record in read(key):
                batch.append(record)
                if len(batch) >= BATCH:
                    if not self._put(batch):
                        return
                    batch = []
            if batch and not self._put(batch):
                return
            self._put(_DONE)
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._put(_Failed(error))

    def records(self) -> Iterator:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield from item


def ordered(
    partitions: Iterable[P], read: Callable[[P], Iterable[R]], workers: int, max_batches: int = 2
) -> Iterator[R]:
    """Yields read(p) for every p of partitions, in order, reading up to `workers` at once."""
    stop = threading.Event()
    pending: deque[_Partition] = deque()
    source = iter(partitions)
    try:
        while True:
            while len(pending) < workers:
                key = next(source, _DONE)
                if key is _DONE:
                    break
                pending.append(_Partition(key, read, stop, max_batches))
            if not pending:
                return
            yield from pending.popleft().records()
    finally:
        # A failure or an early stop: the other readers stop at their next batch.
        stop.set()
