"""Prefetch (base.py): each chain's next page is requested while the current page's records go out.

What is checked, for the two kinds of chain that prefetch (a stream's own list read a page per
call by the CDK's resumable full refresh, a fan-out's parents), and that the chains read as
partitions (activities windows, a fan-out's children) do not:

* the next page's request goes out before the current page's records are all taken;
* one page ahead, never more; nothing lost, nothing requested or emitted twice;
* the state after page N goes out after page N's records, and before page N+1's;
* an error of a prefetched request comes where that page is read: after the records before it;
* a chain left early (its consumer gone, the stream failed) leaves no request waiting to go,
  no thread busy and no table entry behind, and asks for nothing more.
"""

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import timedelta

import pytest
from airbyte_cdk.models import SyncMode, Type
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import base
from source_chartmogul import streams as s
from source_chartmogul.source import SourceChartmogul
from unit_tests.conftest import BASE_URL, CONFIG, catalog, page, query, records_of, settings
from unit_tests.test_activities import NOW, START, activity, serve
from unit_tests.test_activities import stream as activities_stream

WAIT = 3.0  # s; how long a test waits for what prefetching makes happen (it takes milliseconds)


@pytest.fixture(autouse=True)
def senders_pick_up_however_loaded_the_machine_is(monkeypatch):
    """A prefetch is taken back if no sender picked it up within PICK_UP_WAIT (50 ms), a matter
    of speed only; on a busy test machine that would make these tests' timing a matter of luck."""
    monkeypatch.setattr(base, "PICK_UP_WAIT", WAIT)


class Chain:
    """A cursor-paged list (cursors c-1, c-2, ...; the last page has has_more false) that notes
    each request: its cursor, the thread that sent it, and how many records the consumer had
    taken by then. `hold(cursor)` keeps that request's answer back until `release(cursor)`;
    `fail(cursor, status)` answers it with that status instead."""

    def __init__(self, api, path: str, pages: list[list[dict]], envelope: str = "entries"):
        self.pages, self.envelope = pages, envelope
        self.taken = 0  # set by the consumer
        self.asked: list[str | None] = []
        self.threads: list[str] = []
        self.taken_when_asked: dict[str | None, int] = {}
        self.arrived: dict[str | None, threading.Event] = {}
        self.answered: dict[str | None, threading.Event] = {}
        self.held: dict[str | None, threading.Event] = {}
        self.failures: dict[str | None, list[int]] = {}
        self.lock = threading.Lock()
        for index in range(len(pages)):
            self.arrived[self.cursor(index)] = threading.Event()
            self.answered[self.cursor(index)] = threading.Event()
        api.get(BASE_URL + path, json=self.answer)

    @staticmethod
    def cursor(index: int) -> str | None:
        return None if index == 0 else f"c-{index}"

    def hold(self, cursor: str | None) -> None:
        self.held[cursor] = threading.Event()

    def release(self, cursor: str | None) -> None:
        self.held[cursor].set()

    def fail(self, cursor: str | None, *statuses: int) -> None:
        self.failures[cursor] = list(statuses)

    def answer(self, request, context):
        cursor = query(request).get("cursor")
        with self.lock:
            self.asked.append(cursor)
            self.threads.append(threading.current_thread().name)
            self.taken_when_asked.setdefault(cursor, self.taken)
        self.arrived[cursor].set()
        if cursor in self.held:
            self.held[cursor].wait(WAIT)
        try:
            failures = self.failures.get(cursor)
            if failures:
                context.status_code = failures.pop(0)
                return {"code": context.status_code, "message": f"no page {cursor} today"}
            index = 0 if cursor is None else int(cursor[2:])
            return page(
                self.pages[index],
                cursor=f"c-{index + 1}",
                has_more=index < len(self.pages) - 1,
                envelope=self.envelope,
            )
        finally:
            self.answered[cursor].set()


def customers(n_pages: int, per_page: int = 3) -> list[list[dict]]:
    return [[{"id": p * 100 + i, "uuid": f"cus_{p}_{i}"} for i in range(per_page)] for p in range(n_pages)]


def consume(records, chain: Chain, on_record: Callable[[Mapping], None] | None = None, taken=None) -> list:
    """Takes the records one by one into `taken`, counting them on `chain` as they are taken."""
    taken = [] if taken is None else taken
    for record in records:
        if not isinstance(record, Mapping):
            continue
        chain.taken += 1
        taken.append(record)
        if on_record:
            on_record(record)
    return taken


def senders_idle() -> bool:
    """Every prefetch thread is back waiting for work."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with base._senders._lock:
            if base._senders._idle == base._senders._threads:
                return True
        time.sleep(0.01)
    return False


# --- the next page travels while the records go out --------------------------------------------


def test_the_next_page_is_requested_before_the_page_s_records_are_all_taken(api):
    """Resumable full refresh: the CDK reads one page per call; the next call finds its page."""
    pages = customers(4)
    chain = Chain(api, "/v1/customers", pages)
    stream = s.Customers(settings())
    next_page_arrived = []

    def on_record(record):
        index, first_of_page = divmod(chain.taken - 1, 3)
        if first_of_page == 0 and index + 1 < len(pages):  # the consumer holds page `index`
            next_page_arrived.append(chain.arrived[Chain.cursor(index + 1)].wait(WAIT))

    records = consume(stream.read_only_records(), chain, on_record)

    assert next_page_arrived == [True, True, True]
    assert records == [r for p in pages for r in p]
    assert chain.asked == [None, "c-1", "c-2", "c-3"]  # each page once, in order
    assert all(chain.taken_when_asked[f"c-{n}"] < 3 * n for n in (1, 2, 3))
    assert len(stream.prefetch) == 0


def test_a_consumer_that_never_pauses_still_gets_every_next_page_prefetched(api):
    """The records of a page go out in about 2 ms, under the interpreter's 5 ms switch interval:
    unless the asking thread waits for a sender to pick the request up, it comes back for the
    page before any sender ran, takes the request back and sends it itself (as it did, measured)."""
    pages = customers(6, per_page=200)
    chain = Chain(api, "/v1/customers", pages)

    records = consume(s.Customers(settings()).read_only_records(), chain)

    assert len(records) == 1200
    assert chain.asked == [None, "c-1", "c-2", "c-3", "c-4", "c-5"]
    assert chain.threads[0] == threading.current_thread().name
    assert all(name.startswith("prefetch-") for name in chain.threads[1:]), chain.threads


def test_an_activities_window_is_a_partition_its_reader_asks_for_each_page_itself(api):
    """A partition's reader (activities windows, fan-out children) comes back for its next page
    as soon as it has queued this one's records: a prefetch would only add a thread hop."""
    activities = [activity(n, START + timedelta(days=n)) for n in range(12)]
    fake = serve(api, activities, page_size=3)
    threads = []

    def noting(request, context):
        threads.append(threading.current_thread().name)
        return fake(request, context)

    api.get(BASE_URL + "/v1/activities", json=noting)
    window = {"start": START, "end": NOW, "first_page": False}  # one window, not split
    stream = activities_stream()
    taken = [record for item in stream.read_chain(window) if type(item) is list for record in item]

    assert [r["uuid"] for r in taken] == [a["uuid"] for a in activities]
    assert threads == [threading.current_thread().name] * 4  # every page by the reader, once
    assert len(stream.prefetch) == 0


def test_a_fan_out_s_children_are_partitions_and_not_prefetched(api):
    children = [[{"uuid": f"sub_{n}"}] for n in range(3)]
    Chain(api, "/v1/customers", [[{"id": 1, "uuid": "cus_1"}]])
    child = Chain(api, "/v1/customers/cus_1/subscriptions", children)

    records = [r for r in s.CustomerSubscriptions(settings()).read_only_records() if isinstance(r, Mapping)]

    assert [r["uuid"] for r in records] == ["sub_0", "sub_1", "sub_2"]
    assert child.asked == [None, "c-1", "c-2"]
    assert len(set(child.threads)) == 1 and not child.threads[0].startswith("prefetch-"), child.threads


def test_the_parents_next_page_is_requested_while_this_page_s_children_are_read(api):
    parents = [[{"id": p * 10 + i, "uuid": f"cus_{p}{i}"} for i in range(2)] for p in range(3)]
    chain = Chain(api, "/v1/customers", parents)
    seen_next_parents: dict[str, bool] = {}

    for p, group in enumerate(parents):
        for parent in group:
            uuid = parent["uuid"]

            def children(request, context, uuid=uuid, p=p):
                if p + 1 < len(parents):
                    seen_next_parents[uuid] = chain.arrived[Chain.cursor(p + 1)].wait(WAIT)
                return page([{"uuid": f"{uuid}-sub"}])

            api.get(f"{BASE_URL}/v1/customers/{uuid}/subscriptions", json=children)

    records = [r for r in s.CustomerSubscriptions(settings()).read_only_records() if isinstance(r, Mapping)]

    assert [r["customer_uuid"] for r in records] == [p["uuid"] for group in parents for p in group]
    assert seen_next_parents == {"cus_00": True, "cus_01": True, "cus_10": True, "cus_11": True}
    assert chain.asked == [None, "c-1", "c-2"]


# --- bounds and guarantees -----------------------------------------------------------------------


def test_a_chain_is_one_page_ahead_of_its_consumer_never_more(api):
    pages = customers(5)
    chain = Chain(api, "/v1/customers", pages)
    records = s.Customers(settings()).read_only_records()

    first = next(records)
    assert chain.answered["c-1"].wait(WAIT)
    time.sleep(0.2)  # time enough for a further page, were any asked for

    assert first == pages[0][0]
    assert chain.asked == [None, "c-1"]
    assert [first, *consume(records, chain)] == [r for p in pages for r in p]


def test_every_state_follows_its_page_s_records_and_nothing_is_requested_twice(api):
    pages = customers(4)
    chain = Chain(api, "/v1/customers", pages)

    output = read(SourceChartmogul(), CONFIG, catalog("customers"))

    order = []
    for message in output.get_message_iterator():
        if message.type == Type.RECORD:
            order.append(message.record.data["id"])
        elif message.type == Type.STATE:
            order.append(message.state.stream.stream_state.__dict__)
    assert order == [
        0,
        1,
        2,
        {"cursor": "c-1"},
        100,
        101,
        102,
        {"cursor": "c-2"},
        200,
        201,
        202,
        {"cursor": "c-3"},
        300,
        301,
        302,
        {"__ab_full_refresh_sync_complete": True},
    ]
    assert chain.asked == [None, "c-1", "c-2", "c-3"]


def test_an_error_of_a_prefetched_page_comes_after_the_records_before_it(api):
    pages = customers(3)
    chain = Chain(api, "/v1/customers", pages)
    chain.fail("c-1", 400)
    records = s.Customers(settings()).read_only_records()

    taken = [next(records)]
    assert chain.answered["c-1"].wait(WAIT)  # the failed answer is in, and not raised yet
    with pytest.raises(AirbyteTracedException) as caught:
        consume(records, chain, taken=taken)

    assert taken == pages[0]
    assert "GET /v1/customers?per_page=200&cursor=c-1" in caught.value.message
    assert "no page c-1 today" in caught.value.message
    assert chain.asked == [None, "c-1"]


def test_through_the_cli_a_failed_prefetch_keeps_the_state_at_the_page_not_written(api):
    pages = customers(3)
    chain = Chain(api, "/v1/customers", pages)
    chain.fail("c-2", 400)

    output = read(SourceChartmogul(), CONFIG, catalog("customers"), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)

    assert [r["id"] for r in records_of(output, "customers")] == [0, 1, 2, 100, 101, 102]
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [{"cursor": "c-1"}, {"cursor": "c-2"}]  # a resumed sync asks for c-2 again
    assert "cursor=c-2" in output.errors[0].trace.error.message


def test_a_prefetched_request_goes_through_the_transport_and_its_retries(api):
    pages = customers(3)
    chain = Chain(api, "/v1/customers", pages)
    chain.fail("c-1", 503, 429)

    records = consume(s.Customers(settings()).read_only_records(), chain)

    assert records == [r for p in pages for r in p]
    assert chain.asked == [None, "c-1", "c-1", "c-1", "c-2"]
    assert chain.threads[1:4] == [chain.threads[1]] * 3  # the prefetch thread retried it


def test_a_loop_is_found_before_its_next_page_is_prefetched(api):
    """PageChains accepts a token before it is used for a prefetch: the looping request never goes."""
    answers = {None: ("A", True), "A": ("B", True), "B": ("A", True)}
    asked = []

    def answer(request, context):
        cursor = query(request).get("cursor")
        asked.append(cursor)
        handed, has_more = answers[cursor]
        return page([{"id": len(asked)}], cursor=handed, has_more=has_more)

    api.get(BASE_URL + "/v1/customers", json=answer)
    stream = s.Customers(settings())

    with pytest.raises(AirbyteTracedException, match="cursor 'A'"):
        list(stream.read_only_records())

    time.sleep(0.1)
    assert asked == [None, "A", "B"]
    assert len(stream.prefetch) == 0


def test_a_page_is_handed_only_to_the_very_request_it_answers(api):
    chain = Chain(api, "/v1/customers", customers(3))
    stream = s.Customers(settings())

    stream.prefetch_next({}, {}, {"cursor": "c-2"})
    assert chain.answered["c-2"].wait(WAIT)
    _, response = stream.fetch_page({}, {}, {"cursor": "c-1"})  # another request: sent now

    assert response.json()["cursor"] == "c-2"
    assert chain.asked == ["c-2", "c-1"]
    _, response = stream.fetch_page({}, {}, {"cursor": "c-2"})  # this one: the prefetched answer
    assert response.json()["cursor"] == "c-3"
    assert chain.asked == ["c-2", "c-1"] and len(stream.prefetch) == 0


def test_with_every_sender_busy_the_chain_sends_its_page_itself(api, monkeypatch):
    monkeypatch.setattr(base, "_senders", base._Senders(0))  # no thread to send anything
    pages = customers(3)
    chain = Chain(api, "/v1/customers", pages)

    records = consume(s.Customers(settings()).read_only_records(), chain)

    assert records == [r for p in pages for r in p]
    assert chain.asked == [None, "c-1", "c-2"]
    assert set(chain.threads) == {threading.current_thread().name}


# --- chains left early ---------------------------------------------------------------------------


def test_a_chain_whose_consumer_leaves_drops_its_prefetch_and_asks_for_nothing_more(api):
    pages = customers(4)
    chain = Chain(api, "/v1/customers", pages)
    chain.hold("c-1")  # the prefetched request is in flight when the consumer leaves
    stream = s.Customers(settings())
    records = stream.read_only_records()

    next(records)
    assert chain.arrived["c-1"].wait(WAIT)
    records.close()  # the stream's read is over (sync stopped it, or the CDK's record limit)
    chain.release("c-1")

    assert len(stream.prefetch) == 0
    assert senders_idle()  # the request in flight finished, and its answer was thrown away
    time.sleep(0.1)
    assert chain.asked == [None, "c-1"]
    stream.prefetch_next({}, {}, {"cursor": "c-3"})  # a straggler after the read: refused
    assert len(stream.prefetch) == 0 and chain.asked == [None, "c-1"]


def test_a_request_not_yet_sent_is_never_sent_once_its_chain_is_dropped(api, monkeypatch):
    monkeypatch.setattr(base, "_senders", base._Senders(0))  # nothing is sent until a thread frees
    chain = Chain(api, "/v1/customers", customers(3))
    stream = s.Customers(settings())
    records = stream.read_only_records()

    next(records)  # page 1 parsed: c-1 waits for a sender
    assert len(stream.prefetch) == 1
    records.close()

    assert len(stream.prefetch) == 0
    senders = base._senders
    senders._most = 1
    senders.submit(Future(), lambda: None)  # a thread at last: it finds c-1 cancelled
    assert senders_idle()
    assert chain.asked == [None]


def test_a_failed_fan_out_drops_its_parents_prefetch_and_stops_asking(api):
    parents = [[{"id": p * 10 + i, "uuid": f"cus_{p}{i}"} for i in range(2)] for p in range(3)]
    chain = Chain(api, "/v1/customers", parents)
    chain.hold("c-1")
    api.get(f"{BASE_URL}/v1/customers/cus_00/subscriptions", json=page([{"uuid": "s"}]))
    api.get(f"{BASE_URL}/v1/customers/cus_01/subscriptions", status_code=400, json={"message": "broken"})
    stream = s.CustomerSubscriptions(settings())

    with pytest.raises(AirbyteTracedException, match="cus_01"):
        list(stream.read_only_records())
    chain.release("c-1")

    assert len(stream.prefetch) == 0 and len(stream._parent.prefetch) == 0
    assert senders_idle()
    time.sleep(0.1)
    assert chain.asked == [None, "c-1"]  # the parents' prefetch, in flight: nothing after it
    children = [r.path for r in api.request_history if r.path.endswith("/subscriptions")]
    assert sorted(children) == ["/v1/customers/cus_00/subscriptions", "/v1/customers/cus_01/subscriptions"]


def test_a_stream_read_again_prefetches_again(api):
    pages = customers(3)
    chain = Chain(api, "/v1/customers", pages)
    stream = s.Customers(settings())

    assert [r for r in stream.read_only_records() if isinstance(r, Mapping)] == [r for p in pages for r in p]
    stream.state = {}
    chain.threads.clear()
    assert [r for r in stream.read_only_records() if isinstance(r, Mapping)] == [r for p in pages for r in p]
    assert all(name.startswith("prefetch-") for name in chain.threads[1:])


def test_activities_full_read_through_parallel_windows_loses_and_repeats_nothing(api):
    activities = [activity(n, START + timedelta(hours=7 * n)) for n in range(400)]
    serve(api, activities, page_size=7)
    stream = activities_stream()

    records = [r for page in stream.read_records(SyncMode.full_refresh) for r in page]

    assert [r["uuid"] for r in records] == [a["uuid"] for a in activities]
    asked = [(query(r).get("start-date"), query(r).get("cursor")) for r in api.request_history]
    assert len(asked) == len(set(asked))  # no page requested twice
    assert len(stream.prefetch) == 0
