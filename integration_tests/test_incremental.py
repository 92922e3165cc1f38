"""Incremental activities and resumable full refresh, against the sandbox."""

from datetime import datetime, timedelta, timezone

import pytest

from testing.streams import catalog

from .harness import (
    assert_same_records,
    config,
    expected_records,
    interrupted_at_a_page,
    last_state,
    parse_datetime,
    records_of,
    run_connector,
    run_until,
    state_message,
    stream_state,
)

INCREMENTAL = catalog(["activities"], incremental=["activities"])
LOOKBACK = 3


def test_incremental_from_nothing_reads_everything_up_to_now(sandbox, dataset):
    before = datetime.now(timezone.utc)
    run = run_connector("read", sandbox.url, config(), INCREMENTAL)
    after = datetime.now(timezone.utc)
    assert run.exit_code == 0, run.stderr
    got = run.records("activities")
    future = [a for a in dataset.activities if parse_datetime(a["date"]) > after]
    assert future, "the sandbox should serve activities dated in the future"
    assert_same_records(got, expected_records(dataset, "activities", config(), until=before), "activities")
    final = parse_datetime(run.states("activities")[-1]["date"])
    assert before - timedelta(seconds=1) <= final <= after  # up to now, never past it
    assert len(run.states("activities")) >= len(got) // 200  # at least one checkpoint a page


def test_a_second_read_from_the_final_state_returns_only_the_lookback_window(sandbox, dataset):
    first = run_connector("read", sandbox.url, config(), INCREMENTAL)
    final_state = first.states("activities")[-1]
    second = run_connector("read", sandbox.url, config(), INCREMENTAL, state=[stream_state("activities", final_state)])
    assert second.exit_code == 0, second.stderr
    since = parse_datetime(final_state["date"]) - timedelta(days=LOOKBACK)
    expected = expected_records(dataset, "activities", config(), since=since, until=parse_datetime(final_state["date"]))
    got = second.records("activities")
    assert len(got) < len(first.records("activities")) / 10
    assert got[: len(expected)] == expected[: len(got)] or expected == []
    assert all(parse_datetime(r["date"]) >= since for r in got)


@pytest.mark.parametrize("form", ["+00:00", "Z", ".000Z"])
def test_a_read_from_a_mid_way_state_misses_nothing(sandbox, dataset, form):
    middle = dataset.activities[len(dataset.activities) // 2]["date"]
    stamp = parse_datetime(middle)
    value = stamp.strftime("%Y-%m-%dT%H:%M:%S") + form
    before = datetime.now(timezone.utc)
    run = run_connector("read", sandbox.url, config(), INCREMENTAL, state=[stream_state("activities", {"date": value})])
    assert run.exit_code == 0, run.stderr
    since = stamp - timedelta(days=LOOKBACK)
    assert_same_records(
        run.records("activities"),
        expected_records(dataset, "activities", config(), since=since, until=before),
        "activities",
    )


def test_a_state_never_reads_before_the_start_date(sandbox, dataset):
    cfg = config(start_date="2022-01-01T00:00:00Z")
    run = run_connector(
        "read", sandbox.url, cfg, INCREMENTAL, state=[stream_state("activities", {"date": "2022-01-02T00:00:00+00:00"})]
    )
    assert run.exit_code == 0, run.stderr
    dates = [parse_datetime(r["date"]) for r in run.records("activities")]
    assert dates and min(dates) >= datetime(2022, 1, 1, tzinfo=timezone.utc)


def test_the_concurrent_cdks_state_format_is_read(sandbox, dataset):
    middle = dataset.activities[len(dataset.activities) // 2]["date"]
    state = {
        "state_type": "date-range",
        "slices": [
            {"start": "2017-01-25T00:00:00.000Z", "end": parse_datetime(middle).strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        ],
    }
    run = run_connector("read", sandbox.url, config(), INCREMENTAL, state=[stream_state("activities", state)])
    assert run.exit_code == 0, run.stderr
    since = parse_datetime(middle) - timedelta(days=LOOKBACK)
    assert min(parse_datetime(r["date"]) for r in run.records("activities")) >= since


def test_a_malformed_state_is_a_clear_error_not_a_full_reread(sandbox):
    run = run_connector(
        "read", sandbox.url, config(), INCREMENTAL, state=[stream_state("activities", {"date": "yesterday-ish"})]
    )
    assert run.exit_code == 1
    assert run.records("activities") == []
    error = run.errors()[0]
    assert error["failure_type"] == "config_error" and "state of the activities stream" in error["message"]
    assert "Traceback" not in run.stdout + run.stderr


def test_an_interrupted_activities_sync_resumes_with_at_most_a_page_to_redo(sandbox, dataset):
    before = datetime.now(timezone.utc)
    committed = run_until(
        sandbox.url,
        config(),
        INCREMENTAL,
        lambda ms: state_message(ms[-1], "activities") and len(records_of(ms, "activities")) >= 1000,
    )
    first = records_of(committed, "activities")
    state = last_state(committed, "activities")
    second = run_connector(
        "read", sandbox.url, config(lookback_window_days=0), INCREMENTAL, state=[stream_state("activities", state)]
    )
    rest = second.records("activities")
    expected = expected_records(dataset, "activities", config(), until=before)
    uuids = [r["uuid"] for r in first] + [r["uuid"] for r in rest]
    assert set(uuids) == {r["uuid"] for r in expected}
    assert len(uuids) - len(set(uuids)) <= 200


def test_a_legacy_state_file_of_older_cdks_is_read(sandbox, dataset):
    middle = dataset.activities[len(dataset.activities) // 2]["date"]
    before = datetime.now(timezone.utc)
    run = run_connector("read", sandbox.url, config(), INCREMENTAL, state={"activities": {"date": middle}})
    assert run.exit_code == 0, run.stdout[-2000:]
    since = parse_datetime(middle) - timedelta(days=LOOKBACK)
    assert_same_records(
        run.records("activities"),
        expected_records(dataset, "activities", config(), since=since, until=before),
        "activities",
    )


@pytest.mark.parametrize(
    "stream",
    [
        "customers",
        "customer_subscriptions",  # its checkpoints are at a page of the parents, the customers
        "invoice_line_items",  # at a page of invoices
    ],
)
def test_an_interrupted_full_refresh_resumes_from_its_page_cursor(sandbox, dataset, stream):
    expected = expected_records(dataset, stream, config())
    first, state = interrupted_at_a_page(sandbox.url, config(), stream)
    assert 0 < len(first) < len(expected)

    second = run_connector("read", sandbox.url, config(), catalog([stream]), state=[stream_state(stream, state)])

    assert second.exit_code == 0, second.stderr
    assert_same_records(first + second.records(stream), expected, stream)
    assert second.states(stream)[-1] == {"__ab_full_refresh_sync_complete": True}
