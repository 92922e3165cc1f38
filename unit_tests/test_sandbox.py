"""Tests of the sandbox itself: it must behave like the ChartMogul API described in
docs/api-notes.md (section numbers below), or the connector's tests prove nothing."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import threading
import time

import pytest
import requests

from sandbox import DEFAULT_API_KEY, Faults, Sandbox, build_dataset
from sandbox.data import period_ends
from sandbox.faults import SERVER_ERRORS

TODAY = dt.date(2025, 6, 15)
KEY = DEFAULT_API_KEY


@pytest.fixture(scope="module")
def dataset():
    return build_dataset(seed=7, customers=300, activities=3000, today=TODAY)


@pytest.fixture(scope="module")
def sandbox(dataset):
    with Sandbox(dataset) as running:
        yield running


@pytest.fixture()
def session():
    with requests.Session() as s:
        s.auth = (KEY, "")
        yield s


def get(session, sandbox, path, **params):
    return session.get(f"{sandbox.url}{path}", params=params, timeout=5)


def walk(session, sandbox, path, envelope_key, per_page=200, **params):
    """Follow cursors until has_more is false; return (records, pages)."""
    pages, cursor = [], None
    while True:
        query = dict(params, per_page=per_page, **({"cursor": cursor} if cursor else {}))
        response = get(session, sandbox, path, **query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        if not body["has_more"]:
            return [r for page in pages for r in page[envelope_key]], pages
        cursor = body["cursor"]
        assert len(pages) < 10_000


# --- auth and basics (§1, §3) --------------------------------------------------------------------


@pytest.mark.parametrize("auth", [(KEY, ""), (KEY, KEY)])
def test_ping_accepts_key_with_empty_or_same_password(sandbox, auth):
    response = requests.get(f"{sandbox.url}/v1/ping", auth=auth, timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": "pong!"}


@pytest.mark.parametrize("auth", [None, ("wrong", ""), (KEY, "other"), ("", KEY)])
def test_bad_credentials_get_the_recorded_401(sandbox, auth):
    response = requests.get(f"{sandbox.url}/v1/customers", auth=auth, timeout=5)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.content == b'{"code":401,"message":"No valid API key provided","param":null}'


def test_log_never_keeps_the_authorization_header(sandbox, session):
    get(session, sandbox, "/v1/ping", probe="1")
    entry = [r for r in sandbox.requests if r.query.get("probe") == "1"][-1]
    assert (entry.method, entry.path, entry.status) == ("GET", "/v1/ping", 200)
    assert KEY not in repr(entry)


def test_unknown_path_and_method(sandbox, session):
    missing = get(session, sandbox, "/v1/nothing")
    assert (missing.status_code, missing.json()) == (404, {"error": "Not found"})
    assert session.post(f"{sandbox.url}/v1/customers", timeout=5).status_code == 405


def test_account_and_data_sources(sandbox, session, dataset):
    account = get(session, sandbox, "/v1/account")
    assert account.headers["content-type"] == "application/json; charset=utf-8"
    assert set(account.json()) == {"id", "name", "currency", "time_zone", "week_start_on"}
    assert get(session, sandbox, "/v1/account", include="churn_recognition").json()["churn_recognition"]
    sources = get(session, sandbox, "/v1/data_sources").json()
    assert list(sources) == ["data_sources"] and sources["data_sources"] == dataset.data_sources
    assert all(s["uuid"].startswith("ds_") and s["created_at"].endswith("Z") for s in sources["data_sources"])


# --- cursor paging (§4) --------------------------------------------------------------------------

LISTS = [  # path, envelope key, dataset attribute, id key
    ("/v1/customers", "entries", "customers", "uuid"),
    ("/v1/plans", "plans", "plans", "uuid"),
    ("/v1/plan_groups", "plan_groups", "plan_groups", "uuid"),
    ("/v1/invoices", "invoices", "invoices", "uuid"),
    ("/v1/subscription_events", "subscription_events", "subscription_events", "id"),
    ("/v1/contacts", "entries", "contacts", "uuid"),
    ("/v1/customer_notes", "entries", "customer_notes", "uuid"),
    ("/v1/opportunities", "entries", "opportunities", "uuid"),
    ("/v1/tasks", "entries", "tasks", "task_uuid"),
]


@pytest.mark.parametrize("per_page", [200, 37])
@pytest.mark.parametrize("path,key,attribute,id_key", LISTS)
def test_paging_returns_every_record_once_in_order(sandbox, session, dataset, path, key, attribute, id_key, per_page):
    records, pages = walk(session, sandbox, path, key, per_page=per_page)
    expected = getattr(dataset, attribute)
    assert [r[id_key] for r in records] == [r[id_key] for r in expected]
    assert records == expected
    assert all(page["cursor"] for page in pages)  # §4.2: even the last page has a cursor
    empty = get(session, sandbox, path, per_page=per_page, cursor=pages[-1]["cursor"]).json()
    assert empty[key] == [] and empty["has_more"] is False


def test_big_lists_need_two_pages_at_the_maximum(dataset):
    for attribute in ("invoices", "subscription_events", "contacts", "customer_notes", "opportunities", "tasks"):
        assert len(getattr(dataset, attribute)) >= 250, attribute


def test_first_pages_carry_the_deprecated_fields(sandbox, session):
    customers = get(session, sandbox, "/v1/customers", per_page=1).json()
    assert list(customers) == ["entries", "current_page", "total_pages", "has_more", "per_page", "page", "cursor"]
    assert customers["total_pages"] == len(sandbox.dataset.customers)
    later = get(session, sandbox, "/v1/customers", per_page=1, cursor=customers["cursor"]).json()
    assert list(later) == ["entries", "cursor", "has_more"]
    for path, key in (("/v1/plans", "plans"), ("/v1/plan_groups", "plan_groups"), ("/v1/invoices", "invoices")):
        response = get(session, sandbox, path, per_page=5)
        assert list(response.json()) == [key, "current_page", "total_pages", "cursor", "has_more"]
        assert response.headers["content-type"] == "application/json; charset=utf-8"
    events = get(session, sandbox, "/v1/subscription_events", per_page=5).json()
    assert list(events) == ["subscription_events", "meta", "cursor", "has_more"]
    assert set(events["meta"]) == {"next_key", "prev_key", "before_key", "page", "total_pages"}
    for path in ("/v1/contacts", "/v1/customer_notes", "/v1/opportunities", "/v1/tasks"):
        assert list(get(session, sandbox, path, per_page=5).json()) == ["entries", "cursor", "has_more"]


def test_customer_cursor_is_the_keyset_of_the_last_record(sandbox, session, dataset):
    body = get(session, sandbox, "/v1/customers", per_page=1).json()
    lead = dataset.customers[0]
    assert lead["customer-since"] is None and body["entries"] == [lead]
    assert base64.b64decode(body["cursor"]).decode() == f"&{lead['id']}"  # §4.2: null since -> "&<id>"
    offset = next(c for c in dataset.customers if (c["customer-since"] or "").endswith("-04:00"))
    position = dataset.customers.index(offset)
    page = get(session, sandbox, "/v1/customers", per_page=position + 1).json()
    assert page["entries"][-1] == offset
    local = dt.datetime.fromisoformat(offset["customer-since"]).astimezone(dt.timezone.utc)
    assert base64.b64decode(page["cursor"]).decode() == f"{local:%Y-%m-%dT%H:%M:%S}.000000000Z&{offset['id']}"


def test_per_page_is_clamped_and_validated(sandbox, session):
    assert len(get(session, sandbox, "/v1/contacts", per_page=1000).json()["entries"]) == 200
    assert len(session.get(f"{sandbox.url}/v1/contacts?per-page=3", timeout=5).json()["entries"]) == 3
    for bad in ("0", "-1", "abc", "2.5"):
        response = get(session, sandbox, "/v1/contacts", per_page=bad)
        assert response.status_code == 400 and response.json()["param"] == "per_page"


@pytest.mark.parametrize("path", ["/v1/customers", "/v1/invoices", "/v1/tasks", "/v1/activities"])
def test_invalid_cursor_and_deprecated_page_are_400(sandbox, session, path):
    response = get(session, sandbox, path, cursor="not a cursor!")
    assert response.status_code == 400
    assert response.json() == {"code": 400, "message": "Invalid cursor", "param": "cursor"}
    response = get(session, sandbox, path, page=2)
    assert response.json() == {"code": 400, "message": 'Parameter "page" is deprecated', "param": "page"}


def test_filters_narrow_lists(sandbox, session, dataset):
    customer = dataset.customers[-1]
    invoices, _ = walk(session, sandbox, "/v1/invoices", "invoices", customer_uuid=customer["uuid"])
    assert invoices == [i for i in dataset.invoices if i["customer_uuid"] == customer["uuid"]]
    leads, _ = walk(session, sandbox, "/v1/customers", "entries", status="New_Lead")
    assert leads and all(c["status"] == "New Lead" for c in leads)


def test_paging_survives_records_deleted_mid_sync():
    local = build_dataset(seed=3, customers=60, activities=300, today=TODAY)
    with Sandbox(local) as sandbox, requests.Session() as session:
        session.auth = (KEY, "")
        first = get(session, sandbox, "/v1/contacts", per_page=100).json()
        deleted = local.contacts.pop(150)  # keyset cursors keep their place when records vanish
        records, _ = walk(session, sandbox, "/v1/contacts", "entries", per_page=100)
        rest = get(session, sandbox, "/v1/contacts", per_page=200, cursor=first["cursor"]).json()["entries"]
        assert deleted not in records and first["entries"] + rest == local.contacts


# --- customer subscriptions (§5.4) -----------------------------------------------------------------


def test_customer_subscriptions_page_by_page_number(sandbox, session, dataset):
    owner = next(uuid for uuid, subs in dataset.customer_subscriptions.items() if len(subs) > 1)
    path = f"/v1/customers/{owner}/subscriptions"
    first = get(session, sandbox, path, per_page=1).json()
    assert list(first) == ["entries", "has_more", "per_page", "page", "cursor"]
    assert base64.b64decode(first["cursor"]) == b"subscriptions_next_page=2"
    records, pages = walk(session, sandbox, path, "entries", per_page=1)
    assert records == dataset.customer_subscriptions[owner]
    past = get(session, sandbox, path, per_page=1, cursor=pages[-1]["cursor"]).json()
    assert past["entries"] == [] and past["has_more"] is False and past["cursor"]
    lead = next(c for c in dataset.customers if c["customer-since"] is None)
    empty = get(session, sandbox, f"/v1/customers/{lead['uuid']}/subscriptions").json()
    assert empty == {"entries": [], "has_more": False, "per_page": 200, "page": 1, "cursor": None}


def test_customer_deleted_mid_sync_is_404(session):
    local = build_dataset(seed=5, customers=30, activities=100, today=TODAY)
    with Sandbox(local) as sandbox:
        victim = next(uuid for uuid, subs in local.customer_subscriptions.items() if subs)
        assert get(session, sandbox, f"/v1/customers/{victim}/subscriptions").status_code == 200
        del local.customer_subscriptions[victim]
        response = get(session, sandbox, f"/v1/customers/{victim}/subscriptions")
        assert response.status_code == 404
        assert response.json() == {"code": 404, "message": "Customer not found", "param": "customer_uuid"}


# --- activities (§6) -------------------------------------------------------------------------------


def test_activities_page_with_start_after_and_cursor(sandbox, session, dataset):
    by_cursor, pages = walk(session, sandbox, "/v1/activities", "entries")
    assert by_cursor == dataset.activities
    assert "per_page" in pages[0] and "per_page" not in pages[1]
    assert pages[0]["cursor"] == pages[0]["entries"][-1]["uuid"]
    by_anchor, after = [], None
    while True:
        body = get(session, sandbox, "/v1/activities", per_page=500, **({"start-after": after} if after else {})).json()
        by_anchor += body["entries"]
        if not body["has_more"]:
            break
        after = body["entries"][-1]["uuid"]
    assert by_anchor == dataset.activities
    unknown = get(session, sandbox, "/v1/activities", **{"start-after": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 400 and unknown.json()["param"] == "start-after"


def test_activity_dates_filter_inclusively_and_order_descending(sandbox, session, dataset):
    pivot = dataset.activities[1000]["date"]
    at_pivot = [a for a in dataset.activities if a["date"] == pivot]
    exact, _ = walk(
        session, sandbox, "/v1/activities", "entries", **{"start-date": pivot.replace("+00:00", "Z"), "end-date": pivot}
    )
    assert exact == at_pivot
    day = pivot[:10]
    whole_day, _ = walk(session, sandbox, "/v1/activities", "entries", start_date=day, end_date=day)
    assert whole_day == [a for a in dataset.activities if a["date"][:10] == day]
    shifted = (dt.datetime.fromisoformat(pivot) - dt.timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%S-04:00")
    assert (
        walk(session, sandbox, "/v1/activities", "entries", **{"start-date": shifted, "end-date": pivot})[0] == at_pivot
    )
    churns, _ = walk(session, sandbox, "/v1/activities", "entries", per_page=50, type="churn", order="-date")
    assert churns == [a for a in reversed(dataset.activities) if a["type"] == "churn"]
    for params, param in (
        ({"start-date": "yesterday"}, "start-date"),
        ({"end-date": "2024-13-01"}, "end-date"),
        ({"type": "refund"}, "type"),
        ({"order": "uuid"}, "order"),
    ):
        response = get(session, sandbox, "/v1/activities", **params)
        assert response.status_code == 400 and response.json()["param"] == param


def test_activity_data_is_realistic(dataset):
    kinds = collections.Counter(a["type"] for a in dataset.activities)
    assert set(kinds) == {"new_biz", "expansion", "contraction", "churn", "reactivation"}
    assert sorted(dataset.activities, key=lambda a: (a["date"], a["uuid"])) == dataset.activities
    future = [a for a in dataset.activities if a["date"][:10] > TODAY.isoformat()]
    assert 0 < len(future) < 0.05 * len(dataset.activities)
    assert max(a["date"][:10] for a in future) <= (TODAY + dt.timedelta(days=60)).isoformat()
    assert max(collections.Counter(a["date"] for a in dataset.activities).values()) > 1
    assert dataset.activities[0]["date"] >= "2015-01-01"
    assert all(
        isinstance(a["plan-external-id"], str) and a["activity-arr"] == 12 * a["activity-mrr"]
        for a in dataset.activities
    )


def test_customers_are_varied_and_ordered(dataset):
    customers = dataset.customers
    leads = [c for c in customers if c["customer-since"] is None]
    assert leads and all(c["mrr"] == 0 and "Lead" in c["status"] for c in leads)
    assert customers[: len(leads)] == leads  # null customer-since sorts first
    names = {c["name"] for c in customers}
    assert {"Zoë Ångström", "株式会社テスト"} <= names
    assert any(c["email"] == "" for c in customers) and any(c["company"] == "" for c in customers)
    assert any(c["customer-since"] and c["customer-since"].endswith("-04:00") for c in customers)
    assert any(c["country"] is None for c in customers) and any(c["owner"] is None for c in customers)
    assert all(c["uuid"].startswith("cus_") and isinstance(c["id"], int) for c in customers)
    assert all(dataset.customer_subscriptions[c["uuid"]] == [] for c in leads)
    groups = dataset.plan_groups
    assert all(g["plans_count"] == len(dataset.plan_group_plans[g["uuid"]]) for g in groups)


def test_dataset_without_future_days_schedules_nothing_after_today():
    small = dict(seed=11, customers=200, activities=2000, today=TODAY)
    after_today = [a for a in build_dataset(**small, future_days=0).activities if a["date"][:10] > TODAY.isoformat()]
    assert after_today == []
    assert [a for a in build_dataset(**small).activities if a["date"][:10] > TODAY.isoformat()]  # the default has some
    assert len(build_dataset(**small, future_days=0).activities) == 2000


def test_dataset_is_deterministic():
    small = dict(seed=11, customers=40, activities=400, today=TODAY)
    assert json.dumps(vars(build_dataset(**small)) | {"_cache": None}, default=str) == json.dumps(
        vars(build_dataset(**small)) | {"_cache": None}, default=str
    )
    assert build_dataset(**small).customers != build_dataset(**dict(small, seed=12)).customers


# --- metrics (§7) ----------------------------------------------------------------------------------


def test_customer_count_entries_end_each_period(sandbox, session):
    body = get(
        session,
        sandbox,
        "/v1/metrics/customer-count",
        **{"start-date": "2023-07-01", "end-date": "2023-08-31", "interval": "month"},
    ).json()
    assert [e["date"] for e in body["entries"]] == ["2023-07-31", "2023-08-31"]
    assert body["entries"][0]["percentage-change"] == 0.0
    assert set(body["summary"]) == {"current", "previous", "percentage-change"}
    assert body["summary"]["current"] == body["entries"][-1]["customers"]
    assert period_ends(dt.date(2015, 1, 1), dt.date(2015, 2, 1), "month") == [dt.date(2015, 1, 31), dt.date(2015, 2, 1)]
    assert period_ends(dt.date(2024, 1, 3), dt.date(2024, 1, 16), "week") == [
        dt.date(2024, 1, 7),
        dt.date(2024, 1, 14),
        dt.date(2024, 1, 16),
    ]  # Monday accounts: weeks end Sunday
    daily = get(
        session, sandbox, "/v1/metrics/customer-count", **{"start-date": "2024-01-01", "end-date": "2024-01-10"}
    )
    assert len(daily.json()["entries"]) == 10


def test_metrics_all_has_every_key(sandbox, session):
    body = get(
        session,
        sandbox,
        "/v1/metrics/all",
        **{"start-date": "2022-01-01", "end-date": "2022-12-31", "interval": "quarter"},
    ).json()
    assert [e["date"] for e in body["entries"]] == ["2022-03-31", "2022-06-30", "2022-09-30", "2022-12-31"]
    metrics = ("mrr", "arr", "customer-churn-rate", "mrr-churn-rate", "ltv", "customers", "asp", "arpa")
    for entry in body["entries"]:
        assert set(entry) == {"date", *metrics, *(f"{m}-percentage-change" for m in metrics)}
        assert isinstance(entry["mrr"], int) and isinstance(entry["customer-churn-rate"], float)
        assert entry["arr"] == 12 * entry["mrr"] and entry["mrr"] > 0
    assert set(body["summary"]) == {f"{p}{m}" for m in metrics for p in ("current-", "previous-")} | {
        f"{m}-percentage-change" for m in metrics
    }


@pytest.mark.parametrize(
    "params,param",
    [
        ({"end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "2023-01-01T00:00:00Z", "end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "2023-01-01", "end-date": "soon"}, "end-date"),
        ({"start-date": "2023-02-01", "end-date": "2023-01-31"}, "start-date"),
        ({"start-date": "2023-01-01", "end-date": "2023-01-31", "interval": "hour"}, "interval"),
    ],
)
def test_metrics_reject_bad_parameters(sandbox, session, params, param):
    for path in METRICS_PATHS:
        response = get(session, sandbox, path, **params)
        assert response.status_code == 400 and response.json()["param"] == param


# --- MRR movements and segments (§7: plans, geo, filters) ------------------------------------------

METRICS_PATHS = ("/v1/metrics/customer-count", "/v1/metrics/all", "/v1/metrics/mrr")
MOVEMENTS = {
    "mrr-new-business": "new_biz",
    "mrr-expansion": "expansion",
    "mrr-contraction": "contraction",
    "mrr-churn": "churn",
    "mrr-reactivation": "reactivation",
}
RANGE = {"start-date": "2021-01-01", "end-date": "2024-12-31", "interval": "quarter"}


def metric_entries(session, sandbox, path, **params):
    response = get(session, sandbox, path, **RANGE, **params)
    assert response.status_code == 200, response.text
    return response.json()["entries"]


def activity_day(activity) -> dt.date:
    return dt.date.fromisoformat(activity["date"][:10])


def mrr_from_activities(dataset, entries, customers=None) -> list[int]:
    """MRR at each entry's date, summed straight from the activities (of `customers` only)."""
    return [
        sum(
            a["activity-mrr-movement"]
            for a in dataset.activities
            if activity_day(a) <= dt.date.fromisoformat(entry["date"])
            and (customers is None or a["customer-uuid"] in customers)
        )
        for entry in entries
    ]


def test_mrr_movements_are_each_type_s_activities_of_the_period_and_add_up(sandbox, session, dataset):
    body = get(session, sandbox, "/v1/metrics/mrr", **RANGE).json()
    entries = body["entries"]
    assert [e["date"][5:] for e in entries[:4]] == ["03-31", "06-30", "09-30", "12-31"]
    assert set(body["summary"]) == {"current", "previous", "percentage-change"}
    assert [e["mrr"] for e in entries] == mrr_from_activities(dataset, entries)
    for previous, entry in zip(entries, entries[1:]):
        start, end = dt.date.fromisoformat(previous["date"]), dt.date.fromisoformat(entry["date"])
        for key, kind in MOVEMENTS.items():
            moved = [a for a in dataset.activities if a["type"] == kind and start < activity_day(a) <= end]
            assert entry[key] == sum(a["activity-mrr-movement"] for a in moved), (entry["date"], key)
        assert entry["mrr"] - previous["mrr"] == sum(entry[key] for key in MOVEMENTS)
        assert entry["mrr-contraction"] <= 0 and entry["mrr-churn"] <= 0 < entry["mrr-expansion"]
    assert all(entry[key] for entry in entries for key in ("mrr-new-business", "mrr-churn"))


def test_geo_computes_every_metric_over_the_customers_of_those_countries(sandbox, session, dataset):
    us = {c["uuid"] for c in dataset.customers if c["country"] == "US"}
    entries = metric_entries(session, sandbox, "/v1/metrics/mrr", geo="US")
    assert [e["mrr"] for e in entries] == mrr_from_activities(dataset, entries, us)
    whole = metric_entries(session, sandbox, "/v1/metrics/mrr")
    assert 0 < entries[-1]["mrr"] < whole[-1]["mrr"]
    for path, key in (("/v1/metrics/customer-count", "customers"), ("/v1/metrics/all", "mrr")):
        both = metric_entries(session, sandbox, path, geo="US,DE")
        apart = [metric_entries(session, sandbox, path, geo=code) for code in ("US", "DE")]
        assert [e[key] for e in both] == [a[key] + b[key] for a, b in zip(*apart)], path


def test_plans_select_by_name_uuid_or_external_id_case_sensitively(sandbox, session, dataset):
    plan = next(p for p in dataset.plans if p["external_id"] == "gold_monthly")
    on_plan = {
        a["customer-uuid"]
        for a in dataset.activities
        if (a["billing-connector-uuid"], a["plan-external-id"]) == (plan["data_source_uuid"], "gold_monthly")
    }
    by_uuid = metric_entries(session, sandbox, "/v1/metrics/mrr", plans=plan["uuid"])
    assert [e["mrr"] for e in by_uuid] == mrr_from_activities(dataset, by_uuid, on_plan)
    assert metric_entries(session, sandbox, "/v1/metrics/mrr", plans="gold_monthly") == by_uuid
    # The name is shared by the plans of that name in every data source: at least as many customers.
    by_name = metric_entries(session, sandbox, "/v1/metrics/customer-count", plans="Gold Monthly")
    by_id = metric_entries(session, sandbox, "/v1/metrics/customer-count", plans="gold_monthly")
    assert all(n["customers"] >= i["customers"] for n, i in zip(by_name, by_id))
    assert by_name != by_id
    nobody = metric_entries(session, sandbox, "/v1/metrics/all", plans="gold monthly")
    assert {e["mrr"] for e in nobody} == {0}


def test_plans_geo_and_filters_all_apply_at_once(sandbox, session, dataset):
    on_plan = dataset.select_customers(plans=["Bronze Annual"])
    in_europe = {c["uuid"] for c in dataset.customers if c["country"] in ("DE", "FR", "GB")}
    not_usd = {c["uuid"] for c in dataset.customers if c["currency"] != "USD"}
    chosen = on_plan & in_europe & not_usd
    # Each of the three narrows what the other two select: all of them apply.
    assert chosen and all(chosen < a & b for a, b in ((on_plan, in_europe), (on_plan, not_usd), (in_europe, not_usd)))
    entries = metric_entries(
        session, sandbox, "/v1/metrics/mrr", plans="Bronze Annual", geo="DE,FR,GB", filters="currency~NONE~'USD'"
    )
    assert [e["mrr"] for e in entries] == mrr_from_activities(dataset, entries, chosen)


def test_cfl_currency_and_region_with_any_and_none(sandbox, session, dataset):
    whole = metric_entries(session, sandbox, "/v1/metrics/all")
    eur = metric_entries(session, sandbox, "/v1/metrics/all", filters="currency~ANY~'EUR'")
    rest = metric_entries(session, sandbox, "/v1/metrics/all", filters="currency~NONE~'EUR'")
    assert [e["mrr"] for e in whole] == [a["mrr"] + b["mrr"] for a, b in zip(eur, rest)]
    assert 0 < eur[-1]["mrr"] < whole[-1]["mrr"]
    region = metric_entries(session, sandbox, "/v1/metrics/mrr", filters="region~ANY~'US','DE'~AND~currency~ANY~'USD'")
    assert region == metric_entries(session, sandbox, "/v1/metrics/mrr", geo="US,DE", filters="currency~ANY~'USD'")


@pytest.mark.parametrize(
    "filters",
    ["mrr~GT~150", "currency~EQ~'EUR'", "currency~ANY~EUR", "currency ANY 'EUR'", "currency~ANY~'EUR'~and~x~ANY~'y'"],
)
def test_cfl_the_sandbox_does_not_support_is_chartmogul_s_400(sandbox, session, filters):
    for path in METRICS_PATHS:
        response = get(session, sandbox, path, **RANGE, filters=filters)
        assert response.status_code == 400, (path, filters)
        body = response.json()
        assert set(body) == {"code", "message", "param"}
        assert body["code"] == 400 and body["param"] == "filters" and body["message"]


# --- faults ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return build_dataset(seed=2, customers=20, activities=60, today=TODAY)


def statuses(sandbox, path, times, **params):
    out = []
    for _ in range(times):
        try:
            response = requests.get(f"{sandbox.url}{path}", params=params, auth=(KEY, ""), timeout=5)
            if response.status_code == 200:
                response.json()
            out.append(response.status_code)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            out.append(type(error).__name__)
        except ValueError:
            out.append("invalid_json")
    return out


def test_server_errors_give_way_after_three_sightings(small):
    with Sandbox(small, faults=Faults(error_rate=1.0)) as sandbox:
        seen = statuses(sandbox, "/v1/ping", 4)
        assert all(s in (500, 502, 504, 520, 524) for s in seen[:3]) and seen[3] == 200
        failure = requests.get(f"{sandbox.url}/v1/plans", auth=(KEY, ""), timeout=5)
        assert failure.headers["content-type"] == "text/plain; charset=utf-8"
        assert failure.text == dict(SERVER_ERRORS)[failure.status_code]  # the proxy's plain text (§3)
        assert sandbox.faults_injected["error"] == 4
        assert requests.get(f"{sandbox.url}/v1/ping", timeout=5).status_code == 401  # auth comes first


@pytest.mark.parametrize(
    "kind,expected",
    [
        ("truncate_rate", "ChunkedEncodingError"),
        ("drop_rate", "ConnectionError"),
        ("invalid_json_rate", "invalid_json"),
        ("rate_429", 429),
    ],
)
def test_each_random_fault_kind(small, kind, expected):
    with Sandbox(small, faults=Faults(**{kind: 1.0})) as sandbox:
        assert statuses(sandbox, "/v1/customers", 4) == [expected] * 3 + [200]
        assert sum(sandbox.faults_injected.values()) == 3
    if kind == "rate_429":
        with Sandbox(small, faults=Faults(rate_429=1.0)) as sandbox:
            response = requests.get(f"{sandbox.url}/v1/ping", auth=(KEY, ""), timeout=5)
            assert response.headers["Retry-After"] == "1"
            assert response.json()["message"] == "Your request rate has exceeded our rate limit."


def test_random_faults_are_reproducible(small):
    def run():
        with Sandbox(small, faults=Faults(seed=9, error_rate=0.3, invalid_json_rate=0.2)) as sandbox:
            return [statuses(sandbox, "/v1/contacts", 1, per_page=n)[0] for n in range(1, 40)]

    first = run()
    assert first == run() and 200 in first and len(set(first)) > 2


def test_rate_limit_is_a_sliding_window(small):
    with Sandbox(small, faults=Faults(rate_limit_rps=5)) as sandbox, requests.Session() as session:
        session.auth = (KEY, "")
        burst = [get(session, sandbox, "/v1/ping").status_code for _ in range(8)]
        assert burst == [200] * 5 + [429] * 3
        time.sleep(1.05)
        assert get(session, sandbox, "/v1/ping").status_code == 200
        assert sandbox.faults_injected["rate_limit"] == 3


def test_parallel_connections_and_latency(small):
    # Five requests at once, each answered after 0.3 s: a third comes while two are still held.
    with Sandbox(small, faults=Faults(latency_ms=300, max_connections=2)) as sandbox:
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(statuses(sandbox, "/v1/ping", 1)[0])) for _ in range(5)
        ]
        began = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - began >= 0.3
        assert sandbox.max_parallel_seen >= 3
        assert results.count(200) >= 1 and 503 in results
        assert sandbox.status_counts[503] == results.count(503) == sandbox.faults_injected["max_connections"]


def test_pages_are_served_fast(sandbox, session):
    get(session, sandbox, "/v1/activities")
    began = time.perf_counter()
    for _ in range(20):
        assert len(get(session, sandbox, "/v1/activities", per_page=200).json()["entries"]) == 200
    assert (time.perf_counter() - began) / 20 < 0.02  # > 10,000 records/s with room to spare


def test_warm_builds_the_lazy_indexes_before_the_first_request():
    dataset = build_dataset(seed=3, customers=20, activities=200)
    sandbox = Sandbox(dataset)

    sandbox.warm()

    assert {"activities_by_uuid", "metrics"} <= set(dataset._cache)
