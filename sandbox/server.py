"""A local stand-in for the ChartMogul REST API v1 (read side), served over plain HTTP.

Section numbers (§) refer to `docs/api-notes.md`. Where the doc marks behaviour
UNCONFIRMED this follows its §9 suggestions. Layout: paging (one helper, three cursor styles), the
list endpoints as declarations, the other endpoints, then the HTTP plumbing with auth and faults.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import collections
import datetime as dt
import email.utils
import http
import math
import re
import socket
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson

from .data import (
    ACTIVITY_TYPES,
    INTERVALS,
    Dataset,
    Record,
    build_dataset,
    parse_cfl,
    percentage_change,
    utc_stamp,
)
from .faults import HTML_ERROR_PAGE, Faults, FaultState, echo_message, gzip_bomb

DEFAULT_API_KEY = "sandbox-api-key-0123456789abcdef"
MAX_PER_PAGE = 200  # §4.1: default 200, higher values are clamped to 200
JSON = "application/json"
JSON_RAILS = "application/json; charset=utf-8"  # Rails-served endpoints (§0)
TEXT = "text/plain; charset=utf-8"


class ApiError(Exception):
    """An error response; `body` is sent as JSON."""

    def __init__(self, status: int, body: dict[str, Any]):
        super().__init__(status, body)
        self.status, self.body = status, body


def bad_request(message: str, param: str | None) -> ApiError:
    # 400 body shape is UNCONFIRMED; §3/§9 suggest the gateway's {"code","message","param"}.
    return ApiError(400, {"code": 400, "message": message, "param": param})


def not_found(message: str, param: str) -> ApiError:
    return ApiError(404, {"code": 404, "message": message, "param": param})


# ===================================================================================================
# Paging. Every list endpoint goes through `paginate`; only how a cursor names a position differs.


class _View(Sequence):
    """The window [lo, hi) of a list, optionally reversed, without copying (activities, §6)."""

    __slots__ = ("base", "lo", "hi", "reverse")

    def __init__(self, base: list, lo: int, hi: int, reverse: bool):
        self.base, self.lo, self.hi, self.reverse = base, lo, max(lo, hi), reverse

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, index):
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self))
            if self.reverse:
                return self.base[self.hi - stop : self.hi - start][::-1]
            return self.base[self.lo + start : self.lo + stop]
        if index < 0:
            index += len(self)
        return self.base[self.hi - 1 - index] if self.reverse else self.base[self.lo + index]


class _KeyOrdered:
    """Shared by cursors that name the last record served: the next page starts at the first record
    after that key in serving order. A binary search, so deleted or inserted records are honoured."""

    descending = False

    def key(self, ds: Dataset, record: Record) -> tuple:
        raise NotImplementedError

    def start_after(self, ds: Dataset, seq: Sequence[Record], after: tuple) -> int:
        lo, hi = 0, len(seq)
        while lo < hi:
            mid = (lo + hi) // 2
            k = self.key(ds, seq[mid])
            if (k >= after) if self.descending else (k <= after):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def past_end(self, sent: str, page_number: int) -> str:
        return sent  # nothing after it: the same position stays the answer


@dataclass(frozen=True)
class Keyset(_KeyOrdered):
    """§4.2 keyset cursor: base64 of `<sort timestamp with ns>&<id>` of the last record on the page.

    `stamp` gives a record's sort timestamp (creation time, or customer-since for customers; "" for
    null, which sorts first). `int_id` makes the id part compare as a number, as record ids do.
    """

    stamp: Callable[[Dataset, Record], str]
    id_key: str
    int_id: bool = False
    descending: bool = False

    _SHAPE = re.compile(r"((?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z)?)&(.+)", re.S)

    def key(self, ds: Dataset, record: Record) -> tuple:
        return (self.stamp(ds, record), record[self.id_key])

    def encode(self, ds: Dataset, record: Record) -> str:
        stamp, record_id = self.key(ds, record)
        return base64.b64encode(f"{stamp}&{record_id}".encode()).decode()

    def start(self, ds: Dataset, seq: Sequence[Record], cursor: str, per_page: int) -> int:
        return self.start_after(ds, seq, self._decode(cursor))

    def _decode(self, cursor: str) -> tuple:
        try:
            # A "+" sent unescaped arrives as a space; undo that rather than reject the cursor.
            text = base64.b64decode(cursor.replace(" ", "+"), validate=True).decode()
            match = self._SHAPE.fullmatch(text)
            if match is None:
                raise ValueError(text)
            return (match[1], int(match[2]) if self.int_id else match[2])
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise bad_request("Invalid cursor", "cursor") from None

    def next_cursor(self, ds: Dataset, last: Record, page_number: int) -> str:
        return self.encode(ds, last)


class PageNumber:
    """Customer subscriptions' cursor: base64 of `subscriptions_next_page=N` (§4.2). The first page
    already points at page 2, even when it is the last one; a page past the end points one further."""

    _SHAPE = re.compile(r"subscriptions_next_page=([1-9]\d{0,8})")

    def start(self, ds: Dataset, seq: Sequence[Record], cursor: str, per_page: int) -> int:
        return (self.page_number(cursor) - 1) * per_page

    def page_number(self, cursor: str | None) -> int:
        if cursor is None:
            return 1
        try:
            match = self._SHAPE.fullmatch(base64.b64decode(cursor.replace(" ", "+"), validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            match = None
        if match is None:
            raise bad_request("Invalid cursor", "cursor")
        return int(match[1])

    def _encode(self, page_number: int) -> str:
        return base64.b64encode(f"subscriptions_next_page={page_number}".encode()).decode()

    def next_cursor(self, ds: Dataset, last: Record, page_number: int) -> str:
        return self._encode(page_number + 1)

    def past_end(self, sent: str, page_number: int) -> str:
        return self._encode(page_number + 1)


@dataclass(frozen=True)
class ActivityAnchor(_KeyOrdered):
    """`/v1/activities`: the cursor (and the older `start-after`) is the plain uuid of the last
    activity served (§4.4, §6); the position is that activity's (date, uuid) in the served order."""

    descending: bool = False
    param: str = "cursor"

    def key(self, ds: Dataset, record: Record) -> tuple:
        return (record["date"], record["uuid"])

    def start(self, ds: Dataset, seq: Sequence[Record], cursor: str, per_page: int) -> int:
        anchor = activities_by_uuid(ds).get(cursor)
        if anchor is None:
            raise bad_request(f"Invalid {self.param}", self.param)
        return self.start_after(ds, seq, self.key(ds, anchor))

    def next_cursor(self, ds: Dataset, last: Record, page_number: int) -> str:
        return last["uuid"]


@dataclass
class Page:
    entries: list[Record]
    cursor: str | None
    has_more: bool
    total: int
    per_page: int


def paginate(ds: Dataset, seq: Sequence[Record], paging, per_page: int, cursor: str | None) -> Page:
    """The one paging routine: slice after the cursor's position, then name the new position.

    §4.2: the last page still carries a non-null cursor (stop on `has_more`, not on a null cursor),
    the last page's cursor yields an empty page, and only an empty result has `cursor: null`.
    """
    start = 0 if cursor is None else paging.start(ds, seq, cursor, per_page)
    end = min(start + per_page, len(seq))
    entries = seq[start:end] if start < end else []
    page_number = start // per_page + 1
    if not len(seq):
        next_cursor = None
    elif entries:
        next_cursor = paging.next_cursor(ds, entries[-1], page_number)
    else:
        next_cursor = paging.past_end(cursor, page_number)
    return Page(list(entries), next_cursor, end < len(seq), len(seq), per_page)


def parse_per_page(query: dict[str, str]) -> int:
    # Both spellings appear in official material (§4.4).
    for name in ("per_page", "per-page"):
        if name in query:
            raw = query[name]
            if not re.fullmatch(r"\s*\d{1,9}\s*", raw) or int(raw) < 1:
                raise bad_request(f"Invalid {name}: must be a positive integer", name)
            return min(int(raw), MAX_PER_PAGE)
    return MAX_PER_PAGE


def reject_page_param(query: dict[str, str]) -> None:
    # The deprecated offset paging (§4.3); the body is the one the Python client's tests mock (§3).
    if "page" in query:
        raise bad_request('Parameter "page" is deprecated', "page")


# ---------------------------------------------------------------------------------------------------
# Envelopes (§4.2): first pages (no cursor sent) of formerly offset-paged endpoints keep their
# deprecated fields, later pages carry only `cursor` and `has_more`.


def _total_pages(page: Page) -> int:
    return max(1, -(-page.total // page.per_page))


def envelope(style: str, key: str, page: Page, first: bool, seq: Sequence[Record]) -> dict:
    if not first:
        if style == "activities":
            return {key: page.entries, "has_more": page.has_more, "cursor": page.cursor}
        return {key: page.entries, "cursor": page.cursor, "has_more": page.has_more}
    if style == "customers":
        return {
            key: page.entries,
            "current_page": 1,
            "total_pages": _total_pages(page),
            "has_more": page.has_more,
            "per_page": page.per_page,
            "page": 1,
            "cursor": page.cursor,
        }
    if style == "rails":
        return {
            key: page.entries,
            "current_page": 1,
            "total_pages": _total_pages(page),
            "cursor": page.cursor,
            "has_more": page.has_more,
        }
    if style == "events":
        # next_key = id of the page's last event, before_key = newest creation time (§4.2 recording).
        meta = {
            "next_key": page.entries[-1]["id"] if page.has_more else None,
            "prev_key": None,
            "before_key": seq[0]["created_at"].replace("Z", ".000Z") if len(seq) else None,
            "page": 1,
            "total_pages": _total_pages(page),
        }
        return {key: page.entries, "meta": meta, "cursor": page.cursor, "has_more": page.has_more}
    if style == "subscriptions":
        return {
            key: page.entries,
            "has_more": page.has_more,
            "per_page": page.per_page,
            "page": 1,
            "cursor": page.cursor,
        }
    if style == "activities":
        return {key: page.entries, "has_more": page.has_more, "per_page": page.per_page, "cursor": page.cursor}
    return {key: page.entries, "cursor": page.cursor, "has_more": page.has_more}  # new endpoints


# ===================================================================================================
# List endpoints as declarations.


def _created(ds: Dataset, record: Record, id_key: str = "uuid") -> str:
    return ds.sort_stamps.get(str(record[id_key]), "")


def by_creation(id_key: str = "uuid", int_id: bool = False) -> Keyset:
    """Newest created first, as recorded for plans, invoices, contacts and subscription events (§4.2);
    the doc is silent for the others, which follow the same rule."""
    return Keyset(lambda ds, r: _created(ds, r, id_key), id_key, int_id, descending=True)


@dataclass(frozen=True)
class Listing:
    envelope_key: str
    records: Callable[[Dataset, re.Match], list[Record]]
    paging: Any
    style: str = "plain"
    filters: dict[str, str] = field(default_factory=dict)  # query parameter -> record field
    content_type: str = JSON


def _customer_subscriptions(ds: Dataset, match: re.Match) -> list[Record]:
    subscriptions = ds.customer_subscriptions.get(match["uuid"])
    if subscriptions is None:
        raise not_found("Customer not found", "customer_uuid")
    return subscriptions


def _plan_group_plans(ds: Dataset, match: re.Match) -> list[Record]:
    plans = ds.plan_group_plans.get(match["uuid"])
    if plans is None:
        raise not_found("Plan group not found", "plan_group_uuid")
    return plans


LISTINGS: dict[str, Listing] = {
    r"/v1/customers": Listing(
        "entries",
        lambda ds, m: ds.customers,
        # §4.2: keyset on customer-since (UTC) then id, ascending; null customer-since sorts first.
        Keyset(lambda ds, r: utc_stamp(r["customer-since"]), "id", int_id=True),
        "customers",
        {"data_source_uuid": "data_source_uuid", "external_id": "external_id", "status": "status", "email": "email"},
    ),
    r"/v1/customers/(?P<uuid>[^/]+)/subscriptions": Listing(
        "entries", _customer_subscriptions, PageNumber(), "subscriptions"
    ),
    r"/v1/plans": Listing(
        "plans",
        lambda ds, m: ds.plans,
        by_creation(),
        "rails",
        {"data_source_uuid": "data_source_uuid", "external_id": "external_id"},
        JSON_RAILS,
    ),
    r"/v1/plan_groups": Listing(
        "plan_groups", lambda ds, m: ds.plan_groups, by_creation(), "rails", content_type=JSON_RAILS
    ),
    r"/v1/plan_groups/(?P<uuid>[^/]+)/plans": Listing(
        "plans", _plan_group_plans, by_creation(), "rails", content_type=JSON_RAILS
    ),
    r"/v1/invoices": Listing(
        "invoices",
        lambda ds, m: ds.invoices,
        by_creation(),
        "rails",
        {"customer_uuid": "customer_uuid", "data_source_uuid": "data_source_uuid", "external_id": "external_id"},
        JSON_RAILS,
    ),
    r"/v1/subscription_events": Listing(
        "subscription_events",
        lambda ds, m: ds.subscription_events,
        by_creation("id", int_id=True),
        "events",
        {
            "data_source_uuid": "data_source_uuid",
            "customer_external_id": "customer_external_id",
            "subscription_external_id": "subscription_external_id",
            "external_id": "external_id",
            "event_type": "event_type",
            "plan_external_id": "plan_external_id",
        },
    ),
    r"/v1/contacts": Listing(
        "entries",
        lambda ds, m: ds.contacts,
        by_creation(),
        "plain",
        {
            "customer_uuid": "customer_uuid",
            "data_source_uuid": "data_source_uuid",
            "email": "email",
            "customer_external_id": "customer_external_id",
        },
    ),
    r"/v1/customer_notes": Listing(
        "entries",
        lambda ds, m: ds.customer_notes,
        by_creation(),
        "plain",
        {"customer_uuid": "customer_uuid", "type": "type"},
    ),
    r"/v1/opportunities": Listing(
        "entries",
        lambda ds, m: ds.opportunities,
        by_creation(),
        "plain",
        {
            "customer_uuid": "customer_uuid",
            "owner": "owner",
            "pipeline": "pipeline",
            "pipeline_stage": "pipeline_stage",
        },
    ),
    r"/v1/tasks": Listing(
        "entries",
        lambda ds, m: ds.tasks,
        by_creation("task_uuid"),
        "plain",
        {"customer_uuid": "customer_uuid", "assignee": "assignee"},
    ),
}


def _filter_value(listing_field: str, value: str) -> str:
    # Status filters are documented with underscores (`New_Lead`) while records say "New Lead" (§5.3).
    return value.replace("_", " ") if listing_field == "status" else value


def serve_listing(ds: Dataset, listing: Listing, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    reject_page_param(query)
    per_page = parse_per_page(query)
    records = listing.records(ds, match)
    wanted = [(f, _filter_value(f, query[p])) for p, f in listing.filters.items() if p in query]
    if wanted:
        records = [r for r in records if all(r.get(f) == v for f, v in wanted)]
    cursor = query.get("cursor")
    page = paginate(ds, records, listing.paging, per_page, cursor)
    return 200, listing.content_type, envelope(listing.style, listing.envelope_key, page, cursor is None, records)


# ===================================================================================================
# Activities (§6).


def activities_by_uuid(ds: Dataset) -> dict[str, Record]:
    return ds.derived("activities_by_uuid", ds.activities, lambda: {a["uuid"]: a for a in ds.activities})


def _activities_of_type(ds: Dataset, kind: str | None) -> list[Record]:
    if kind is None:
        return ds.activities
    return ds.derived(f"activities_{kind}", ds.activities, lambda: [a for a in ds.activities if a["type"] == kind])


_DATETIME = re.compile(r"(\d{4}-\d\d-\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?(Z|[+-]\d\d:?\d\d)?")


def _activity_bound(query: dict[str, str], name: str, end: bool) -> str | None:
    """A `YYYY-MM-DD` or ISO-8601 datetime bound as the comparable `date` string of an activity.

    Both bounds are inclusive (UNCONFIRMED in §10; inclusive loses nothing). A bare end date covers
    that whole day; a datetime without offset is read as UTC.
    """
    for spelling in (name, name.replace("-", "_")):  # `start_date` appears in docs' examples (§4.4)
        if spelling not in query:
            continue
        raw = query[spelling]
        try:
            if re.fullmatch(r"\d{4}-\d\d-\d\d", raw):
                moment = dt.datetime.combine(
                    dt.date.fromisoformat(raw), dt.time(23, 59, 59) if end else dt.time(), dt.timezone.utc
                )
            elif match := _DATETIME.fullmatch(raw):
                day, hour, minute, second, fraction, offset = match.groups()
                zone = dt.timezone.utc
                if offset and offset != "Z":
                    sign = -1 if offset[0] == "-" else 1
                    digits = offset[1:].replace(":", "")
                    zone = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
                moment = dt.datetime.combine(
                    dt.date.fromisoformat(day), dt.time(int(hour), int(minute), int(second or 0)), zone
                )
                if fraction and int(fraction) and not end:  # activity dates are whole seconds
                    moment += dt.timedelta(seconds=1)
            else:
                raise ValueError(raw)
            return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        except (ValueError, OverflowError):
            raise bad_request(f"Invalid date format for {spelling}", spelling) from None
    return None


def serve_activities(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    reject_page_param(query)
    per_page = parse_per_page(query)
    kind = query.get("type")
    if kind is not None and kind not in ACTIVITY_TYPES:
        raise bad_request(f'Invalid type "{kind}"', "type")
    order = query.get("order", "date")
    if order not in ("date", "-date"):
        raise bad_request(f'Invalid order "{order}"', "order")
    start = _activity_bound(query, "start-date", end=False)
    end = _activity_bound(query, "end-date", end=True)
    base = _activities_of_type(ds, kind)
    date_of = lambda a: a["date"]  # noqa: E731 - all activity dates share one format, so strings sort by time
    lo = bisect.bisect_left(base, start, key=date_of) if start else 0
    hi = bisect.bisect_right(base, end, key=date_of) if end else len(base)
    seq = _View(base, lo, hi, reverse=order == "-date")
    cursor, param = query.get("cursor"), "cursor"
    if cursor is None and "start-after" in query:
        cursor, param = query["start-after"], "start-after"
    page = paginate(ds, seq, ActivityAnchor(descending=order == "-date", param=param), per_page, cursor)
    return 200, JSON, envelope("activities", "entries", page, cursor is None, seq)


# ===================================================================================================
# Metrics (§7): not paginated; required YYYY-MM-DD bounds; entries at period ends.


def _metric_date(query: dict[str, str], name: str) -> dt.date:
    if name not in query:
        raise bad_request(f'Parameter "{name}" is missing', name)
    raw = query[name]
    try:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d", raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise bad_request(f"Invalid date format for {name}, expected YYYY-MM-DD", name) from None


def _metric_range(query: dict[str, str]) -> tuple[dt.date, dt.date, str]:
    start, end = _metric_date(query, "start-date"), _metric_date(query, "end-date")
    if start > end:
        raise bad_request("start-date must not be after end-date", "start-date")
    interval = query.get("interval", "day")  # 2016 recordings default to daily (§7); today's default UNCONFIRMED
    if interval not in INTERVALS:
        raise bad_request(f'Invalid interval "{interval}", expected one of {", ".join(INTERVALS)}', "interval")
    return start, end, interval


def _summary_pair(entries: list[Record], key: str) -> tuple[Any, Any]:
    """Summary semantics are UNCONFIRMED (§7): current = last entry, previous = the one before it
    (the doc's example: 382 vs 379); a single entry compares with itself."""
    if not entries:
        return 0, 0
    return entries[-1][key], entries[-2][key] if len(entries) > 1 else entries[-1][key]


def _metric_customers(ds: Dataset, query: dict[str, str]) -> frozenset[str] | None:
    """The customers that `plans`, `geo` and `filters` select (§7; comma-separated lists), or None."""

    def listed(name: str) -> list[str]:
        return [value for value in query.get(name, "").split(",") if value]

    try:
        filters = parse_cfl(query["filters"]) if query.get("filters") else []
    except ValueError as error:
        raise bad_request(str(error), "filters") from None
    return ds.select_customers(listed("plans"), listed("geo"), filters)


def serve_customer_count(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    entries = ds.customer_count(*_metric_range(query), _metric_customers(ds, query))
    current, previous = _summary_pair(entries, "customers")
    summary = {"current": current, "previous": previous, "percentage-change": percentage_change(current, previous)}
    return 200, JSON, {"entries": entries, "summary": summary}


ALL_METRICS = ("mrr", "arr", "customer-churn-rate", "mrr-churn-rate", "ltv", "customers", "asp", "arpa")


def serve_metrics_all(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    entries = ds.metrics_all(*_metric_range(query), _metric_customers(ds, query))
    summary: dict[str, Any] = {}
    for metric in ALL_METRICS:
        current, previous = _summary_pair(entries, metric)
        summary[f"current-{metric}"] = current
        summary[f"previous-{metric}"] = previous
        summary[f"{metric}-percentage-change"] = percentage_change(current, previous)
    return 200, JSON, {"entries": entries, "summary": summary}


def serve_metrics_mrr(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    entries = ds.metrics_mrr(*_metric_range(query), _metric_customers(ds, query))
    current, previous = _summary_pair(entries, "mrr")
    summary = {"current": current, "previous": previous, "percentage-change": percentage_change(current, previous)}
    return 200, JSON, {"entries": entries, "summary": summary}


# ===================================================================================================
# Small endpoints.

ACCOUNT_SETTINGS = {  # §5.1 `include` values and the shapes the Python client's tests use
    "churn_recognition": "churn_at_time_of_cancelation",
    "churn_when_zero_mrr": False,
    "auto_churn_subscription": False,
    "refund_handling": "refund_ignore",
    "proximate_movement_reclassification": "one_hour_reclassification",
}


def serve_ping(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    return 200, JSON, {"data": "pong!"}


def serve_account(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    account = dict(ds.account)
    for name in filter(None, query.get("include", "").split(",")):
        if name not in ACCOUNT_SETTINGS:
            # Shape from the Node client's test (§3); not a {"code",...} body.
            raise ApiError(400, {"message": f"Invalid include parameter: {name}"})
        account[name] = ACCOUNT_SETTINGS[name]
    return 200, JSON_RAILS, account


def serve_data_sources(ds: Dataset, match: re.Match, query: dict[str, str]) -> tuple[int, str, Any]:
    sources = [
        s
        for s in ds.data_sources
        if query.get("name", s["name"]) == s["name"] and query.get("system", s["system"]) == s["system"]
    ]
    if query.get("with_processing_status") == "true":
        sources = [
            {
                **s,
                "processing_status": {
                    "processed": 0 if s["status"] == "never_imported" else 1,
                    "failed": 0,
                    "pending": 0,
                },
            }
            for s in sources
        ]
    if query.get("with_auto_churn_subscription_setting") == "true":
        sources = [{**s, "auto_churn_subscription_setting": {"enabled": False, "interval": None}} for s in sources]
    return 200, JSON, {"data_sources": sources}  # §5.2: not paginated


def _listing_route(listing: Listing):
    return lambda ds, match, query: serve_listing(ds, listing, match, query)


ROUTES: list[tuple[re.Pattern, Callable]] = [
    (re.compile(r"/v1/ping"), serve_ping),
    (re.compile(r"/v1/account"), serve_account),
    (re.compile(r"/v1/data_sources"), serve_data_sources),
    (re.compile(r"/v1/activities"), serve_activities),
    (re.compile(r"/v1/metrics/customer-count"), serve_customer_count),
    (re.compile(r"/v1/metrics/all"), serve_metrics_all),
    (re.compile(r"/v1/metrics/mrr"), serve_metrics_mrr),
    *((re.compile(pattern), _listing_route(listing)) for pattern, listing in LISTINGS.items()),
]


# ===================================================================================================
# HTTP plumbing.


@dataclass(frozen=True)
class LoggedRequest:
    """One handled request. The Authorization header is deliberately not kept."""

    method: str
    path: str
    query: dict[str, str]
    status: int  # 0 when the connection was dropped without a response
    fault: str | None = None
    started: float = 0.0  # time.monotonic() when handling began
    duration: float = 0.0


@dataclass
class _Response:
    status: int
    content_type: str = JSON
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    fault: str | None = None
    mode: str = "normal"  # "normal" | "truncate" | "drop" | "trickle"


def _json(status: int, body: Any, content_type: str = JSON, **kw) -> _Response:
    return _Response(status, content_type, orjson.dumps(body), **kw)


UNAUTHORIZED = {"code": 401, "message": "No valid API key provided", "param": None}  # §1, recorded
RATE_LIMITED = {"code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None}  # §2.1
TOO_PARALLEL = {"code": 503, "message": "Too many parallel connections", "param": None}  # §2.1, shape UNCONFIRMED
RETRY_AFTER = (("Retry-After", "1"),)  # not documented (§2.1) but honoured by Python/Ruby clients (§2.2)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries a Content-Length
    server_version = "chartmogul-sandbox"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # One write per response plus no Nagle delay keeps keep-alive round trips sub-millisecond.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.server.sandbox._handle(self)  # type: ignore[attr-defined]

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address, sandbox: Sandbox):
        self.sandbox = sandbox
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request, client_address):
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)


class Sandbox:
    """The fake API server. `start()` returns the base URL (paths are under `/v1`)."""

    def __init__(
        self,
        dataset: Dataset | None = None,
        api_key: str = DEFAULT_API_KEY,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.dataset = dataset if dataset is not None else build_dataset()
        self.api_key = api_key
        self.faults = faults or Faults()
        self.host, self.port = host, port
        self._fault_state = FaultState(self.faults)
        self._lock = threading.Lock()
        self._log: list[LoggedRequest] = []
        self.status_counts: collections.Counter[int] = collections.Counter()
        self.in_flight = 0
        self.max_parallel_seen = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> str:
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self.url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="chartmogul-sandbox", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._server.sockets_lock:
            for sock in list(self._server.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._server = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def warm(self) -> None:
        """Builds the indexes the first requests would otherwise build (by uuid, for activities'
        cursors; the metrics' running sums), so that the first reader does not pay for them."""
        activities_by_uuid(self.dataset)
        self.dataset._metrics_index()

    # -- observation -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    @property
    def faults_injected(self) -> dict[str, int]:
        return dict(self._fault_state.injected)

    def reset_log(self) -> None:
        """Forget logged requests, status counts and the parallelism peak (not fault counters)."""
        with self._lock:
            self._log.clear()
            self.status_counts.clear()
            self.max_parallel_seen = self.in_flight

    # -- request handling ------------------------------------------------------------------------

    def _authorized(self, header: str | None) -> bool:
        # §1: Basic auth, key as username, password empty or the key again.
        if not header or not header[:6].lower() == "basic ":
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user == self.api_key and password in ("", self.api_key)

    def _handle(self, handler: _Handler) -> None:
        began = time.monotonic()
        with self._lock:
            self.in_flight += 1
            self.max_parallel_seen = max(self.max_parallel_seen, self.in_flight)
            in_flight = self.in_flight
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        response = _Response(500, TEXT, b"500 Internal Server Error")
        try:
            length = int(handler.headers.get("Content-Length") or 0)
            if length:
                handler.rfile.read(length)
            if self.faults.latency_ms:
                time.sleep(self.faults.latency_ms / 1000)
            response = self._respond(
                handler.command, split.path, query, handler.headers.get("Authorization"), in_flight
            )
        except Exception:  # a sandbox bug must show up as a 500, not a hung client
            traceback.print_exc()
        finally:
            with self._lock:
                self.in_flight -= 1
        status = 0 if response.mode == "drop" else response.status
        with self._lock:  # logged before sending, so a client that got its answer sees it logged
            self._log.append(
                LoggedRequest(
                    handler.command, split.path, query, status, response.fault, began, time.monotonic() - began
                )
            )
            self.status_counts[status] += 1
        self._send(handler, response)

    def _respond(
        self, method: str, path: str, query: dict[str, str], authorization: str | None, in_flight: int
    ) -> _Response:
        if not self._authorized(authorization):
            return _json(401, UNAUTHORIZED)
        faults, state = self.faults, self._fault_state
        if faults.max_connections is not None and in_flight > faults.max_connections:
            state.count("max_connections")
            return _json(503, TOO_PARALLEL, fault="max_connections")
        if state.over_rate_limit(self.api_key):
            state.count("rate_limit")
            return _json(429, RATE_LIMITED, headers=self._retry_after(), fault="rate_limit")
        decision = state.decide(method, path, query)
        if decision is not None and decision.kind in ("rate_429", "error", "drop", "echo_key"):
            state.count(decision.kind)
            if decision.kind == "rate_429":
                return _json(429, RATE_LIMITED, headers=self._retry_after(), fault="rate_429")
            if decision.kind == "error":
                return _Response(decision.status, TEXT, decision.body.encode(), fault="error")
            if decision.kind == "echo_key":
                return self._echo_key()
            return _Response(0, fault="drop", mode="drop")
        response = self._route(method, path, query)
        if decision is not None and response.status == 200:  # body faults only spoil successes
            state.count(decision.kind)
            response.fault = decision.kind
            if decision.kind in ("truncate", "trickle"):
                response.mode = decision.kind
            elif decision.kind == "gzip_bomb":
                response.body = gzip_bomb(faults.gzip_bomb_mib)
                response.headers += (("Content-Encoding", "gzip"),)
            else:  # invalid_json: a proxy's HTML error page under a JSON content type
                response.body = HTML_ERROR_PAGE
        return response

    def _retry_after(self) -> tuple[tuple[str, str], ...]:
        if not self.faults.retry_after_date:
            return RETRY_AFTER
        # An HTTP date has whole seconds: round up, so that it is never sooner than the seconds form.
        return (("Retry-After", email.utils.formatdate(math.ceil(time.time()) + 1, usegmt=True)),)

    def _echo_key(self) -> _Response:
        """An error quoting the key: JSON from the API's layer for a 4xx, the proxy's plain text for a 5xx."""
        status, message = self.faults.echo_key_status, echo_message(self.api_key, self.faults.echo_key_at)
        if status >= 500:
            return _Response(status, TEXT, message.encode(), fault="echo_key")
        return _json(status, {"code": status, "message": message, "param": None}, fault="echo_key")

    def _route(self, method: str, path: str, query: dict[str, str]) -> _Response:
        for pattern, serve in ROUTES:  # noqa: B007 (used after the loop)
            match = pattern.fullmatch(path)
            if match is not None:
                break
        else:
            return _json(404, {"error": "Not found"})  # the Rails-style 404 body (§3)
        if method != "GET":
            return _json(405, {"error": "Method not allowed"}, headers=(("Allow", "GET"),))
        paging = self._fault_state.paging
        if paging is not None and not paging.applies(path):
            paging = None
        try:
            status, content_type, body = serve(self.dataset, match, paging.before(query) if paging else query)
        except ApiError as error:
            return _json(error.status, error.body)
        if paging is not None and status == 200 and isinstance(body, dict) and "has_more" in body:
            changed = paging.after(path, query, body)
            if changed is not None:
                self._fault_state.count(paging.mode)
                return _json(status, changed, content_type, fault=paging.mode)
        return _json(status, body, content_type)

    def _send(self, handler: _Handler, response: _Response) -> None:
        if response.mode == "drop":
            handler.close_connection = True
            return
        close = response.mode in ("truncate", "trickle") or handler.command != "GET" or handler.close_connection
        reason = _reason(response.status)
        head = [
            f"HTTP/1.1 {response.status} {reason}",
            f"Content-Type: {response.content_type}",
            f"Content-Length: {len(response.body)}",
        ]
        head += [f"{name}: {value}" for name, value in response.headers]
        if close:
            head.append("Connection: close")
            handler.close_connection = True
        body = response.body
        if response.mode == "truncate":
            body = body[: len(body) // 2]  # the promised length never arrives; then the socket closes
        if handler.command == "HEAD":
            body = b""
        if response.mode == "trickle":
            self._trickle(handler, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), body)
            return
        handler.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _trickle(self, handler: _Handler, head: bytes, body: bytes) -> None:
        """The head at once, then the body a byte at a time, until it is all sent or the client leaves."""
        pause = 1.0 / self.faults.trickle_bytes_per_second
        try:
            handler.wfile.write(head)
            for index in range(len(body)):
                time.sleep(pause)
                handler.wfile.write(body[index : index + 1])
        except OSError:
            pass  # the client gave up: that is what a trickle is for


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return {520: "Unknown Error", 524: "A Timeout Occurred"}.get(status, "Error")
