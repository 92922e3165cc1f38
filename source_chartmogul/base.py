"""The stream machinery: one base for HTTP, one class per paging style.

* `ChartmogulStream`: base URL, auth, transport, error handling, envelopes.
* `CursorStream`: list endpoints paged by `cursor` and `has_more` (docs/api-notes.md §4).
* `PageChains`: what each chain of pages was handed so far, to end loops with an error.
* `Prefetch`: each chain's next page, requested while the current page's records go out.
* `UnpagedStream`, `ObjectStream`: a list or a single object in one answer.
* `MetricsStream`: /v1/metrics/* time series for a date range and interval (§7).
* `PerSegment`: a metrics stream read once per configured segment (plans, countries, CFL).
* `NestedStream`: the items of a list nested in each record of a cursor-paged list.
* `FanOutStream`: one request chain per parent record, read in parallel.

A stream in `streams.py` is a declaration on top of one of these.
"""

import queue
import threading
import weakref
from abc import ABC
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import cdk, parallel, transport
from .config import Settings
from .errors import ChartmogulErrorHandler, SegmentErrorHandler, skipped
from .transport import describe_request, json_body

PAGE_SIZE = 200  # the API's maximum; larger values are clamped to it (§4.1)
PARTITION_WORKERS = 8
# How a request names the page it wants: `cursor`, or `start-after` for activities
# (https://dev.chartmogul.com/reference/activities/list).
PAGING_PARAMS = frozenset({"cursor", "start-after"})
# A real list has no reason to serve empty pages that say there is more: a few in a row may be
# records filtered out on ChartMogul's side, ten in a row is a list that never ends.
MAX_EMPTY_PAGES = 10
# A chain that hands out fresh cursors and records for ever is no list either. 100,000 pages of
# 200 are 20 million records, far beyond any account's one list; it also caps each chain's memory
# of the cursors it was handed.
MAX_PAGES_PER_CHAIN = 100_000
# Threads that send prefetched pages, shared by every stream: one per chain with a request
# out, which is at most a few dozen (streams read at once x their parallel chains); the cap is
# only a guard. Beyond it a prefetch waits for a thread, and is taken back if its page is wanted
# first.
MAX_PREFETCH_THREADS = 64
PICK_UP_WAIT = 0.05  # s; a free sender picks a request up in well under a millisecond

Token = Mapping[str, Any] | None  # what a page hands over to ask for the next (None: the last page)


@cache
def _schema(name: str) -> Mapping[str, Any]:
    return ResourceSchemaLoader("source_chartmogul").get_schema(name)


def unexpected_answer(response: requests.Response, what: str) -> AirbyteTracedException:
    message = f"ChartMogul answered {describe_request(response.request)} with {what}; the API may have changed."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


def paging_fault(response: requests.Response, what: str) -> AirbyteTracedException:
    message = (
        f"ChartMogul answered {describe_request(response.request)} with {what}. The stream stopped "
        "at this page, before its records: none was emitted twice. Run the sync again; if it "
        "happens again, report this request to ChartMogul support."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


@dataclass
class _Chain:
    handed: set[tuple[str, str]] = field(default_factory=set)  # (paging parameter, value) given or sent
    pages: int = 0
    empty_in_a_row: int = 0


class PageChains:
    """What each chain of pages of a stream was handed so far, so that a chain cannot run forever.

    A chain is one list walked page by page: a stream's whole list, one parent's children, one
    date window of activities. It is named by its request without the paging parameter, and
    starts at a request without one (or, resuming from a saved cursor, at the first request seen).
    A page that hands back a cursor the chain was already given (the same one again, a cycle
    A -> B -> A, or the start-after of an earlier page, as a server that ignores start-after
    does), MAX_EMPTY_PAGES empty pages in a row that still say there is more, or a chain longer
    than MAX_PAGES_PER_CHAIN pages, end the stream with an error. The streams check each page as they parse it, before its records go out, so
    that the records of a page that repeats an earlier one are never emitted.

    One object per stream, shared by the threads that read its chains at once (fan-out parents,
    activities windows), and by the CDK's one-page-per-call resumable full refresh, which is why
    the memory is here and not in a paging loop. It only needs each response once, in chain
    order, not that its records went out: a prefetched page (`Prefetch`) is checked as the chain
    parses it, like any other, and its token accepted before the page after it is requested.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chains: dict[str, _Chain] = {}
        # The answer given for each response still in use, held weakly: it goes with the response.
        self._answers: weakref.WeakKeyDictionary[requests.Response, Token] = weakref.WeakKeyDictionary()

    def follow(self, response: requests.Response, handover: Callable[[], tuple[Token, int]]) -> Token:
        """The token of the page after `response` (None at the end), once it is known not to loop.

        `handover()` says what the page hands over: its token, and how many entries it holds. It is
        asked once per response, and the answer kept, so that a stream may check a page while it
        parses it and the CDK ask again for the next page (`next_page_token`): the second time
        gets the same answer, whatever the stream decided the first.
        """
        with self._lock:
            if response in self._answers:
                return self._answers[response]
        token, entries = handover()
        split = urlsplit(str(response.request.url))
        query = parse_qsl(split.query, keep_blank_values=True)
        sent = {(name, value) for name, value in query if name in PAGING_PARAMS}
        rest = sorted((name, value) for name, value in query if name not in PAGING_PARAMS)
        name = f"{response.request.method} {split.path}?{urlencode(rest)}"
        with self._lock:
            chain = self._chains.get(name) if sent else None
            if chain is None:
                chain = self._chains[name] = _Chain()
            chain.handed |= sent
            chain.pages += 1
            chain.empty_in_a_row = chain.empty_in_a_row + 1 if entries == 0 else 0
            if token is None:
                del self._chains[name]
                self._answers[response] = None
                return None
            handed = {(param, str(value)) for param, value in token.items()}
            repeated = sorted(handed & chain.handed)
            too_long = chain.pages >= MAX_PAGES_PER_CHAIN
            if repeated or too_long or chain.empty_in_a_row >= MAX_EMPTY_PAGES:
                del self._chains[name]
            else:
                chain.handed |= handed
                self._answers[response] = token
                return token
        if repeated:
            param, value = repeated[0]
            raise paging_fault(
                response,
                f"has_more true and {param} '{value}', which this chain of pages was already given "
                f"(a loop, seen on its page {chain.pages})",
            )
        if too_long:
            raise paging_fault(
                response,
                f"has_more true on page {chain.pages} of one list, the most this connector follows "
                f"({MAX_PAGES_PER_CHAIN:,} pages; a list that never ends)",
            )
        raise paging_fault(
            response,
            f"{chain.empty_in_a_row} empty pages in a row that all said has_more true (the limit "
            f"is {MAX_EMPTY_PAGES}; a list that never ends)",
        )


class _Senders:
    """Daemon threads that send prefetched pages, as many as are asked for at once (at most
    MAX_PREFETCH_THREADS), each kept for the next.

    The asking thread waits until a sender has picked its request up. Otherwise it keeps the GIL
    while the page's records go out (about 2 ms for 200, under the interpreter's 5 ms switch
    interval), comes back for the next page before any sender ran, and takes it back: measured,
    every prefetch of a customers read was. Once the sender holds the request it keeps the GIL
    until the request blocks on the pacer or the socket; then the records go out.

    Daemon threads, not concurrent.futures' pool, which the interpreter joins at exit: a request
    of a chain left behind may still be in the transport's retries, and must not hold it up.
    """

    def __init__(self, most: int):
        self._most = most
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def submit(self, future: Future, send: Callable[[], Any]) -> None:
        picked_up = threading.Event()
        with self._lock:
            if self._idle == 0 and self._threads < self._most:
                self._threads += 1
                self._idle += 1
                threading.Thread(target=self._work, name=f"prefetch-{self._threads}", daemon=True).start()
            free = self._idle > 0
            if free:
                self._idle -= 1  # this job's: a second ask before the sender wakes starts another
        self._jobs.put((future, send, picked_up, free))
        if free:
            picked_up.wait(PICK_UP_WAIT)
        # else every sender is busy: the job waits its turn, and is taken back if its page is
        # wanted before (Prefetch.take), no later than without prefetching.

    def busy(self) -> int:
        """How many requests are being sent or wait for a sender."""
        with self._lock:
            return self._threads - self._idle

    def _work(self) -> None:
        while True:
            future, send, picked_up, reserved = self._jobs.get()
            if not reserved:  # queued while every sender was busy: its sender is taken now
                with self._lock:
                    self._idle -= 1
            try:
                running = future.set_running_or_notify_cancel()  # False: dropped before it went
                picked_up.set()
                if running:
                    try:
                        future.set_result(send())
                    except BaseException as error:  # raised where the page is read (Prefetch.take)
                        future.set_exception(error)
            finally:
                with self._lock:
                    self._idle += 1


_senders = _Senders(MAX_PREFETCH_THREADS)


class Prefetch:
    """The next page of each chain of one stream, requested as soon as its token is known.

    A chain's page N+1 is requested once page N is parsed and `PageChains` has accepted its
    token, while page N's records go out; the CDK then asks for page N+1 (`fetch_page`) and is
    handed that answer. So a chain is never more than one page ahead of its consumer: page N+2
    is requested only when page N+1 is parsed, which is when the consumer gets to it. What the
    CDK does with a page (parse, check, checkpoint) stays in its order and its thread; only the
    request moves, and it goes through the stream's own session, so pacing and retries apply.

    Pages are found by the request itself (method, path, parameters, headers, body), not by
    where they were asked from: a chain can only be handed the answer to exactly the request it
    would have sent. An error of that request is raised when the page is taken, where the chain
    would have met it; a page never taken (its chain stopped, the stream failed) is dropped when
    the stream's read ends (`close`).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pages: dict[str, Future] = {}
        self._open = True

    def ask(self, key: str, send: Callable[[], cdk.Page]) -> None:
        future: Future = Future()
        with self._lock:
            if not self._open or key in self._pages:
                return
            self._pages[key] = future
        _senders.submit(future, send)

    def take(self, key: str) -> cdk.Page | None:
        """The answer to the request `key`, if it was prefetched; None: send it now."""
        with self._lock:
            future = self._pages.pop(key, None)
        if future is None or future.cancel():  # cancelled: it had not gone yet
            return None
        return future.result()  # waits for it; raises its error here

    def open(self) -> None:
        with self._lock:
            self._open = True

    def close(self) -> None:
        """The stream's read is over: forget every page, prefetch no more until it is read again.
        A request not yet sent never goes; one in flight is let finish and thrown away (a request
        cannot be called back)."""
        with self._lock:
            self._open = False
            dropped, self._pages = list(self._pages.values()), {}
        for future in dropped:
            future.cancel()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pages)


def _key(request: Mapping[str, Any]) -> str:
    """A request (`ChartmogulStream._request`) as a key: the same request, the same key."""
    return repr(
        sorted((name, sorted((value or {}).items()) if name == "params" else value) for name, value in request.items())
    )


class ChartmogulStream(cdk.PageHook, ABC):
    """A ChartMogul endpoint as an HttpStream whose pages travel whole.

    `read_records` yields each page's records as one list (and, for some streams, markers
    between them), not one record at a time: a record passing through a Python step of its
    own costs as much as its share of the request. `read_batches` reads the stream as the CDK's
    `Stream.read` would, with the same states at the same places, in lists; `read`, the CDK's
    interface, gives the same one item at a time.
    """

    envelope = "entries"
    # A list only one chain of pages can read (customers, invoices...): its requests do not queue
    # behind those of the chains that read in parallel (transport.Pacer), since it bounds the sync.
    one_chain = False
    # Each chain's next page is requested while this page's records go out (Prefetch); not for a
    # stream whose chains are partitions read several at once (parallel.ordered): their reader
    # comes back for the next page as soon as it has queued this one's records, and a prefetch
    # there only added a thread hop a page (docs/architecture.md, "7. A page at a time").
    prefetch_pages = True
    primary_key: str | list[str] | None = "uuid"
    ignore_not_found = False

    def __init__(self, settings: Settings):
        self.settings = settings
        self.page_chains = PageChains()
        self.prefetch = Prefetch()
        super().__init__()
        # The CDK builds the session; the transport (auth, pacing, retries, timeouts) is ours.
        transport.connect(cdk.session(self), settings.api_key, settings.requests_per_second)
        self._verdicts = self.get_error_handler()  # what the CDK's client was given, for transport.fetch

    @property
    def url_base(self) -> str:
        return f"{self.settings.base_url}/v1/"

    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]  # the CDK's is an lru_cache
        return _schema(self.name)

    def get_error_handler(self) -> ChartmogulErrorHandler:
        return ChartmogulErrorHandler(ignore_not_found=self.ignore_not_found)

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return None

    def read(self, configured_stream, logger, slice_logger, stream_state, state_manager, internal_config):
        """`Stream.read`, one record at a time (the connector itself reads with `read_batches`)."""
        if internal_config.limit:
            raise NotImplementedError("this connector's streams read no record limit (InternalConfig)")
        for item in self.read_batches(configured_stream, logger, slice_logger, stream_state, state_manager):
            if isinstance(item, list):
                yield from item
            else:
                yield item

    def read_batches(self, configured_stream, logger, slice_logger, stream_state, state_manager) -> Iterator:
        """What `Stream.read` gives, with the records of a page (or part of one) in a list."""
        for prefetch in self.prefetches():
            prefetch.open()
        try:
            yield from cdk.read_batches(self, configured_stream, logger, slice_logger, stream_state, state_manager)
        finally:
            # Done, failed or stopped: a prefetched page is not wanted any more, and no chain left
            # behind (a parallel reader on its way out) may prefetch another.
            for prefetch in self.prefetches():
                prefetch.close()

    def prefetches(self) -> list[Prefetch]:
        """What this stream's read prefetches with: its own, and that of any stream read through it."""
        return [self.prefetch]

    def read_chain(self, stream_slice: Mapping[str, Any]) -> Iterable:
        """Every page of one chain, a partition (`HttpStream.read_records`: a list of records a page)."""
        return HttpStream.read_records(self, SyncMode.full_refresh, stream_slice=stream_slice)

    def prefetch_next(
        self,
        stream_slice: Mapping[str, Any] | None,
        stream_state: Mapping[str, Any] | None,
        next_page_token: Mapping[str, Any] | None,
    ) -> None:
        """Request the chain's next page now; called once PageChains has accepted its token."""
        if not next_page_token or not self.prefetch_pages:
            return
        # Built from the slice as it is now: the request is the same whenever it is sent. Read a
        # page per call (resumable full refresh), a chain is next called with the token as its
        # slice; no cursor stream's request depends on its slice then, and were one to, the keys
        # would differ and the page be sent again: never the wrong page.
        try:
            request = self._request(stream_slice, stream_state, next_page_token)
        except Exception:
            return  # not prefetched: the same error comes where the chain builds that request
        self.prefetch.ask(_key(request), lambda: self._send(request))

    def fetch_page(self, stream_slice, stream_state, next_page_token) -> cdk.Page:
        request = self._request(stream_slice, stream_state, next_page_token)
        if next_page_token and self.prefetch_pages:  # else prefetch_next asked for nothing
            page = self.prefetch.take(_key(request))
            if page is not None:
                return page
        return self._send(request)

    def _request(self, stream_slice, stream_state, next_page_token) -> dict[str, Any]:
        """What the CDK's `_fetch_next_page` would send for these arguments: `transport.fetch`'s."""
        args = {"stream_slice": stream_slice, "stream_state": stream_state, "next_page_token": next_page_token}
        return {
            "method": self.http_method,
            "url": urljoin(self.url_base, self.path(**args)),  # HttpStream._join_url
            "params": self.request_params(**args),
            "headers": self.request_headers(**args),
            "json": self.request_body_json(**args),
            "data": self.request_body_data(**args),
            "request_kwargs": self.request_kwargs(**args),
        }

    def _send(self, request: dict[str, Any]) -> cdk.Page:
        with transport.urgent(self.one_chain):
            return transport.fetch(cdk.session(self), self._verdicts, self.logger, **request)

    def parse_response(self, response: requests.Response, **kwargs) -> Iterable[Any]:
        """The page's records as one item, a list; nothing for a page without records."""
        records = self.page_records(response, **kwargs)
        return [records] if records else []

    def page_records(self, response: requests.Response, **kwargs) -> list:
        if response.status_code == 404:  # only reaches here when ignore_not_found
            self.logger.warning(skipped(response))
            return []
        return self.records_of(response)

    def records_of(self, response: requests.Response) -> list:
        records = json_body(response).get(self.envelope)
        if not isinstance(records, list):
            raise unexpected_answer(response, f"JSON that has no '{self.envelope}' list")
        return records


class ObjectStream(ChartmogulStream, ABC):
    """An endpoint that answers one object, which is the record."""

    primary_key = None

    def records_of(self, response: requests.Response) -> list:
        return [json_body(response)]


class UnpagedStream(ChartmogulStream, ABC):
    """A list served whole, e.g. /v1/data_sources (§5.2)."""


class CursorStream(ChartmogulStream, ABC):
    """Cursor paging: send `cursor` back until `has_more` is false.

    Stop on `has_more`, never on the cursor: the last page still carries one, and an empty
    result has `cursor: null` (§4.2). The deprecated `page` parameter is never sent.
    """

    one_chain = True

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        return {"per_page": PAGE_SIZE, **(next_page_token or {})}

    def page_records(self, response: requests.Response, **kwargs) -> list:
        records = super().page_records(response, **kwargs)
        token = self.next_page_token(response)  # checked before the page's records go out (PageChains)
        # The next page travels while this one's records go out (Prefetch).
        self.prefetch_next(kwargs.get("stream_slice"), kwargs.get("stream_state"), token)
        return records

    def next_page_token(self, response: requests.Response) -> Token:
        return self.page_chains.follow(response, lambda: self.handover(response))

    def handover(self, response: requests.Response) -> tuple[Token, int]:
        """The page's token and how many entries it holds."""
        if response.status_code != 200:
            return None, 0
        body = json_body(response)
        token = None
        if body.get("has_more"):
            if not body.get("cursor"):
                raise unexpected_answer(response, "has_more true but no cursor to ask for the next page")
            token = {"cursor": body["cursor"]}
        # An empty page that says there is more is followed: only its cursor tells where the rest is.
        return token, len(body.get(self.envelope) or ())


class MetricsStream(ChartmogulStream, ABC):
    """A metrics time series from the start date to today (UTC), one entry per period (§7)."""

    primary_key: str | list[str] | None = "date"
    interval: str | None = None  # None: the configured interval

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        # Dates only: the metrics API takes YYYY-MM-DD, not a date-time (§7).
        return {
            "start-date": self.settings.start_day.isoformat(),
            "end-date": datetime.now(timezone.utc).date().isoformat(),
            "interval": self.interval or self.settings.interval,
        }


class PerSegment(MetricsStream, ABC):
    """A metrics series once per segment of the config, each record tagged with its `segment`.

    Put before a metrics stream (`class SegmentMrr(PerSegment, Mrr)`): one request per segment,
    with the segment's `plans`, `geo` and `filters` (§7). Not resumable: the CDK 7 reads back no
    state of a stream of several slices (`Stream.is_resumable`), and a sync that dies redoes at
    most one request per segment.
    """

    primary_key = ["segment", "date"]
    has_multiple_slices = True  # also with no segment: then the CDK reads no slice at all

    def __init__(self, settings: Settings):
        super().__init__(settings)
        self.cursor = None  # the CDK's per-segment states would claim a resumability it does not honour

    def stream_slices(self, **kwargs) -> Iterable[StreamSlice]:
        if not self.settings.segments:
            self.logger.info(
                f"{self.name}: no segments in the config, so nothing to read. Add segments (the 'segments' "
                "setting) to sync metrics per plan, country or filter."
            )
        return [StreamSlice(partition={"segment": segment.name}, cursor_slice={}) for segment in self.settings.segments]

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        params = super().request_params(stream_state, stream_slice, next_page_token)
        return {**params, **self.settings.segment(stream_slice["segment"]).params()}

    def page_records(self, response: requests.Response, stream_slice=None, **kwargs) -> list:
        segment = stream_slice["segment"]
        return [{**record, "segment": segment} for record in super().page_records(response, **kwargs)]

    def get_error_handler(self) -> ChartmogulErrorHandler:
        return SegmentErrorHandler(self.settings.segments)


class NestedStream(CursorStream, ABC):
    """Each item of the list `nested` in every record of a cursor-paged list, as a record of its own.

    Put before the stream of the list (`class InvoiceLineItems(NestedStream, Invoices)`): the same
    requests and pages, and the same resumable full refresh, one state per page. Each item gains
    fields of the record that holds it: `parent_fields` maps the parent's field to the item's key.
    """

    nested: str
    parent_fields: Mapping[str, str]

    def records_of(self, response: requests.Response) -> list:
        items = []
        for parent in super().records_of(response):
            nested = parent.get(self.nested)
            if not isinstance(nested, list):
                raise unexpected_answer(response, f"a record ({parent.get('uuid')}) without a '{self.nested}' list")
            tags = {key: parent.get(field) for field, key in self.parent_fields.items()}
            items += [{**item, **tags} for item in nested]
        return items


class FanOutStream(CursorStream, ABC):
    """One cursor-paged request chain per parent record, up to PARTITION_WORKERS at once.

    Each record gains the parent's key under `parent_key_name`. Records come out parent by
    parent, in the parent's order, one page of parents at a time. The state after each page of
    parents is the parent stream's cursor to the next page: an interrupted sync resumes there
    (resumable full refresh, through the CDK's own reader, one page of parents a slice).
    """

    one_chain = False  # its own requests are the children's, read in parallel; its parents are one chain
    prefetch_pages = False  # the children's chains; the parents (a stream of their own) prefetch

    parent_key_name: str
    parent_key = "uuid"
    _parent: CursorStream | None = None
    _readers: parallel.Readers

    def parent_stream(self) -> CursorStream:
        raise NotImplementedError

    def read_records(self, sync_mode, cursor_field=None, stream_slice=None, stream_state=None):
        def read_one(parent_key: str):
            return self.read_chain({self.parent_key_name: parent_key})

        # One parent stream for the whole sync: its chain of pages spans the slices, and so must
        # its memory of the cursors it was handed.
        if self._parent is None:
            self._parent = self.parent_stream()
            self._readers = parallel.Readers(PARTITION_WORKERS)  # learnt on the first pages, kept
        parent = self._parent
        # The slice is this stream's state: the parent's page cursor, or nothing at the start.
        page = StreamSlice(partition={}, cursor_slice=dict(stream_slice or {}))
        # One page; the parents' next page is prefetched (CursorStream), and travels while this
        # page's children are read.
        parents = [
            record for batch in parent.read_records(SyncMode.full_refresh, stream_slice=page) for record in batch
        ]
        # A parent listed twice is read once: its records would come out twice, and its two
        # chains, read at once, would look like one chain handed every cursor twice.
        keys = list(dict.fromkeys(p[self.parent_key] for p in parents))
        yield from parallel.ordered(keys, read_one, PARTITION_WORKERS, self._readers)
        self._state = parent.state  # the next page's cursor, or that the parents are done

    def prefetches(self) -> list[Prefetch]:
        # The parents are read through this stream only, never by their own read().
        return super().prefetches() + ([self._parent.prefetch] if self._parent is not None else [])

    @property
    def state(self) -> MutableMapping[str, Any]:
        return getattr(self, "_state", {})

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._state = value

    def page_records(self, response, stream_slice=None, **kwargs) -> list:
        name, key = self.parent_key_name, stream_slice[self.parent_key_name]
        return [{**record, name: key} for record in super().page_records(response, stream_slice=stream_slice, **kwargs)]
