"""The read loop: the configured streams, several at once, each as the CDK's Stream.read reads it.

The CDK's AbstractSource.read reads one stream after another. Here each configured stream
runs in its own thread (at most MAX_STREAMS at once; requests are paced per API key in
transport.py whatever the number of threads) and its messages are handed to the caller in
the order each stream produced them. Each stream is read by `read_batches` (base.py), which
gives what the CDK's `Stream.read` gives (its states, checkpoints and resumable full refresh)
with a page of records as one list.

Records travel in batches (`Records`), not one message each: the command line writes them
straight out (run.py), and `SourceChartmogul.read`, the CDK's interface, turns them into
record messages.

Failures: a stream that fails is marked INCOMPLETE with one error trace; a configuration
error (a rejected key) stops every other stream at once, so a revoked key gives one clear
error, not one per stream. A stream of the catalog that this connector does not have fails
alone, as in the CDK. The read then raises, so the run exits non-zero: a partial sync is
never presented as a success. Inputs that cannot be read as meant (a stream listed twice,
another connector's state) are refused before any request.
"""

import logging
import queue
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamStatus,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteStream,
    FailureType,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams.checkpoint.checkpoint_reader import FULL_REFRESH_COMPLETE_STATE
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger
from airbyte_cdk.utils.stream_status_utils import as_airbyte_message as status_message
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .base import ChartmogulStream
from .config import config_error

MAX_STREAMS = 4
BATCH = 200
PROGRESS_EVERY_SECONDS = 30.0


@dataclass
class Records:
    """Records of one stream, in order, read at about `emitted_at` (ms since the epoch)."""

    stream: str
    data: list[Mapping[str, Any]]
    emitted_at: int

    def messages(self) -> Iterator[AirbyteMessage]:
        for data in self.data:
            yield AirbyteMessage(
                type=Type.RECORD,
                record=AirbyteRecordMessage(stream=self.stream, data=data, emitted_at=self.emitted_at),
            )


@dataclass
class _Finished:
    stream: ConfiguredAirbyteStream
    error: BaseException | None = None


class _Stopped(Exception):
    """Another stream failed with a configuration error."""


def read(
    logger: logging.Logger,
    streams: Mapping[str, ChartmogulStream],
    catalog: ConfiguredAirbyteCatalog,
    state: list[AirbyteStateMessage] | None,
) -> Iterator[AirbyteMessage | Records]:
    check_inputs(logger, streams, catalog, state)
    if not catalog.streams:
        logger.warning("The catalog lists no stream: nothing to read. List the streams to read in it.")
    outbox: queue.Queue = queue.Queue(maxsize=20)  # Records, other messages, _Finished
    stop = threading.Event()
    closed = threading.Event()  # nobody reads the outbox any more
    failures: list[tuple[str, AirbyteTracedException]] = []
    progress = _Progress(logger)

    def put(item) -> None:
        while True:
            if stop.is_set() and not isinstance(item, _Finished):
                raise _Stopped()
            if closed.is_set():
                return  # the end of a stream, and no one left to tell
            try:
                outbox.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def run(configured: ConfiguredAirbyteStream) -> None:
        try:
            if stop.is_set():
                raise _Stopped()
            stream = streams[configured.stream.name]
            pages: list[list] = []  # lists of records, handed over as one batch
            count = 0

            def hand_over() -> None:
                nonlocal pages, count
                if pages:
                    data = pages[0] if len(pages) == 1 else [record for page in pages for record in page]
                    put(Records(configured.stream.name, data, int(time.time() * 1000)))
                    pages, count = [], 0

            # Records go in batches of about BATCH, a page or several small ones (a queue hop
            # costs as much as a page), each handed on as it came; anything else (state, status)
            # at once, after the records before it.
            for item in _read_stream(logger, stream, configured, state):
                if type(item) is not list:
                    hand_over()
                    put(item)
                    continue
                pages.append(item)
                count += len(item)
                if count >= BATCH:
                    hand_over()
            hand_over()
            put(_Finished(configured))
        except BaseException as error:
            put(_Finished(configured, error))

    known = [configured for configured in catalog.streams if configured.stream.name in streams]
    for configured in catalog.streams:
        if configured.stream.name not in streams:
            yield from _fail(logger, configured, _unknown_stream(configured.stream.name), failures)
    remaining = len(known)
    pool = ThreadPoolExecutor(max_workers=MAX_STREAMS, thread_name_prefix="stream")
    try:
        for configured in known:
            pool.submit(run, configured)
        while remaining:
            item = outbox.get()
            if isinstance(item, _Finished):
                remaining -= 1
                yield from _finish(logger, item, stop, failures)
                continue
            if isinstance(item, Records):
                progress.count(item)
            yield item
    finally:
        stop.set()
        closed.set()
        pool.shutdown(wait=False, cancel_futures=True)
    progress.report(final=True)
    if failures:
        raise _summary(failures)


def _read_stream(
    logger: logging.Logger,
    stream: ChartmogulStream,
    configured: ConfiguredAirbyteStream,
    state: list[AirbyteStateMessage] | None,
) -> Iterator[AirbyteMessage | list]:
    name = configured.stream.name
    state_manager = ConnectorStateManager(state=state)
    stream_state = state_manager.get_stream_state(name, None)
    if stream_state == {"__ab_no_cursor_state_message": True}:
        stream_state = {}  # the end of a finished full refresh: start again from the top
    if configured.sync_mode == SyncMode.full_refresh and stream.cursor_field:
        stream_state = {}  # a full refresh of an incremental stream ignores its cursor
    if stream_state == FULL_REFRESH_COMPLETE_STATE and stream.is_resumable and not stream.cursor_field:
        # The CDK's meaning, kept: a retried attempt must not read a finished stream again. But
        # outside the platform, passing back the last state of a finished sync reads nothing
        # (airbytehq/airbyte#42888): say so, and how to read the stream again.
        logger.warning(
            f"Not reading {name}: the state given says its last full refresh completed "
            f"({orjson.dumps(FULL_REFRESH_COMPLETE_STATE).decode()}), so this sync reads nothing of it again. "
            "To read it again, drop its entry from the state (in Airbyte: reset the stream), or in "
            "PyAirbyte read with force_full_refresh=True."
        )
    stream.state = stream_state
    yield status_message(configured.stream, AirbyteStreamStatus.STARTED)
    running = False
    for item in stream.read_batches(configured, logger, DebugSliceLogger(), stream_state, state_manager):
        if not running and type(item) is list:
            running = True
            yield status_message(configured.stream, AirbyteStreamStatus.RUNNING)
        yield item  # a list of records, or a message (state)
    yield status_message(configured.stream, AirbyteStreamStatus.COMPLETE)


def _finish(logger, item: _Finished, stop: threading.Event, failures: list) -> Iterator[AirbyteMessage]:
    name = item.stream.stream.name
    if item.error is None:
        logger.info(f"Finished syncing {name}")
        return
    if isinstance(item.error, _Stopped) or (stop.is_set() and _is_config_error(item.error)):
        yield status_message(item.stream.stream, AirbyteStreamStatus.INCOMPLETE)
        logger.info(f"Stopped {name}: another stream failed with a configuration error")
        return
    yield from _fail(logger, item.stream, item.error, failures)
    if _is_config_error(item.error):
        stop.set()


def _fail(
    logger, configured: ConfiguredAirbyteStream, error: BaseException, failures: list
) -> Iterator[AirbyteMessage]:
    name = configured.stream.name
    yield status_message(configured.stream, AirbyteStreamStatus.INCOMPLETE)
    traced = as_traced(error, name)
    if isinstance(error, AirbyteTracedException):
        logger.error(f"Stream {name} failed: {traced.message}")
    else:
        logger.error(f"Stream {name} failed", exc_info=error)  # a bug: keep the traceback
    failures.append((name, traced))
    yield error_trace(traced, name)


def as_traced(error: BaseException, stream: str | None = None) -> AirbyteTracedException:
    if isinstance(error, AirbyteTracedException):
        return error
    return AirbyteTracedException.from_exception(
        error, stream_descriptor=StreamDescriptor(name=stream) if stream else None
    )


def error_trace(traced: AirbyteTracedException, stream: str | None = None) -> AirbyteMessage:
    """The error as a trace message; without a Python stack for errors we explained ourselves."""
    descriptor = StreamDescriptor(name=stream) if stream else None
    message = traced.as_sanitized_airbyte_message(stream_descriptor=descriptor)
    if traced.failure_type != FailureType.system_error or traced.internal_message == traced.message:
        assert message.trace is not None and message.trace.error is not None
        message.trace.error.stack_trace = None
    return message


def _is_config_error(error: BaseException) -> bool:
    return isinstance(error, AirbyteTracedException) and error.failure_type == FailureType.config_error


def check_inputs(
    logger: logging.Logger,
    streams: Mapping[str, ChartmogulStream],
    catalog: ConfiguredAirbyteCatalog,
    state: list[AirbyteStateMessage] | None,
) -> None:
    """Refuses, before any request, a catalog or state that this connector cannot read as meant.

    A state with none of this connector's streams is another connector's, and refused. Beside
    states of its own streams, one of a stream it does not have (a stream a later version dropped,
    or left over on the platform) only gets a warning: it is never read, and refusing it would stop
    every sync of the connection until someone edits its state."""
    names = [configured.stream.name for configured in catalog.streams]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise config_error(
            f"The catalog lists the stream{'s' if len(twice) > 1 else ''} {', '.join(map(repr, twice))} more "
            "than once; each would be read, and its records sent, once per entry. List each stream once."
        )
    if any(message.type == AirbyteStateType.GLOBAL for message in state or []):
        raise config_error(
            "The state given is a GLOBAL state, which this connector never writes (it keeps one STREAM "
            f"state per stream): it is another connector's. {STATE_FIX}"
        )
    foreign = []
    for message in state or []:
        descriptor = message.stream.stream_descriptor if message.stream else None
        if descriptor is None or descriptor.name not in streams or descriptor.namespace:
            label = repr(descriptor.name) if descriptor else "?"
            foreign.append(
                label + (f" (namespace {descriptor.namespace!r})" if descriptor and descriptor.namespace else "")
            )
    if foreign and len(foreign) == len(state or []):
        raise config_error(
            f"The state given has state only for streams this connector does not have: {', '.join(foreign)}. "
            f"It is not this connector's state. {STATE_FIX}"
        )
    if foreign:
        logger.warning(
            f"The state given also has state for streams this connector does not have: {', '.join(foreign)}. "
            "It is ignored; the other streams' states are used."
        )


STATE_FIX = (
    "Give the state messages of a previous sync of this connector, or no state to sync from the start "
    "(in Airbyte: reset the connection)."
)


def _unknown_stream(name: str) -> AirbyteTracedException:
    message = (
        f"The stream '{name}' in the catalog does not exist in this connector. Refresh the "
        "source schema and remove it from the connection."
    )
    return config_error(message)


def _summary(failures: list[tuple[str, AirbyteTracedException]]) -> AirbyteTracedException:
    names = ", ".join(name for name, _ in failures)
    first = failures[0][1]
    message = f"The sync did not complete: {names} failed. First error: {first.message or first.internal_message}"
    failure_type = (
        FailureType.config_error
        if any(error.failure_type == FailureType.config_error for _, error in failures)
        else first.failure_type
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=failure_type)


class _Progress:
    """Records so far per stream, logged at a steady pace during long reads."""

    def __init__(self, logger: logging.Logger):
        self._logger = logger
        self._counts: dict[str, int] = {}
        self._next = time.monotonic() + PROGRESS_EVERY_SECONDS

    def count(self, records: Records) -> None:
        self._counts[records.stream] = self._counts.get(records.stream, 0) + len(records.data)
        if time.monotonic() >= self._next:
            self.report()

    def report(self, final: bool = False) -> None:
        self._next = time.monotonic() + PROGRESS_EVERY_SECONDS
        if self._counts:
            counts = ", ".join(f"{name} {count}" for name, count in sorted(self._counts.items()))
            self._logger.info(f"{'Records read' if final else 'Records so far'}: {counts}")
