"""activities.py: date windows, both paging styles, exactly-once records, state in every format."""

import threading
from datetime import datetime, timedelta, timezone

import pytest
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.test.entrypoint_wrapper import read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.test.state_builder import StateBuilder
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import activities as a
from source_chartmogul import cdk
from source_chartmogul.activities import WINDOWS, Activities, read_state
from source_chartmogul.base import MAX_EMPTY_PAGES
from source_chartmogul.source import SourceChartmogul
from testing.configs import BASE_URL, CONFIG
from testing.records import ACTIVITY
from unit_tests.conftest import catalog, page, query, settings

UTC = timezone.utc
NOW = datetime(2024, 6, 15, 12, 30, 45, tzinfo=UTC)
START = datetime(2023, 1, 1, tzinfo=UTC)  # CONFIG's start_date
URL = BASE_URL + "/v1/activities"
API_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def activity(n: int, date: datetime) -> dict:
    """The docs' example (docs/api-notes.md §6), the n-th of its kind on `date`."""
    return {
        **ACTIVITY,
        "date": date.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "subscription-external-id": f"sub_{n:04d}",
        "subscription-set-external-id": None,
        "customer-uuid": f"cus_{n:04d}",
        "customer-external-id": f"cus_ext_{n:04d}",
        "uuid": f"act-{n:05d}",
    }


def api_time(value: str) -> datetime:
    return datetime.strptime(value, API_FORMAT).replace(tzinfo=UTC)


class FakeActivities:
    """GET /v1/activities: the activities with start-date <= date <= end-date (both ends inclusive,
    the worst case for duplicates), oldest first unless told otherwise, `page_size` a page.

    paging="cursor": an opaque cursor in every answer, even the last (§4.2).
    paging="numbered": cursors page-1, page-2...: every window hands the same ones.
    paging="start_after": no cursor in the answer; the client pages with start-after=<last uuid> (§4.4).
    """

    def __init__(self, activities, page_size=3, paging="cursor", ignore_end=False, newest_first=False, cursor_key=True):
        self.activities = sorted(activities, key=lambda r: r["date"])
        self.page_size = page_size
        self.paging = paging
        self.ignore_end = ignore_end
        self.newest_first = newest_first
        self.cursor_key = cursor_key

    def __call__(self, request, context):
        return self.answer(query(request))

    def answer(self, q: dict) -> dict:
        start = api_time(q["start-date"])
        end = api_time(q["end-date"]) if "end-date" in q else None
        rows = [
            r
            for r in self.activities
            if start <= a.parse_datetime(r["date"])
            and (self.ignore_end or end is None or a.parse_datetime(r["date"]) <= end)
        ]
        if self.newest_first:
            rows.reverse()
        after = None
        skipped = 0
        if "cursor" in q and self.paging == "numbered":
            skipped = int(q["cursor"].removeprefix("page-")) * self.page_size
            rows = rows[skipped:]
        elif "cursor" in q:
            assert self.paging == "cursor", "a cursor was sent to an API that gave none"
            after = q["cursor"].removeprefix("opaque-")
        elif "start-after" in q:
            after = q["start-after"]
        if after is not None:
            rows = rows[[r["uuid"] for r in rows].index(after) + 1 :]
        entries, rest = rows[: self.page_size], rows[self.page_size :]
        body = {"entries": entries, "has_more": bool(rest), "per_page": self.page_size}
        if self.paging == "cursor":
            body["cursor"] = f"opaque-{entries[-1]['uuid']}" if entries else "opaque-end"
        elif self.paging == "numbered":
            body["cursor"] = f"page-{skipped // self.page_size + 1}"
        elif self.cursor_key:
            body["cursor"] = None
        return body


def serve(api, activities=(), **kwargs) -> FakeActivities:
    fake = FakeActivities(list(activities), **kwargs)
    api.get(URL, json=fake)
    return fake


class Misbehaving(FakeActivities):
    """FakeActivities whose chains of pages go wrong, in each date window:

    fault="repeat": a page asked for with a cursor hands that same cursor back, has_more true.
    fault="cycle": the second page says has_more true; every later one hands the first page's
    cursor again (A -> B -> A).
    fault="endless_empty": where the window would end, empty pages with fresh cursors, forever.
    fault="ignore_start_after": the first page again, whatever start-after says.
    fault="empty_between": before each page asked for with a cursor, an empty page that says
    has_more true, whose cursor leads on to that page.

    After `cap` answers a window ends (has_more false), so that a connector that misses a loop
    fails the test with duplicates rather than hanging it.
    """

    def __init__(self, activities, fault, cap=40, **kwargs):
        super().__init__(activities, **kwargs)
        self.fault, self.cap = fault, cap
        self.lock = threading.Lock()
        self.calls: dict = {}
        self.first_cursor: dict = {}

    def answer(self, q: dict) -> dict:
        window = (q["start-date"], q.get("end-date"))
        with self.lock:
            self.calls[window] = self.calls.get(window, 0) + 1
            if self.calls[window] > self.cap:
                return {"entries": [], "has_more": False, "cursor": None}
        cursor = q.get("cursor")
        if self.fault == "empty_between":
            if cursor is None:
                return super().answer(q)
            if cursor.startswith("before-"):
                return super().answer({**q, "cursor": cursor.removeprefix("before-")})
            return {"entries": [], "has_more": True, "cursor": "before-" + cursor}
        if self.fault == "endless_empty":
            if cursor is not None and cursor.startswith("empty-"):
                return {"entries": [], "has_more": True, "cursor": f"empty-{int(cursor[6:]) + 1}"}
            body = super().answer(q)
            return body if body["has_more"] else {**body, "has_more": True, "cursor": "empty-1"}
        if self.fault == "ignore_start_after":
            return super().answer({k: v for k, v in q.items() if k != "start-after"})
        body = super().answer(q)
        if cursor is None:
            if body["has_more"]:
                self.first_cursor[window] = body["cursor"]
            return body
        if self.fault == "repeat":
            return {**body, "cursor": cursor, "has_more": True}
        first = self.first_cursor.setdefault(window, cursor)  # cycle
        return {**body, "has_more": True} if cursor == first else {**body, "cursor": first, "has_more": True}


def stream(now=NOW, **overrides) -> Activities:
    return Activities(settings(**overrides), now=now)


def each_record(s: Activities, sync_mode=SyncMode.full_refresh):
    """The records of read_records, one by one as their pages (lists) come."""
    for batch in s.read_records(sync_mode):
        assert type(batch) is list  # the state's markers stay inside the stream
        yield from batch


def read_all(s: Activities, sync_mode=SyncMode.full_refresh) -> list:
    return list(each_record(s, sync_mode))


def first_pages(api) -> list:
    return [r for r in api.request_history if "cursor" not in query(r) and "start-after" not in query(r)]


def windows_asked(api) -> list[tuple[datetime, datetime | None]]:
    """(start-date, end-date or None when not sent) of every window's first request, oldest first."""
    asked = [(api_time(query(r)["start-date"]), query(r).get("end-date")) for r in first_pages(api)]
    return sorted(((start, end and api_time(end)) for start, end in asked), key=lambda window: window[0])


def boundaries(api) -> list[datetime]:
    """Where each window starts: a second after the start-date it asks for."""
    return [start + timedelta(seconds=1) for start, _ in windows_asked(api)]


# --- windows ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start,end",
    [
        (START, NOW),
        (NOW - timedelta(hours=5), NOW),
        (NOW - timedelta(days=3, seconds=7), NOW),
        (datetime(2015, 1, 1, tzinfo=UTC), NOW),
    ],
)
def test_windows_cover_the_range_without_gaps_or_overlaps(start, end):
    windows = list(a._windows(start, end))

    assert windows[0]["start"] == start
    assert windows[-1]["end"] == end
    for before, after in zip(windows, windows[1:]):
        assert before["end"] == after["start"]
    assert all(w["start"] < w["end"] for w in windows)


@pytest.mark.parametrize(
    "seconds", [WINDOWS * 86400 * 3 + 5, WINDOWS * 86400 * 100 + WINDOWS - 1, 365 * 86400 * 11 + 4321]
)
def test_a_long_range_is_cut_into_exactly_windows_windows_without_a_sliver(seconds):
    windows = list(a._windows(NOW - timedelta(seconds=seconds), NOW))

    assert len(windows) == WINDOWS
    assert windows[-1]["end"] == NOW


def test_no_window_when_there_is_nothing_to_read():
    assert list(a._windows(NOW, NOW)) == []
    assert list(a._windows(NOW + timedelta(days=1), NOW)) == []


def test_requests_cover_start_to_now_with_one_second_early_starts(api):
    serve(api)

    read_all(stream(), SyncMode.incremental)

    asked = windows_asked(api)
    assert len(asked) >= 1
    for request in first_pages(api):
        q = query(request)
        assert q["per_page"] == "200"
        assert q["start-date"] == api_time(q["start-date"]).strftime(API_FORMAT)  # YYYY-MM-DDTHH:MM:SSZ
        assert q["end-date"] == api_time(q["end-date"]).strftime(API_FORMAT)
    starts = boundaries(api)
    assert asked[0][0] == START - timedelta(seconds=1)
    assert len(set(starts)) == len(starts)
    for (_, end), next_start in zip(asked, starts[1:] + [NOW.replace(microsecond=0)]):
        assert next_start <= end <= next_start + timedelta(seconds=1)  # no gap; at most the one-second margin


def test_a_full_refresh_asks_for_everything_from_now_on_after_the_windows_up_to_now(api):
    serve(api)
    read_all(stream(), SyncMode.incremental)
    up_to_now = windows_asked(api)
    api.reset_mock()

    read_all(stream(), SyncMode.full_refresh)

    assert all(end is not None and end <= NOW + timedelta(seconds=1) for _, end in up_to_now)
    assert windows_asked(api) == up_to_now + [(NOW.replace(microsecond=0) - timedelta(seconds=1), None)]


def test_windows_are_read_in_parallel_but_emitted_oldest_first(api):
    serve(api)
    read_all(stream())
    days = (NOW - START).days
    served = [activity(i, START + timedelta(days=i, hours=1)) for i in range(0, days, 7)]
    api.reset_mock()
    serve(api, served, page_size=2)

    records = read_all(stream())

    assert records == served
    assert len(first_pages(api)) > 1


# --- paging -------------------------------------------------------------------------------------


def seven_in_one_window(api) -> list:
    """Seven activities of one second, an hour into the first window, whatever the window size.

    One second: a first page then gives no density to split the window by, so it pages on.
    """
    serve(api)
    read_all(stream())
    first_end = (boundaries(api)[1:] or [NOW])[0]
    api.reset_mock()
    assert START + timedelta(hours=2) < first_end
    return [activity(i, START + timedelta(hours=1)) for i in range(7)]


def test_pages_by_cursor_when_the_answer_has_one_and_stops_on_has_more_false(api):
    served = seven_in_one_window(api)
    serve(api, served, page_size=3, paging="cursor")

    assert read_all(stream()) == served

    pages = [
        query(r)
        for r in api.request_history
        if r.path == "/v1/activities" and ("cursor" in query(r) or "start-after" in query(r))
    ]
    assert [p.get("cursor") for p in pages] == ["opaque-act-00002", "opaque-act-00005"]
    assert all("start-after" not in p for p in pages)
    first = [query(r) for r in first_pages(api)][0]
    for p in pages:  # the window stays the same while paging
        assert (p["start-date"], p["end-date"], p["per_page"]) == (first["start-date"], first["end-date"], "200")


@pytest.mark.parametrize("cursor_key", [True, False], ids=["cursor_null", "no_cursor_key"])
def test_pages_by_start_after_when_the_answer_has_no_cursor(api, cursor_key):
    served = seven_in_one_window(api)
    serve(api, served, page_size=3, paging="start_after", cursor_key=cursor_key)

    assert read_all(stream()) == served

    pages = [query(r) for r in api.request_history if "start-after" in query(r)]
    assert [p["start-after"] for p in pages] == ["act-00002", "act-00005"]
    assert all("cursor" not in p for p in pages)


def test_stops_on_has_more_false_even_with_a_cursor(api):
    served = seven_in_one_window(api)
    serve(api, served, page_size=10, paging="cursor")

    records = read_all(stream())

    assert records == served
    assert not any("cursor" in query(r) for r in api.request_history)  # one page per window, the last had a cursor


# --- exactly once, never past now -----------------------------------------------------------------


def test_a_record_on_a_window_boundary_is_emitted_once(api):
    serve(api)
    read_all(stream())
    inner = boundaries(api)[1:]
    assert inner, "expected more than one window from 2023-01-01 to 2024-06-15"
    served = [activity(i, boundary) for i, boundary in enumerate(inner)]
    served += [activity(1000 + i, boundary - timedelta(seconds=1)) for i, boundary in enumerate(inner)]
    api.reset_mock()
    serve(api, served, page_size=50)

    records = read_all(stream())

    assert sorted(r["uuid"] for r in records) == sorted(r["uuid"] for r in served)
    assert len(records) == len(served)


SCHEDULED = [  # dated from the moment of the read on: scheduled cancellations, plan changes
    activity(4, NOW.replace(microsecond=0)),
    activity(5, NOW + timedelta(seconds=1)),
    activity(6, datetime(2099, 1, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(
    "sync_mode,emitted",
    [
        (SyncMode.incremental, ["act-00001", "act-00002"]),
        (SyncMode.full_refresh, ["act-00001", "act-00002", "act-00004", "act-00005", "act-00006"]),
    ],
)
def test_records_before_start_date_are_never_emitted_and_scheduled_ones_only_in_a_full_refresh(api, sync_mode, emitted):
    inside = [activity(1, START), activity(2, NOW - timedelta(seconds=1))]
    before = [activity(3, START - timedelta(seconds=1))]
    serve(api, inside + before + SCHEDULED, ignore_end=True, page_size=50)

    records = read_all(stream(), sync_mode)

    assert [r["uuid"] for r in records] == emitted


def test_a_full_refresh_pages_through_many_scheduled_activities_and_its_state_stays_at_now(api):
    scheduled = [activity(i, NOW + timedelta(days=i, hours=1)) for i in range(11)]  # 4 pages of 3
    past = [activity(100, NOW - timedelta(days=3))]
    serve(api, past + scheduled, page_size=3)
    s = stream()

    records = read_all(s, SyncMode.full_refresh)

    assert records == past + scheduled
    assert s.state == {"date": NOW.replace(microsecond=0).isoformat()}
    open_window = [query(r) for r in api.request_history if "end-date" not in query(r)]
    assert len(open_window) == 4 and all(
        q["start-date"] == api_time_of(NOW - timedelta(seconds=1)) for q in open_window
    )


def api_time_of(value: datetime) -> str:
    return value.strftime(API_FORMAT)


def test_records_pass_through_untouched(api):
    record = activity(7, NOW - timedelta(days=2))
    serve(api, [record])

    assert read_all(stream()) == [record]
    assert read_all(stream())[0]["subscription-set-external-id"] is None


# --- state ---------------------------------------------------------------------------------------

STATE_TIME = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "state",
    [
        {"date": "2024-01-02T03:04:05Z"},
        {"date": "2024-01-02T03:04:05+00:00"},
        {"date": "2024-01-02T03:04:05.000Z"},
        {"date": "2024-01-02T05:04:05+02:00"},
        {"date": 1704164645000},
        {"date": 1704164645},
        {
            "state_type": "date-range",
            "slices": [{"start": "2023-01-01T00:00:00.000Z", "end": "2024-01-02T03:04:05.000Z"}],
        },
        {
            "state_type": "date-range",
            "slices": [
                {
                    "start": "2023-01-01T00:00:00.000Z",
                    "end": "2024-01-02T03:04:05.000Z",
                    "most_recent_cursor_value": "2024-01-02T03:04:05.000Z",
                }
            ],
        },
    ],
    ids=["z", "offset", "millis_z", "other_offset", "epoch_ms", "epoch_s", "date_range", "date_range_most_recent"],
)
def test_read_state_understands_every_format(state):
    assert read_state(state) == STATE_TIME


@pytest.mark.parametrize("state", [None, {}])
def test_no_state_is_no_cursor(state):
    assert read_state(state) is None


@pytest.mark.parametrize(
    "state",
    [
        {"date": "garbage"},
        {"date": ""},
        {"date": None},
        {"date": True},
        {"date": {"nested": 1}},
        {"foo": 1},
        [{"date": "2024-01-02T03:04:05Z"}],
        "2024-01-02T03:04:05Z",
        {"state_type": "date-range", "slices": "2024-01-02"},
        {"state_type": "date-range", "slices": [{"start": "2023-01-01T00:00:00Z"}]},
        {"state_type": "date-range", "slices": [{"end": "garbage"}]},
        {"state_type": "date-range", "slices": ["2024-01-02T03:04:05Z"]},
    ],
)
def test_malformed_state_is_a_config_error(state):
    with pytest.raises(AirbyteTracedException) as caught:
        read_state(state)

    assert caught.value.failure_type == FailureType.config_error
    assert "activities" in caught.value.message
    assert "Reset" in caught.value.message


def test_date_range_state_with_a_gap_resumes_before_the_gap():
    """The CDK's own reading (AbstractStreamStateConverter._get_latest_complete_time): only the
    first contiguous interval counts as read; a later slice past a gap does not."""
    state = {
        "state_type": "date-range",
        "slices": [
            {"start": "2023-01-01T00:00:00.000Z", "end": "2023-02-01T00:00:00.000Z"},
            {"start": "2023-06-01T00:00:00.000Z", "end": "2023-07-01T00:00:00.000Z"},
        ],
    }
    assert read_state(state) <= datetime(2023, 2, 1, tzinfo=UTC)


def test_state_setter_and_getter_round_trip():
    s = stream()
    s.state = {"date": "2024-01-02T03:04:05.000Z"}
    assert read_state(s.state) == STATE_TIME
    s.state = {}
    assert s.state == {}


@pytest.mark.parametrize(
    "lookback,state,first_start",
    [
        (3, "2024-06-10T06:00:00Z", datetime(2024, 6, 7, 5, 59, 59, tzinfo=UTC)),
        (0, "2024-06-10T06:00:00Z", datetime(2024, 6, 10, 5, 59, 59, tzinfo=UTC)),
        (30, "2023-01-05T00:00:00Z", START - timedelta(seconds=1)),  # never before the start date
    ],
    ids=["lookback_days_before_the_state", "zero_lookback_at_the_state", "never_before_start_date"],
)
def test_an_incremental_read_starts_the_lookback_before_the_state(api, lookback, state, first_start):
    serve(api)
    s = stream(lookback_window_days=lookback)
    s.state = {"date": state}

    read_all(s, SyncMode.incremental)

    assert windows_asked(api)[0][0] == first_start


def test_full_refresh_ignores_state(api):
    serve(api)
    s = stream()
    s.state = {"date": "2024-06-10T06:00:00Z"}

    read_all(s, SyncMode.full_refresh)

    assert windows_asked(api)[0][0] == START - timedelta(seconds=1)


def test_final_state_is_now_even_when_records_are_dated_later(api):
    serve(api, [activity(1, NOW - timedelta(days=1)), activity(2, datetime(2099, 1, 1, tzinfo=UTC))], ignore_end=True)
    s = stream()

    records = read_all(s, SyncMode.incremental)

    assert [r["uuid"] for r in records] == ["act-00001"]
    assert read_state(s.state) == NOW.replace(microsecond=0)


def test_a_state_in_the_future_is_not_kept_past_now(api):
    """ChartMogul dates some activities in the future (the module's docstring); a state taken
    from such a record, e.g. by the published 1.x connector, must not freeze the stream."""
    serve(api, [activity(1, NOW - timedelta(hours=1))])
    s = stream(lookback_window_days=3)
    s.state = {"date": (NOW + timedelta(days=10)).isoformat()}

    records = read_all(s, SyncMode.incremental)

    assert read_state(s.state) <= NOW
    assert [r["uuid"] for r in records] == ["act-00001"]


# --- through the CLI: state messages ---------------------------------------------------------------


def _state_value(message) -> datetime | None:
    return read_state(message.state.stream.stream_state.__dict__)


def test_cli_incremental_read_checkpoints_at_least_every_200_records_and_never_ahead(api):
    now = datetime.now(UTC)
    span = (now - START).total_seconds()
    served = [activity(i, START + timedelta(seconds=span * (i + 0.5) / 450)) for i in range(450)]
    serve(api, served, page_size=200)

    output = read(SourceChartmogul(), CONFIG, catalog("activities", sync_mode=SyncMode.incremental))

    assert output.errors == []
    messages = [m for m in output.records_and_state_messages]
    assert [m.record.data["uuid"] for m in messages if m.record] == [r["uuid"] for r in served]
    since_state, emitted = 0, []
    states = []
    for message in messages:
        if message.record:
            since_state += 1
            emitted.append(message.record.data)
            assert since_state <= 200
        else:
            since_state = 0
            value = _state_value(message)
            states.append(value)
            # A checkpoint says "every activity before this was read": it must be true.
            assert all(r["uuid"] in {e["uuid"] for e in emitted} for r in served if a.parse_datetime(r["date"]) < value)
    assert len(states) >= 3
    assert states == sorted(states)
    assert states[-1] <= datetime.now(UTC)
    assert states[-1] >= now.replace(microsecond=0) - timedelta(seconds=1)


def test_cli_checkpoint_is_never_ahead_when_a_window_comes_newest_first(api):
    """The API's default order is unconfirmed (docs/api-notes.md §6) and the connector does not ask
    for one: the state must stay true whatever the order."""
    now = datetime.now(UTC)
    served = [activity(i, now - timedelta(hours=3) + timedelta(seconds=i)) for i in range(300)]
    serve(api, served, page_size=200, newest_first=True)
    config = {**CONFIG, "start_date": (now - timedelta(hours=6)).strftime(API_FORMAT)}

    output = read(SourceChartmogul(), config, catalog("activities", sync_mode=SyncMode.incremental))

    emitted = set()
    for message in output.records_and_state_messages:
        if message.record:
            emitted.add(message.record.data["uuid"])
            continue
        value = _state_value(message)
        missing = [r["uuid"] for r in served if a.parse_datetime(r["date"]) < value and r["uuid"] not in emitted]
        assert missing == [], f"state {value} claims {len(missing)} activities not yet emitted"


def test_cli_incremental_read_with_state_starts_at_state_minus_lookback(api):
    serve(api)
    state = StateBuilder().with_stream_state("activities", {"date": "2024-03-10T00:00:00Z"}).build()

    output = read(
        SourceChartmogul(),
        {**CONFIG, "lookback_window_days": 2},
        catalog("activities", sync_mode=SyncMode.incremental),
        state,
    )

    assert output.errors == []
    assert windows_asked(api)[0][0] == datetime(2024, 3, 7, 23, 59, 59, tzinfo=UTC)
    assert output.state_messages, "no final state"


def test_cli_full_refresh_of_activities_ignores_state(api):
    serve(api)
    state = StateBuilder().with_stream_state("activities", {"date": "2024-03-10T00:00:00Z"}).build()

    read(SourceChartmogul(), CONFIG, catalog("activities"), state)

    assert windows_asked(api)[0][0] == START - timedelta(seconds=1)


def test_cli_read_with_malformed_state_fails_with_config_error_and_no_request(api):
    serve(api)
    state = StateBuilder().with_stream_state("activities", {"date": "garbage"}).build()

    output = read(
        SourceChartmogul(),
        CONFIG,
        catalog("activities", sync_mode=SyncMode.incremental),
        state,
        expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION,
    )

    errors = [m.trace.error for m in output.errors]
    assert errors and all(e.failure_type == FailureType.config_error for e in errors)
    assert any("activities" in e.message and "garbage" in e.message for e in errors)
    assert api.request_history == []
    assert "INCOMPLETE" in [s.name for s in output.get_stream_statuses("activities")]


def test_a_window_of_more_than_a_page_splits_and_every_activity_arrives_once(api):
    # 2,000 activities ten minutes apart from the start: dense first windows, on several pages.
    served = [activity(i, START + timedelta(minutes=10 * i)) for i in range(2000)]
    serve(api, served, page_size=200, paging="cursor")

    s = stream()
    records = read_all(s, SyncMode.incremental)

    assert [r["uuid"] for r in records] == [a["uuid"] for a in served]
    assert len(first_pages(api)) > WINDOWS  # the first cut was split into more windows
    starts = [start for start, _ in windows_asked(api)]
    assert len(starts) == len(set(starts))
    assert s.state == {"date": NOW.isoformat()}


def test_a_window_split_at_its_first_page_asks_for_no_next_page_when_the_cdk_asks_again(api):
    """The split is decided as the page is parsed; the CDK's later ask for the next page gets the
    answer given then (PageChains), not one worked out again without knowing of the split."""
    served = [activity(i, START + timedelta(hours=i)) for i in range(3)]
    del served[-1]["uuid"]  # no cursor either: a next page could not be asked for
    api.get(URL, json={"entries": served, "has_more": True, "cursor": None})
    s = stream()
    window = {"start": START, "end": START + timedelta(days=10), "first_page": True}
    response = cdk.session(s).get(URL + "?per_page=200")

    s.parse_response(response, stream_slice=window)

    assert "split_at" in window
    assert s.next_page_token(response) is None


@pytest.mark.parametrize("date", [None, "yesterday", 20240101], ids=["missing", "garbage", "not_a_string"])
def test_an_activity_without_a_valid_date_is_a_clear_error_naming_it(api, date):
    served = [activity(i, START + timedelta(hours=1)) for i in range(3)]
    if date is None:
        del served[1]["date"]
    else:
        served[1]["date"] = date
    api.get(URL, json=page(served))

    with pytest.raises(AirbyteTracedException, match="an activity without a valid 'date'") as raised:
        read_all(stream())
    assert "GET /v1/activities?per_page=200&start-date=" in raised.value.message
    assert "activity 2 of 3 on the page, uuid 'act-00001'" in raised.value.message
    assert (f"its date is {date!r}" if date is not None else "no date") in raised.value.message
    assert not isinstance(raised.value.__cause__, KeyError)


def test_an_activity_without_a_date_or_a_uuid_is_named_by_its_place(api):
    served = [activity(0, START + timedelta(hours=1)), {"type": "churn"}]
    api.get(URL, json=page(served))

    with pytest.raises(AirbyteTracedException) as raised:
        read_all(stream())
    assert "activity 2 of 2 on the page, no uuid: no date" in raised.value.message


def test_paging_by_start_after_from_a_last_activity_without_a_uuid_is_a_clear_error(api):
    served = seven_in_one_window(api)
    del served[2]["uuid"]
    serve(api, served, page_size=3, paging="start_after")

    with pytest.raises(AirbyteTracedException) as raised:
        read_all(stream())

    message = raised.value.message
    assert "GET /v1/activities?per_page=200&start-date=" in message
    assert "no 'uuid' on the page's last activity (activity 3 of 3 on the page, no uuid)" in message
    assert "start-after" in message
    assert not isinstance(raised.value.__cause__, KeyError)


def test_an_empty_page_that_says_there_is_more_without_a_cursor_is_a_clear_error(api):
    api.get(URL, json=page([], has_more=True))

    with pytest.raises(AirbyteTracedException) as raised:
        read_all(stream())

    assert "GET /v1/activities?per_page=200&start-date=" in raised.value.message
    assert "an empty page, has_more true and no cursor" in raised.value.message


# --- chains of pages that loop, never end, or pause -------------------------------------------------


def misbehave(api, activities, fault, **kwargs) -> Misbehaving:
    fake = Misbehaving(list(activities), fault, **kwargs)
    api.get(URL, json=fake)
    return fake


def read_until_failure(s: Activities, sync_mode=SyncMode.full_refresh) -> tuple[list, AirbyteTracedException]:
    read: list = []
    with pytest.raises(AirbyteTracedException) as raised:
        for record in each_record(s, sync_mode):
            read.append(record)
    return read, raised.value


@pytest.mark.parametrize(
    "fault,paging,read_before,looping,handed",
    [
        ("repeat", "cursor", 3, "cursor=opaque-act-00002", "cursor 'opaque-act-00002'"),
        ("cycle", "cursor", 6, "cursor=opaque-act-00005", "cursor 'opaque-act-00002'"),
        ("ignore_start_after", "start_after", 3, "start-after=act-00002", "start-after 'act-00002'"),
    ],
)
def test_a_window_whose_pages_loop_fails_naming_the_request_before_any_duplicate(
    api, fault, paging, read_before, looping, handed
):
    served = seven_in_one_window(api)
    misbehave(api, served, fault, page_size=3, paging=paging)

    records, error = read_until_failure(stream())

    # What went out is what was served, once; never more than was read before the loop showed.
    assert records == served[: len(records)] and len(records) <= read_before
    assert "GET /v1/activities?per_page=200&start-date=" in error.message and looping in error.message
    assert handed in error.message and "already given" in error.message
    pages = [(query(r)["start-date"], query(r).get("cursor"), query(r).get("start-after")) for r in api.request_history]
    assert len(pages) == len(set(pages))  # no page asked for twice


def test_a_window_of_endless_empty_pages_fails_at_the_bound(api):
    served = seven_in_one_window(api)
    misbehave(api, served, "endless_empty", page_size=3)

    records, error = read_until_failure(stream())

    assert records == served[: len(records)]
    assert f"cursor=empty-{MAX_EMPTY_PAGES}" in error.message
    assert f"{MAX_EMPTY_PAGES} empty pages in a row" in error.message


def test_windows_may_hand_the_same_cursors(api):
    """The memory is per window: windows read at once, each paging by page-1, page-2..."""
    serve(api)
    read_all(stream())
    starts = boundaries(api)[:-1]  # the windows up to now
    api.reset_mock()
    assert len(starts) > 2
    served = [activity(100 * w + i, start + timedelta(hours=1)) for w, start in enumerate(starts) for i in range(7)]
    serve(api, served, page_size=3, paging="numbered")

    assert read_all(stream()) == served
    assert len([r for r in api.request_history if query(r).get("cursor") == "page-2"]) == len(starts)


def test_an_empty_page_in_the_middle_of_a_window_is_paged_past(api):
    served = seven_in_one_window(api)
    misbehave(api, served, "empty_between", page_size=3)

    assert read_all(stream()) == served
    assert [query(r)["cursor"] for r in api.request_history if "cursor" in query(r)] == [
        "opaque-act-00002",
        "before-opaque-act-00002",
        "opaque-act-00005",
        "before-opaque-act-00005",
    ]


def test_empty_pages_in_the_middle_of_windows_lose_nothing_and_the_state_never_skips(api):
    start = NOW - timedelta(hours=12)  # one window, which splits into parts read page by page
    served = [activity(i, start + timedelta(seconds=30 * i)) for i in range(1000)]
    misbehave(api, served, "empty_between", page_size=200)
    s = stream(start_date=start.strftime(API_FORMAT))

    emitted = set()
    for record in each_record(s, SyncMode.incremental):
        emitted.add(record["uuid"])
        state = a.parse_datetime(s.state["date"]) if s.state else START
        skipped = [r["uuid"] for r in served if a.parse_datetime(r["date"]) < state and r["uuid"] not in emitted]
        assert skipped == [], f"the state {state} claims {len(skipped)} activities not yet emitted"

    assert emitted == {r["uuid"] for r in served}
    assert s.state == {"date": NOW.isoformat()}
    assert any(query(r).get("cursor", "").startswith("before-") for r in api.request_history)


def test_the_state_reaches_each_page_s_last_date_once_its_records_are_out(api):
    """Not only window ends: within one window of several pages the state follows page by page."""
    start = NOW - timedelta(hours=12)  # shorter than the shortest window: one window
    served = [activity(i, start + timedelta(seconds=30 * i)) for i in range(1000)]
    serve(api, served, page_size=200)
    s = stream(start_date=start.strftime(API_FORMAT))

    seen = []
    for record in each_record(s, SyncMode.incremental):
        seen.append(record)
        state = a.parse_datetime(s.state["date"]) if s.state else None
        assert state is None or state <= a.parse_datetime(record["date"])  # never ahead
        if len(seen) > 201:  # never more than a page behind
            assert state >= a.parse_datetime(seen[-202]["date"]), len(seen)
    assert [r["uuid"] for r in seen] == [r["uuid"] for r in served]
