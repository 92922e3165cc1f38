"""base.py and streams.py: paging, envelopes, metrics queries, fan-out and the catalog."""

import copy
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import discover, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import base
from source_chartmogul import streams as s
from source_chartmogul.base import MAX_EMPTY_PAGES
from source_chartmogul.source import SourceChartmogul
from testing.configs import BASE_URL, CONFIG
from testing.records import (
    ACCOUNT,
    CONTACT,
    COUNT_ENTRIES,
    CUSTOMER,
    CUSTOMER_SUBSCRIPTION,
    INVOICE,
    METRICS,
    MRR,
    NOTE,
    OPPORTUNITY,
    PLAN,
    PLAN_GROUP,
    SUBSCRIPTION_EVENT,
    TASK,
)
from testing.records import DATA_SOURCE as RECORDED_DATA_SOURCE
from testing.streams import ALL_STREAMS, PRIMARY_KEYS
from unit_tests.conftest import basic_auth, by_path, catalog, page, query, records_of, settings

# Recorded by ChartMogul's Ruby client against the live API (testing/records.py): nulls, nested
# objects, hyphenated keys and non-ASCII text all have to come out exactly as served.
DATA_SOURCE = {**RECORDED_DATA_SOURCE, "processing_status": None}


def variant(record: Mapping, n: int, key: str = "uuid") -> dict:
    out = copy.deepcopy(dict(record))
    value = out[key]
    out[key] = value + n if isinstance(value, int) else f"{value}-{n}"
    return out


def stream_records(stream) -> list:
    return [record for record in stream.read_only_records() if isinstance(record, Mapping)]


def serve_pages(
    api, path: str, pages: list, envelope: str = "entries", last_cursor: str = "cursor-after-last", delay=0.0
):
    """A cursor-paged list as ChartMogul serves it (§4.2): the first page carries the deprecated
    offset fields, the last page has has_more false and still a cursor, an unknown cursor is a 400."""
    cursors = [f"cursor-{i}" for i in range(1, len(pages))] + [last_cursor]

    def answer(request, context):
        if delay:
            time.sleep(delay)
        cursor = query(request).get("cursor")
        index = 0 if cursor is None else cursors.index(cursor) + 1 if cursor in cursors[:-1] else None
        if index is None:
            context.status_code = 400
            return {"code": 400, "message": f"Invalid cursor {cursor}", "param": "cursor"}
        body = page(pages[index], cursor=cursors[index], has_more=index < len(pages) - 1, envelope=envelope)
        if index == 0:
            body.update(current_page=1, total_pages=len(pages), per_page=200, page=1)
        return body

    api.get(BASE_URL + path, json=answer)


CURSOR_STREAMS = [
    (s.Customers, "/v1/customers", "entries", CUSTOMER, "id"),
    (s.Invoices, "/v1/invoices", "invoices", INVOICE, "uuid"),
    (s.Plans, "/v1/plans", "plans", PLAN, "uuid"),
    (s.PlanGroups, "/v1/plan_groups", "plan_groups", PLAN_GROUP, "uuid"),
    (s.SubscriptionEvents, "/v1/subscription_events", "subscription_events", SUBSCRIPTION_EVENT, "id"),
    (s.Contacts, "/v1/contacts", "entries", CONTACT, "uuid"),
    (s.CustomerNotes, "/v1/customer_notes", "entries", NOTE, "uuid"),
    (s.Opportunities, "/v1/opportunities", "entries", OPPORTUNITY, "uuid"),
    (s.Tasks, "/v1/tasks", "entries", TASK, "task_uuid"),
]
CURSOR_IDS = [case[1] for case in CURSOR_STREAMS]


@pytest.mark.parametrize("stream_class,path,envelope,record,key", CURSOR_STREAMS, ids=CURSOR_IDS)
def test_cursor_paging_reads_every_page_and_stops_on_has_more(api, stream_class, path, envelope, record, key):
    pages = [[variant(record, 1, key), variant(record, 2, key)], [variant(record, 3, key)], [variant(record, 4, key)]]
    serve_pages(api, path, pages, envelope=envelope)

    records = stream_records(stream_class(settings()))

    assert records == [r for p in pages for r in p]
    sent = [query(r) for r in api.request_history]
    assert sent == [
        {"per_page": "200"},
        {"per_page": "200", "cursor": "cursor-1"},
        {"per_page": "200", "cursor": "cursor-2"},
    ]
    assert all(r.method == "GET" and r.path == path for r in api.request_history)


@pytest.mark.parametrize("stream_class,path,envelope,record,key", CURSOR_STREAMS[:2], ids=CURSOR_IDS[:2])
def test_records_pass_through_untouched(api, stream_class, path, envelope, record, key):
    serve_pages(api, path, [[record]], envelope=envelope)

    assert stream_records(stream_class(settings())) == [record]


def test_empty_result_with_null_cursor_gives_no_records_and_one_request(api):
    api.get(
        BASE_URL + "/v1/customers",
        json={
            "entries": [],
            "current_page": 1,
            "total_pages": 1,
            "has_more": False,
            "per_page": 200,
            "page": 1,
            "cursor": None,
        },
    )

    assert stream_records(s.Customers(settings())) == []
    assert api.call_count == 1


def test_has_more_without_cursor_is_a_clear_error_not_a_loop(api):
    stuck = page([variant(CUSTOMER, 1, "id")], cursor=None, has_more=True)
    api.get(BASE_URL + "/v1/customers", [{"json": stuck}, {"json": stuck}, {"json": page([], has_more=False)}])

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.Customers(settings()))

    assert api.call_count == 1
    assert "GET /v1/customers?per_page=200" in caught.value.message
    assert "has_more" in caught.value.message and "cursor" in caught.value.message


@pytest.mark.parametrize(
    "stream_class,path,body,envelope",
    [
        (s.Customers, "/v1/customers", {"data": [], "has_more": False}, "entries"),
        (s.Invoices, "/v1/invoices", page([INVOICE]), "invoices"),  # the wrong envelope
        (s.Customers, "/v1/customers", {"entries": {"id": 1}, "has_more": False}, "entries"),
        (s.DataSources, "/v1/data_sources", {"entries": [DATA_SOURCE]}, "data_sources"),
        (s.CustomerCount, "/v1/metrics/customer-count", {"summary": {"current": 1}}, "entries"),
    ],
)
def test_missing_envelope_is_a_clear_error_naming_the_request(api, stream_class, path, body, envelope):
    api.get(BASE_URL + path, json=body)

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(stream_class(settings()))

    assert f"GET {path}" in caught.value.message
    assert f"'{envelope}'" in caught.value.message
    assert not isinstance(caught.value.__cause__, KeyError)


def test_every_request_carries_basic_auth_with_the_key_and_an_empty_password(api):
    serve_pages(api, "/v1/customers", [[CUSTOMER], [variant(CUSTOMER, 1, "id")]])

    stream_records(s.Customers(settings()))

    assert api.call_count == 2
    assert all(r.headers["Authorization"] == basic_auth() for r in api.request_history)


def test_stream_requests_have_a_timeout(api):
    serve_pages(api, "/v1/customers", [[CUSTOMER]])

    stream_records(s.Customers(settings()))

    timeout = api.request_history[0].timeout
    assert timeout is not None and all(part and part > 0 for part in timeout)


def test_a_final_error_names_the_request_and_quotes_chartmogul(api):
    api.get(
        BASE_URL + "/v1/plans",
        status_code=400,
        json={"code": 400, "message": 'Parameter "page" is deprecated', "param": "page"},
    )

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.Plans(settings()))

    assert caught.value.failure_type == FailureType.system_error
    assert "GET /v1/plans?per_page=200" in caught.value.message
    assert "Parameter \"page\" is deprecated (parameter 'page')" in caught.value.message


# --- metrics -----------------------------------------------------------------------------------


def today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter"])
def test_customer_count_asks_for_start_day_to_today_at_the_configured_interval(api, interval):
    api.get(BASE_URL + "/v1/metrics/customer-count", json={"entries": COUNT_ENTRIES, "summary": {"current": 382}})

    records = stream_records(s.CustomerCount(settings(interval=interval, start_date="2023-07-01T15:30:00Z")))

    assert records == COUNT_ENTRIES
    assert api.call_count == 1
    assert query(api.request_history[0]) == {"start-date": "2023-07-01", "end-date": today(), "interval": interval}


@pytest.mark.parametrize(
    "stream_class,interval",
    [
        (s.CustomerDailyCount, "day"),
        (s.CustomerWeeklyCount, "week"),
        (s.CustomerMonthlyCount, "month"),
        (s.CustomerQuarterlyCount, "quarter"),
    ],
)
def test_per_interval_count_streams_use_their_own_interval(api, stream_class, interval):
    api.get(BASE_URL + "/v1/metrics/customer-count", json={"entries": COUNT_ENTRIES})
    configured = "week" if interval != "week" else "day"

    assert stream_records(stream_class(settings(interval=configured))) == COUNT_ENTRIES
    assert query(api.request_history[0])["interval"] == interval


def test_metrics_reads_metrics_all(api):
    entry = {**METRICS, "ltv": None}
    api.get(BASE_URL + "/v1/metrics/all", json={"entries": [entry], "summary": {"current-mrr": 1}})

    assert stream_records(s.Metrics(settings(interval="quarter"))) == [entry]
    request = api.request_history[0]
    assert request.path == "/v1/metrics/all"
    assert query(request) == {"start-date": "2023-01-01", "end-date": today(), "interval": "quarter"}


SEGMENTS = [
    {"name": "Europe", "geo": ["de", "FR"]},
    {"name": "Gold, EUR", "plans": ["Gold Monthly", "gold_annual"], "filters": "currency~ANY~'EUR'"},
]


def test_mrr_reads_metrics_mrr_as_served(api):
    api.get(BASE_URL + "/v1/metrics/mrr", json={"entries": [MRR], "summary": {"current": 1}})

    assert stream_records(s.Mrr(settings(interval="week"))) == [MRR]
    request = api.request_history[0]
    assert request.path == "/v1/metrics/mrr"
    assert query(request) == {"start-date": "2023-01-01", "end-date": today(), "interval": "week"}


@pytest.mark.parametrize(
    "stream_class,path", [(s.SegmentMetrics, "/v1/metrics/all"), (s.SegmentMrr, "/v1/metrics/mrr")]
)
def test_segment_streams_send_one_request_per_segment_and_tag_its_records(api, stream_class, path):
    def answer(request, context):
        return {"entries": [{**MRR, "date": f"2022-04-{30 - api.call_count}"}], "summary": {}}

    api.get(BASE_URL + path, json=answer)

    records = stream_records(stream_class(settings(segments=SEGMENTS)))

    assert [query(r) for r in api.request_history] == [
        {"start-date": "2023-01-01", "end-date": today(), "interval": "month", "geo": "DE,FR"},
        {
            "start-date": "2023-01-01",
            "end-date": today(),
            "interval": "month",
            "plans": "Gold Monthly,gold_annual",
            "filters": "currency~ANY~'EUR'",
        },
    ]
    assert all(r.path == path for r in api.request_history)
    assert records == [
        {**MRR, "date": "2022-04-29", "segment": "Europe"},
        {**MRR, "date": "2022-04-28", "segment": "Gold, EUR"},
    ]


@pytest.mark.parametrize("stream_class", [s.SegmentMetrics, s.SegmentMrr])
def test_segment_streams_without_segments_read_nothing_and_say_so_once(api, caplog, stream_class):
    with caplog.at_level(logging.INFO):
        records = stream_records(stream_class(settings()))

    assert records == [] and api.request_history == []
    said = [r.getMessage() for r in caplog.records if "segment" in r.getMessage()]
    assert len(said) == 1 and "no segments" in said[0] and "'segments'" in said[0], said


@pytest.mark.parametrize("param", ["filters", "plans", "geo"])
def test_a_segment_parameter_chartmogul_rejects_is_a_config_error_naming_the_segment(api, param):
    api.get(
        BASE_URL + "/v1/metrics/mrr",
        status_code=400,
        json={"code": 400, "message": "Invalid value", "param": param},
    )
    segments = [{"name": "Gold", "plans": ["Gold Monthly"], "geo": ["US"], "filters": "mrr~GT~150"}]

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.SegmentMrr(settings(segments=segments)))

    assert caught.value.failure_type == FailureType.config_error
    message = caught.value.message
    assert f"the '{param}' of segment 'Gold' in 'segments'" in message
    assert "Invalid value" in message
    assert {"filters": "dev.chartmogul.com/docs/cfl", "plans": "case-sensitive", "geo": "ISO 3166-1"}[param] in message


def test_other_rejections_of_a_segment_request_stay_chartmogul_s_own(api):
    api.get(
        BASE_URL + "/v1/metrics/all",
        status_code=400,
        json={"code": 400, "message": 'Invalid interval "month"', "param": "interval"},
    )

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.SegmentMetrics(settings(segments=SEGMENTS[:1])))

    assert caught.value.failure_type == FailureType.system_error
    assert "GET /v1/metrics/all?" in caught.value.message and "(parameter 'interval')" in caught.value.message


# --- invoice line items and transactions --------------------------------------------------------


@pytest.mark.parametrize(
    "stream_class,nested", [(s.InvoiceLineItems, "line_items"), (s.InvoiceTransactions, "transactions")]
)
def test_invoice_items_are_every_nested_item_of_every_invoice_page_with_its_invoice(api, stream_class, nested):
    def invoice(n: int, items: int) -> dict:
        out = {**variant(INVOICE, n), "customer_uuid": f"cus_{n}" if n != 2 else None}
        out[nested] = [variant(INVOICE[nested][0], 10 * n + i) for i in range(items)]
        return out

    pages = [[invoice(1, 2), invoice(2, 1)], [invoice(3, 0)], [invoice(4, 3)]]
    serve_pages(api, "/v1/invoices", pages, envelope="invoices")

    records = stream_records(stream_class(settings()))

    expected = [
        {**item, "invoice_uuid": inv["uuid"], "customer_uuid": inv["customer_uuid"]}
        for page_ in pages
        for inv in page_
        for item in inv[nested]
    ]
    assert records == expected and len(records) == 6
    assert [query(r) for r in api.request_history] == [
        {"per_page": "200"},
        {"per_page": "200", "cursor": "cursor-1"},
        {"per_page": "200", "cursor": "cursor-2"},
    ]


def test_an_invoice_without_its_list_is_a_clear_error_naming_the_invoice(api):
    broken = {k: v for k, v in INVOICE.items() if k != "transactions"}
    serve_pages(api, "/v1/invoices", [[broken]], envelope="invoices")

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.InvoiceTransactions(settings()))

    assert "GET /v1/invoices?per_page=200" in caught.value.message
    assert INVOICE["uuid"] in caught.value.message and "'transactions'" in caught.value.message


# --- unpaged and single-object streams -----------------------------------------------------------


def test_data_sources_is_read_in_one_request_without_paging(api):
    sources = [DATA_SOURCE, variant(DATA_SOURCE, 2)]
    api.get(BASE_URL + "/v1/data_sources", json={"data_sources": sources, "has_more": True, "cursor": "ignored"})

    assert stream_records(s.DataSources(settings())) == sources
    assert api.call_count == 1
    assert "cursor" not in query(api.request_history[0])


def test_account_is_one_record(api):
    api.get(BASE_URL + "/v1/account", json=ACCOUNT)

    assert stream_records(s.Account(settings())) == [ACCOUNT]
    assert api.call_count == 1
    assert api.request_history[0].path == "/v1/account"


# --- fan-out streams -----------------------------------------------------------------------------

CUSTOMER_UUIDS = ["cus_a", "cus_b", "cus_c", "cus_d"]


def serve_customers(api, uuids=CUSTOMER_UUIDS):
    customers = [{**variant(CUSTOMER, i, "id"), "uuid": uuid} for i, uuid in enumerate(uuids)]
    half = (len(customers) + 1) // 2
    serve_pages(api, "/v1/customers", [customers[:half], customers[half:]])


def subscriptions_of(uuid: str, n: int) -> list:
    return [{**CUSTOMER_SUBSCRIPTION, "uuid": f"{uuid}-sub-{i}", "end-date": None} for i in range(n)]


def test_customer_subscriptions_reads_each_customer_and_tags_records(api, caplog):
    serve_customers(api)
    # cus_a: two pages and slow, so later customers finish first; cus_b deleted during the sync.
    serve_pages(
        api,
        "/v1/customers/cus_a/subscriptions",
        [subscriptions_of("cus_a", 2), subscriptions_of("cus_a", 3)[2:]],
        delay=0.05,
    )
    api.get(
        BASE_URL + "/v1/customers/cus_b/subscriptions",
        status_code=404,
        json={"code": 404, "message": "Customer not found", "param": None},
    )
    serve_pages(api, "/v1/customers/cus_c/subscriptions", [subscriptions_of("cus_c", 1)])
    serve_pages(api, "/v1/customers/cus_d/subscriptions", [[]])

    with caplog.at_level(logging.INFO):
        records = stream_records(s.CustomerSubscriptions(settings()))

    expected = [{**r, "customer_uuid": "cus_a"} for r in subscriptions_of("cus_a", 3)]
    expected += [{**r, "customer_uuid": "cus_c"} for r in subscriptions_of("cus_c", 1)]
    assert records == expected
    assert len(by_path(api, "/v1/customers")) == 2
    assert len(by_path(api, "/v1/customers/cus_a/subscriptions")) == 2
    assert query(by_path(api, "/v1/customers/cus_a/subscriptions")[1]) == {"per_page": "200", "cursor": "cursor-1"}
    assert len(by_path(api, "/v1/customers/cus_b/subscriptions")) == 1  # a 404 is final, not retried
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("/v1/customers/cus_b/subscriptions" in w and "404" in w for w in warnings), warnings


def test_customer_subscriptions_with_many_customers_keeps_customer_order(api):
    uuids = [f"cus_{i:02d}" for i in range(20)]  # more customers than workers
    serve_customers(api, uuids)
    for i, uuid in enumerate(uuids):
        serve_pages(api, f"/v1/customers/{uuid}/subscriptions", [subscriptions_of(uuid, 2)], delay=0.002 * (20 - i))

    records = stream_records(s.CustomerSubscriptions(settings()))

    assert [r["customer_uuid"] for r in records] == [u for u in uuids for _ in range(2)]


def test_customer_subscriptions_fails_on_errors_other_than_404(api):
    serve_customers(api, ["cus_a", "cus_b"])
    serve_pages(api, "/v1/customers/cus_a/subscriptions", [subscriptions_of("cus_a", 1)])
    api.get(
        BASE_URL + "/v1/customers/cus_b/subscriptions",
        status_code=403,
        json={"code": 403, "message": "Forbidden", "param": None},
    )

    with pytest.raises(AirbyteTracedException) as caught:
        stream_records(s.CustomerSubscriptions(settings()))

    assert caught.value.failure_type == FailureType.config_error
    assert "/v1/customers/cus_b/subscriptions" in caught.value.message


def test_plan_group_plans_skips_a_plan_group_deleted_during_the_sync(api, caplog):
    """The same race as customer_subscriptions: the plan group was listed, then deleted."""
    groups = [{**PLAN_GROUP, "uuid": f"plg_{i}"} for i in range(3)]
    serve_pages(api, "/v1/plan_groups", [groups[:2], groups[2:]], envelope="plan_groups")
    serve_pages(api, "/v1/plan_groups/plg_0/plans", [[variant(PLAN, 0)]], envelope="plans")
    api.get(BASE_URL + "/v1/plan_groups/plg_1/plans", status_code=404, json={"error": "Plan group not found"})
    serve_pages(api, "/v1/plan_groups/plg_2/plans", [[variant(PLAN, 2)]], envelope="plans")

    with caplog.at_level(logging.INFO):
        records = stream_records(s.PlanGroupPlans(settings()))

    assert records == [
        {**variant(PLAN, 0), "plan_group_uuid": "plg_0"},
        {**variant(PLAN, 2), "plan_group_uuid": "plg_2"},
    ]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("/v1/plan_groups/plg_1/plans" in w and "404" in w for w in warnings), warnings


def test_plan_group_plans_reads_each_plan_group_in_order_and_tags_records(api):
    groups = [{**PLAN_GROUP, "uuid": f"plg_{i}"} for i in range(3)]
    serve_pages(api, "/v1/plan_groups", [groups[:2], groups[2:]], envelope="plan_groups")
    serve_pages(
        api, "/v1/plan_groups/plg_0/plans", [[variant(PLAN, 0)], [variant(PLAN, 1)]], envelope="plans", delay=0.03
    )
    serve_pages(api, "/v1/plan_groups/plg_1/plans", [[]], envelope="plans")
    serve_pages(api, "/v1/plan_groups/plg_2/plans", [[variant(PLAN, 2)]], envelope="plans")

    records = stream_records(s.PlanGroupPlans(settings()))

    assert records == [
        {**variant(PLAN, 0), "plan_group_uuid": "plg_0"},
        {**variant(PLAN, 1), "plan_group_uuid": "plg_0"},
        {**variant(PLAN, 2), "plan_group_uuid": "plg_2"},
    ]
    assert query(by_path(api, "/v1/plan_groups/plg_0/plans")[1]) == {"per_page": "200", "cursor": "cursor-1"}


# --- chains of pages that loop or never end ------------------------------------------------------


def serve_chain(api, path: str, answer_for, envelope: str = "entries", cap: int = 40) -> list:
    """A list whose answer to each cursor (None: the first page) is answer_for(cursor) =
    (entries, cursor handed back, has_more). After `cap` answers it ends, so that a connector
    that misses a loop fails the test with duplicates rather than hanging it. Returns the
    cursors sent, in order."""
    sent = []

    def answer(request, context):
        cursor = query(request).get("cursor")
        sent.append(cursor)
        if len(sent) > cap:
            return page([], cursor=None, has_more=False, envelope=envelope)
        entries, handed, has_more = answer_for(cursor)
        return page(entries, cursor=handed, has_more=has_more, envelope=envelope)

    api.get(BASE_URL + path, json=answer)
    return sent


P = [[variant(CUSTOMER, 2 * n, "id"), variant(CUSTOMER, 2 * n + 1, "id")] for n in range(3)]
LOOPS = {
    # has_more true with the cursor it was asked with, forever: found on the page that hands it back
    "same_cursor": ({None: (P[0], "A", True), "A": (P[1], "A", True)}, "cursor=A", P[0]),
    # A -> B -> A
    "cycle": ({None: (P[0], "A", True), "A": (P[1], "B", True), "B": (P[2], "A", True)}, "cursor=B", P[0] + P[1]),
}


def endless_empty(cursor):
    if cursor is None:
        return P[0], "e-1", True
    return [], f"e-{int(cursor[2:]) + 1}", True


def records_until_failure(stream) -> tuple[list, AirbyteTracedException]:
    records = []
    with pytest.raises(AirbyteTracedException) as caught:
        for record in stream.read_only_records():
            records.append(record)
    return records, caught.value


@pytest.mark.parametrize("loop", LOOPS)
def test_a_cursor_loop_fails_the_stream_naming_the_request_before_any_duplicate(api, loop):
    answers, request, emitted = LOOPS[loop]
    sent = serve_chain(api, "/v1/customers", answers.__getitem__)

    records, error = records_until_failure(s.Customers(settings()))

    assert records == emitted  # the page that hands back a known cursor is not emitted either
    assert len(sent) == len(answers)  # the looping request is never sent
    assert f"GET /v1/customers?per_page=200&{request}" in error.message
    assert "cursor 'A'" in error.message and "already given" in error.message
    assert error.failure_type == FailureType.system_error


def test_endless_empty_pages_with_fresh_cursors_fail_the_stream_at_the_bound(api):
    sent = serve_chain(api, "/v1/customers", endless_empty)

    records, error = records_until_failure(s.Customers(settings()))

    assert records == P[0]
    assert len(sent) == 1 + MAX_EMPTY_PAGES
    assert f"GET /v1/customers?per_page=200&cursor=e-{MAX_EMPTY_PAGES}" in error.message
    assert f"{MAX_EMPTY_PAGES} empty pages in a row" in error.message


def test_a_list_of_fresh_cursors_and_records_without_end_fails_at_the_page_bound(api, monkeypatch):
    monkeypatch.setattr(base, "MAX_PAGES_PER_CHAIN", 3)
    sent = serve_chain(api, "/v1/customers", lambda cursor: (P[len(sent) % 3], f"c-{len(sent)}", True))

    records, error = records_until_failure(s.Customers(settings()))

    assert len(sent) == 3
    assert records == P[1] + P[2]  # pages 1 and 2; the third, which says there is still more, is not emitted
    assert "GET /v1/customers?per_page=200&cursor=c-2" in error.message
    assert "page 3 of one list" in error.message and "3 pages" in error.message


def test_empty_pages_below_the_bound_are_followed_and_the_count_restarts_after_records(api):
    """An empty page that says there is more is paged past: only its cursor says where the rest is."""
    quiet = MAX_EMPTY_PAGES - 1
    chain = [(P[0], True)] + [([], True)] * quiet + [(P[1], True)] + [([], True)] * quiet + [(P[2], False)]

    def answer_for(cursor):
        index = 0 if cursor is None else int(cursor[2:])
        entries, has_more = chain[index]
        return entries, f"c-{index + 1}", has_more

    sent = serve_chain(api, "/v1/customers", answer_for)

    assert stream_records(s.Customers(settings())) == P[0] + P[1] + P[2]
    assert len(sent) == len(chain)


def test_cli_cursor_loop_is_one_clear_error_and_the_checkpoints_stay_true(api):
    """Resumable full refresh: the CDK reads one page per call, the chain's memory spans them."""
    answers, request, emitted = LOOPS["cycle"]
    serve_chain(api, "/v1/customers", answers.__getitem__)

    output = read(SourceChartmogul(), CONFIG, catalog("customers"), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)

    assert [r["id"] for r in records_of(output, "customers")] == [r["id"] for r in emitted]
    errors = [m.trace.error for m in output.errors]
    assert len([e for e in errors if e.stream_descriptor]) == 1
    assert f"GET /v1/customers?per_page=200&{request}" in errors[0].message
    assert errors[0].stack_trace is None  # explained, not a crash
    assert [st.name for st in output.get_stream_statuses("customers")][-1] == "INCOMPLETE"
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    # A resumed sync asks for B's page again: none of it was emitted.
    assert states == [{"cursor": "A"}, {"cursor": "B"}]


def test_a_loop_is_found_in_a_chain_resumed_from_a_saved_cursor(api):
    sent = serve_chain(api, "/v1/customers", {"A": (P[1], "B", True), "B": (P[2], "A", True)}.__getitem__)
    state = StateBuilder().with_stream_state("customers", {"cursor": "A"}).build()

    output = read(
        SourceChartmogul(), CONFIG, catalog("customers"), state, expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION
    )

    assert sent == ["A", "B"]
    assert [r["id"] for r in records_of(output, "customers")] == [r["id"] for r in P[1]]
    assert "GET /v1/customers?per_page=200&cursor=B" in output.errors[0].trace.error.message


def test_chains_of_different_parents_may_hand_the_same_cursors(api):
    """The memory is per chain: every customer's subscriptions page by cursor-1, cursor-2..., read
    in parallel on one stream object, and none of them is a loop."""
    uuids = [f"cus_{i:02d}" for i in range(12)]
    serve_customers(api, uuids)
    for uuid in uuids:
        pages = [subscriptions_of(uuid, 5)[:2], subscriptions_of(uuid, 5)[2:4], subscriptions_of(uuid, 5)[4:]]
        serve_pages(api, f"/v1/customers/{uuid}/subscriptions", pages, delay=0.002)

    records = stream_records(s.CustomerSubscriptions(settings()))

    assert records == [{**r, "customer_uuid": u} for u in uuids for r in subscriptions_of(u, 5)]


def test_a_loop_in_one_parent_s_children_fails_the_stream_naming_that_request(api):
    serve_customers(api, ["cus_a", "cus_b", "cus_c"])
    serve_pages(api, "/v1/customers/cus_a/subscriptions", [subscriptions_of("cus_a", 2)])
    looping = {None: (subscriptions_of("cus_b", 1), "A", True), "A": (subscriptions_of("cus_b", 2)[1:], "A", True)}
    serve_chain(api, "/v1/customers/cus_b/subscriptions", looping.__getitem__)
    serve_pages(api, "/v1/customers/cus_c/subscriptions", [subscriptions_of("cus_c", 1)])

    records, error = records_until_failure(s.CustomerSubscriptions(settings()))

    cus_a = [{**r, "customer_uuid": "cus_a"} for r in subscriptions_of("cus_a", 2)]
    cus_b_first_page = [{**subscriptions_of("cus_b", 1)[0], "customer_uuid": "cus_b"}]
    # The failing parent's first page may be dropped with it; nothing is repeated, nothing after it.
    assert records in (cus_a, cus_a + cus_b_first_page)
    assert "GET /v1/customers/cus_b/subscriptions?per_page=200&cursor=A" in error.message


def test_a_loop_in_the_parents_pages_is_found_across_the_slices(api):
    """The parents are read a page per slice; their chain's memory must outlive each slice."""
    customers = [{**variant(CUSTOMER, i, "id"), "uuid": f"cus_{i}"} for i in range(6)]
    parents = [customers[:2], customers[2:4], customers[4:]]
    answers = {None: (parents[0], "A", True), "A": (parents[1], "B", True), "B": (parents[2], "A", True)}
    sent = serve_chain(api, "/v1/customers", answers.__getitem__)
    for customer in customers:
        serve_pages(api, f"/v1/customers/{customer['uuid']}/subscriptions", [subscriptions_of(customer["uuid"], 1)])

    records, error = records_until_failure(s.CustomerSubscriptions(settings()))

    assert sent == [None, "A", "B"]
    assert [r["customer_uuid"] for r in records] == ["cus_0", "cus_1", "cus_2", "cus_3"]
    assert "GET /v1/customers?per_page=200&cursor=B" in error.message


def test_a_parent_listed_twice_on_a_page_is_read_once(api):
    customers = [{**variant(CUSTOMER, i, "id"), "uuid": uuid} for i, uuid in enumerate(["cus_a", "cus_b", "cus_a"])]
    serve_pages(api, "/v1/customers", [customers])
    for uuid in ("cus_a", "cus_b"):
        serve_pages(api, f"/v1/customers/{uuid}/subscriptions", [subscriptions_of(uuid, 2)])

    records = stream_records(s.CustomerSubscriptions(settings()))

    assert records == [{**r, "customer_uuid": u} for u in ("cus_a", "cus_b") for r in subscriptions_of(u, 2)]
    assert len(by_path(api, "/v1/customers/cus_a/subscriptions")) == 1


# --- through the CLI -----------------------------------------------------------------------------


def test_cli_read_of_a_paged_stream_emits_every_record_and_completes(api):
    pages = [[variant(CUSTOMER, i, "id") for i in range(3)], [variant(CUSTOMER, 3, "id")], [variant(CUSTOMER, 4, "id")]]
    serve_pages(api, "/v1/customers", pages)

    output = read(SourceChartmogul(), CONFIG, catalog("customers"))

    # Record serialization drops top-level nulls (airbyte-cdk-notes.md, Testing).
    expected = [{k: v for k, v in r.items() if v is not None} for p in pages for r in p]
    assert [{k: v for k, v in r.items() if v is not None} for r in records_of(output, "customers")] == expected
    assert records_of(output, "customers")[0]["attributes"] == CUSTOMER["attributes"]
    assert output.errors == []
    assert [st.name for st in output.get_stream_statuses("customers")] == ["STARTED", "RUNNING", "COMPLETE"]


def test_cli_full_refresh_resumes_from_the_saved_page_and_checkpoints_each_page(api):
    pages = [[variant(CUSTOMER, 0, "id")], [variant(CUSTOMER, 1, "id")], [variant(CUSTOMER, 2, "id")]]
    serve_pages(api, "/v1/customers", pages)
    state = StateBuilder().with_stream_state("customers", {"cursor": "cursor-1"}).build()

    output = read(SourceChartmogul(), CONFIG, catalog("customers"), state)

    assert [r["id"] for r in records_of(output, "customers")] == [114167451, 114167452]
    assert query(api.request_history[0]) == {"per_page": "200", "cursor": "cursor-1"}
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [{"cursor": "cursor-2"}, {"__ab_full_refresh_sync_complete": True}]


def test_cli_invoice_items_resume_from_the_saved_page_like_invoices(api):
    pages = [[variant(INVOICE, n)] for n in range(3)]
    serve_pages(api, "/v1/invoices", pages, envelope="invoices")
    state = StateBuilder().with_stream_state("invoice_line_items", {"cursor": "cursor-1"}).build()

    output = read(SourceChartmogul(), CONFIG, catalog("invoice_line_items"), state)

    assert [r["invoice_uuid"] for r in records_of(output, "invoice_line_items")] == [
        variant(INVOICE, 1)["uuid"],
        variant(INVOICE, 2)["uuid"],
    ]
    assert query(api.request_history[0]) == {"per_page": "200", "cursor": "cursor-1"}
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [{"cursor": "cursor-2"}, {"__ab_full_refresh_sync_complete": True}]


def test_cli_segment_streams_claim_no_resumable_state(api):
    """The CDK 7 reads no state of a stream of several slices back: a per-segment state would
    promise a resume that never happens. A sync that dies redoes one request per segment."""
    api.get(BASE_URL + "/v1/metrics/mrr", json={"entries": [MRR], "summary": {}})

    output = read(SourceChartmogul(), {**CONFIG, "segments": SEGMENTS}, catalog("segment_mrr"))

    assert [r["segment"] for r in records_of(output, "segment_mrr")] == ["Europe", "Gold, EUR"]
    states = [m.state.stream.stream_state.__dict__ for m in output.state_messages]
    assert states == [{"__ab_no_cursor_state_message": True}]


# --- the catalog ---------------------------------------------------------------------------------


def test_discover_lists_all_25_streams_with_keys_and_sync_modes(api):
    output = discover(SourceChartmogul(), CONFIG)

    streams = {stream.name: stream for stream in output.catalog.catalog.streams}
    assert set(streams) == set(ALL_STREAMS) and len(streams) == 25
    for name, stream in streams.items():
        assert (stream.source_defined_primary_key or []) == [[field] for field in PRIMARY_KEYS[name]], name
        assert stream.json_schema["type"] == "object", name
        if name == "activities":
            assert set(stream.supported_sync_modes) == {SyncMode.full_refresh, SyncMode.incremental}
            assert stream.default_cursor_field == ["date"]
            assert stream.source_defined_cursor is True
        else:
            assert stream.supported_sync_modes == [SyncMode.full_refresh], name
            assert not stream.source_defined_cursor, name
    assert api.request_history == []
