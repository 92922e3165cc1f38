"""Every use of the CDK's private members, and every copy of its code, in one place.

The connector leans on a few names the CDK does not promise to keep (airbyte-cdk 7.39.1):

* `HttpStream._http_client._session`: the requests session the CDK builds for a stream, on
  which transport.py mounts its adapter (auth, pacing, retries, timeouts).
* `HttpStream._fetch_next_page(stream_slice, stream_state, next_page_token)`: the one call
  through which `HttpStream.read_records` gets every page, in both of its paging loops
  (`_read_pages`, and `_read_single_page` for resumable full refresh). `PageHook` routes it to
  a public method, so that a stream can answer with a page it prefetched (base.py).
* `AirbyteEntrypoint._memory_monitor`: the container memory check the CDK's `read` makes after
  each message, which run.Entrypoint makes after each batch (`check_memory`).
* `AirbyteEntrypoint._emit_queued_messages(source)`: what the source queued to be printed (its
  message repository), which run.Entrypoint prints around a read (`queued_messages`).
* `Stream._get_checkpoint_reader`, `Stream._observe_state` and `Stream._checkpoint_state`: how
  `Stream.read` checkpoints, which `read_batches` does the same way.

Copies of CDK code, changed where they say: `read_batches` here copies `Stream.read`; run.py
copies `AirbyteEntrypoint.run`'s read branch, `AirbyteEntrypoint.read`'s loop and `launch`;
transport.py and base.py copy what the CDK's send path does for a page
(`HttpStream._fetch_next_page`, `HttpClient.send_request` and what it calls). `COPIED` holds a
fingerprint of each as it was copied.

Should a CDK upgrade move or change any of them, `problems()` says what, in plain words; the
unit test `unit_tests/test_cdk.py` fails with that message.
"""

import hashlib
import importlib
import inspect
import logging
import sys
from abc import ABC
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import requests
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import AirbyteLogMessage, AirbyteMessage, ConfiguredAirbyteStream, Level, SyncMode, Type
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.message import InMemoryMessageRepository
from airbyte_cdk.sources.streams.core import Stream
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.slice_logger import SliceLogger

FETCH_PARAMETERS = ["self", "stream_slice", "stream_state", "next_page_token"]

Page = tuple[requests.PreparedRequest, requests.Response]

ENTRYPOINT = "airbyte_cdk.entrypoint"
HTTP_STREAM = "airbyte_cdk.sources.streams.http.http"
HTTP_CLIENT = "airbyte_cdk.sources.streams.http.http_client"
STREAM = "airbyte_cdk.sources.streams.core"

# What the connector copies of the CDK: (its module, its name there, the first 16 hex digits of
# the sha256 of its source as copied, what copies it). The source is the file's text, so a change
# to a comment counts too: a re-check then finds nothing to do, and the new fingerprint is noted.
COPIED = [
    (ENTRYPOINT, "AirbyteEntrypoint.run", "b5d0edc048e7e051", "run.Entrypoint.run_text, which copies its read branch"),
    (ENTRYPOINT, "AirbyteEntrypoint.read", "e920fe25bc05bae8", "run.Entrypoint._read, which copies its loop"),
    (ENTRYPOINT, "launch", "4f79b8e906191920", "run.launch, which copies it"),
    (STREAM, "Stream.read", "f8f1c7db3b3c11b3", "cdk.read_batches, which copies it"),
    (
        HTTP_STREAM,
        "HttpStream._fetch_next_page",
        "975f2858fc95f0a6",
        "base.ChartmogulStream._request, which asks the stream for the same parts of the request",
    ),
    (
        HTTP_CLIENT,
        "HttpClient.send_request",
        "45191653d3c60901",
        "transport.fetch, which does what it does for a page (the environment's settings, then one send)",
    ),
    (
        HTTP_CLIENT,
        "HttpClient._send",
        "2e48de442630fc85",
        "transport.fetch, which copies its debug logs and asks the error handler the same way",
    ),
    (
        HTTP_CLIENT,
        "HttpClient._handle_error_resolution",
        "d09b80cf4e4a8cc5",
        "transport.fetch, which does what it does on FAIL, IGNORE and SUCCESS",
    ),
    (
        HTTP_CLIENT,
        "HttpClient._create_prepared_request",
        "07d5c3bb0af02e00",
        "transport._prepare_as_the_cdk, which copies it, and transport.prepare, which must build the same request",
    ),
    (
        HTTP_CLIENT,
        "HttpClient._dedupe_query_params",
        "59ed193652c1099d",
        "transport._prepare_as_the_cdk, which copies it",
    ),
]


def session(stream: HttpStream) -> requests.Session:
    """The session every request of `stream` goes through."""
    return stream._http_client._session


def fetch_now(
    stream: HttpStream,
    stream_slice: Mapping[str, Any] | None,
    stream_state: Mapping[str, Any] | None,
    next_page_token: Mapping[str, Any] | None,
) -> Page:
    """The page the CDK itself would send for, sent now (whatever `PageHook.fetch_page` does)."""
    return HttpStream._fetch_next_page(stream, stream_slice, stream_state, next_page_token)


def read_batches(
    stream: Stream,
    configured_stream: ConfiguredAirbyteStream,
    logger: logging.Logger,
    slice_logger: SliceLogger,
    stream_state: MutableMapping[str, Any],
    state_manager: Any,
) -> Iterator[Any]:
    """`Stream.read` for a stream whose `read_records` yields its records a page at a time.

    A list from `read_records` is a batch of records; it comes out as a list, cut where
    `Stream.read` would put a checkpoint among its records, so that flattening the lists gives
    exactly what `Stream.read` gives for the same records one by one (unit_tests/test_cdk.py
    compares the two on synthetic pages, integration_tests/test_batches.py on every stream).
    Anything else passes as `Stream.read` passes it.

    Left out of the copy: the record limit of `InternalConfig` (the CDK's test reads set it, the
    connector's reads never do), and `get_updated_state`, which no stream of this connector
    overrides (each keeps its state in `state`): `read_batches` refuses a stream that does.
    """
    if type(stream).get_updated_state is not Stream.get_updated_state:
        raise TypeError(f"{type(stream).__name__} overrides get_updated_state, which read_batches does not follow")
    sync_mode = configured_stream.sync_mode
    cursor_field = configured_stream.cursor_field
    stream.configured_json_schema = configured_stream.stream.json_schema
    try:
        stream_state = stream.state  # type: ignore[attr-defined]  # as Stream.read: the stream's own first
    except AttributeError:
        pass
    should_checkpoint = bool(state_manager)
    checkpoint_reader = stream._get_checkpoint_reader(
        logger=logger, cursor_field=cursor_field, sync_mode=sync_mode, stream_state=stream_state
    )
    interval = stream.state_checkpoint_interval if should_checkpoint else None
    counted = 0
    next_slice = checkpoint_reader.next()
    while next_slice is not None:
        if slice_logger.should_log_slice_message(logger):
            yield slice_logger.create_slice_log_message(next_slice)
        records = stream.read_records(
            sync_mode=sync_mode, stream_slice=next_slice, stream_state=stream_state, cursor_field=cursor_field or None
        )
        for item in records:
            batch: list
            if isinstance(item, list):
                batch = item
            elif isinstance(item, Mapping) or getattr(item, "type", None) == Type.RECORD:
                batch = [item]
            else:
                yield item
                continue
            if stream.cursor_field:
                stream._observe_state(checkpoint_reader)  # the state stays as it is while a batch goes out
            start = 0
            if interval:
                # Where Stream.read checkpoints: after each record that makes the count a multiple of interval.
                for end in range(interval - counted % interval, len(batch) + 1, interval):
                    yield batch[start:end] if start or end < len(batch) else batch
                    start = end
                    checkpoint = checkpoint_reader.get_checkpoint()
                    if checkpoint:
                        yield stream._checkpoint_state(checkpoint, state_manager=state_manager)
            if start < len(batch):
                yield batch[start:] if start else batch
            counted += len(batch)
        stream._observe_state(checkpoint_reader)
        checkpoint_state = checkpoint_reader.get_checkpoint()
        if should_checkpoint and checkpoint_state is not None:
            yield stream._checkpoint_state(checkpoint_state, state_manager=state_manager)
        next_slice = checkpoint_reader.next()
    checkpoint = checkpoint_reader.get_checkpoint()
    if should_checkpoint and checkpoint is not None:
        yield stream._checkpoint_state(checkpoint, state_manager=state_manager)


def check_memory(entrypoint: AirbyteEntrypoint) -> None:
    """The CDK's memory check: raises a traced system_error when the container nears its limit."""
    entrypoint._memory_monitor.check_memory_usage()


def queued_messages(entrypoint: AirbyteEntrypoint) -> Iterable[AirbyteMessage]:
    """What the entrypoint's source queued to be printed (logs, traces), taken off its queue."""
    return entrypoint._emit_queued_messages(entrypoint.source)


class PageHook(HttpStream, ABC):
    """An HttpStream whose every page is fetched by `fetch_page`, which a subclass may override."""

    def _fetch_next_page(
        self,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Page:
        return self.fetch_page(stream_slice, stream_state, next_page_token)

    def fetch_page(
        self,
        stream_slice: Mapping[str, Any] | None,
        stream_state: Mapping[str, Any] | None,
        next_page_token: Mapping[str, Any] | None,
    ) -> Page:
        return fetch_now(self, stream_slice, stream_state, next_page_token)


# --- what the CDK must still offer --------------------------------------------------------------


class _Probe(PageHook):
    """A stream of two pages that never touches the network: every page comes from `fetch_page`."""

    url_base = "https://cdk-probe.invalid/"
    primary_key = None

    def __init__(self) -> None:
        super().__init__()
        self.asked: list = []

    def path(self, **kwargs) -> str:
        return "probe"

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return {"page": 2} if response.url.endswith("1") else None

    def parse_response(self, response: requests.Response, **kwargs) -> list:
        return [{"url": response.url}]

    def fetch_page(self, stream_slice, stream_state, next_page_token) -> Page:
        self.asked.append(next_page_token)
        response = requests.Response()
        response.status_code = 200
        response.url = f"{self.url_base}probe/{(next_page_token or {}).get('page', 1)}"
        return requests.PreparedRequest(), response


class _ProbeAllPages(_Probe):
    """Incremental-like: `read_records` walks every page in one call (`_read_pages`)."""

    cursor_field = "url"


class _ProbeSource(AbstractSource):
    """A source of no stream whose message repository the probe fills."""

    def __init__(self) -> None:
        self.queue = InMemoryMessageRepository()

    @property
    def message_repository(self) -> InMemoryMessageRepository:
        return self.queue

    def check_connection(self, logger, config) -> tuple[bool, Any]:
        return True, None

    def streams(self, config) -> list:
        return []


def fingerprint(code: Any) -> str:
    """What COPIED records of a function: the first 16 hex digits of the sha256 of its source."""
    return hashlib.sha256(inspect.getsource(code).encode()).hexdigest()[:16]


def problems() -> list[str]:
    """What moved in the CDK that this module relies on; empty when nothing did."""
    return _stream_problems() + _entrypoint_problems() + _copy_problems()


def _stream_problems() -> list[str]:
    found = []
    fetch = getattr(HttpStream, "_fetch_next_page", None)
    if fetch is None:
        found.append("HttpStream._fetch_next_page is gone: base.py can no longer hand a chain its prefetched page.")
    elif list(inspect.signature(fetch).parameters) != FETCH_PARAMETERS:
        found.append(
            f"HttpStream._fetch_next_page now takes {list(inspect.signature(fetch).parameters)}, "
            f"not {FETCH_PARAMETERS}: PageHook and fetch_now must follow."
        )
    try:
        probe = _Probe()
    except Exception as error:  # the probe cannot even be built: say so rather than crash
        return [*found, f"An HttpStream can no longer be built as cdk._Probe is: {error!r}"]
    if not isinstance(getattr(getattr(probe, "_http_client", None), "_session", None), requests.Session):
        found.append(
            "HttpStream._http_client._session is no longer the stream's requests.Session: transport.py mounts on it."
        )
    if fetch is None:
        return found
    cases: list[tuple[str, _Probe, list[StreamSlice | None]]] = [
        (
            "one page a call (resumable full refresh, _read_single_page)",
            _Probe(),
            [None, StreamSlice(partition={}, cursor_slice={"page": 2})],
        ),
        ("every page in one call (_read_pages)", _ProbeAllPages(), [None]),
    ]
    for name, stream, slices in cases:
        try:
            for stream_slice in slices:
                list(stream.read_records(SyncMode.full_refresh, stream_slice=stream_slice))
        except Exception as error:
            found.append(f"HttpStream.read_records, {name}, failed on the probe: {error!r}")
            continue
        if stream.asked != [None, {"page": 2}]:
            found.append(
                f"HttpStream.read_records, {name}, no longer fetches each page through "
                f"_fetch_next_page (asked {stream.asked}, expected [None, {{'page': 2}}]): a "
                "prefetched page would be requested twice."
            )
    return found


def _entrypoint_problems() -> list[str]:
    found = []
    source = _ProbeSource()
    excepthook = sys.excepthook
    try:
        entrypoint = AirbyteEntrypoint(source)
    except Exception as error:
        return [f"An AirbyteEntrypoint can no longer be built as run.launch builds one: {error!r}"]
    finally:
        sys.excepthook = excepthook  # the CDK's constructor puts its own in
    check = getattr(getattr(entrypoint, "_memory_monitor", None), "check_memory_usage", None)
    if not callable(check) or any(
        parameter.default is inspect.Parameter.empty for parameter in inspect.signature(check).parameters.values()
    ):
        found.append(
            "AirbyteEntrypoint._memory_monitor.check_memory_usage() is gone or wants arguments: "
            "run.Entrypoint can no longer make the CDK's memory check (cdk.check_memory)."
        )
    message = AirbyteMessage(type=Type.LOG, log=AirbyteLogMessage(level=Level.INFO, message="cdk probe"))
    source.queue.emit_message(message)
    try:
        queued: Any = list(queued_messages(entrypoint))
    except Exception as error:
        queued = error
    if queued != [message]:
        found.append(
            f"AirbyteEntrypoint._emit_queued_messages(source) no longer hands out what the source "
            f"queued (it gave {queued!r}): run.Entrypoint would not print the source's queued logs "
            "and traces (cdk.queued_messages)."
        )
    return found


def _copy_problems() -> list[str]:
    found = []
    for module, name, recorded, copy in COPIED:
        try:
            code: Any = importlib.import_module(module)
            for part in name.split("."):
                code = getattr(code, part)
            now = fingerprint(code)
        except (ImportError, AttributeError, OSError, TypeError):
            found.append(f"{name} is gone from {module}: re-check {copy}.")
            continue
        if now != recorded:
            found.append(
                f"{name} changed: re-check {copy}. Once run.py does what it does now, record its "
                f"new fingerprint in cdk.COPIED: {now}."
            )
    return found
