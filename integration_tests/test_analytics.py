"""Revenue analytics through the CLI: MRR movements, metrics per segment, flat invoice items.

The records of every stream are compared with the sandbox's data set in test_read.py (its
config carries the segments of harness.SEGMENTS); here: what makes those comparisons mean
something, the segments' mistakes, and the invoice items' resumable reads.
"""

from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import Sandbox
from testing.configs import bad_configs

from .harness import (
    API_KEY,
    SEGMENTS,
    assert_same_records,
    catalog,
    config,
    expected_records,
    records_of,
    run_connector,
    run_until,
    segment_customers,
    state_message,
    stream_state,
)

SEGMENTED = ("segment_metrics", "segment_mrr")
# Mistakes of a 'segments' value, with words their message must hold (the unit tests run every case
# of BAD_CONFIGS in-process; each here costs two CLI runs).
REFUSED = bad_configs(
    "segments_not_a_list",
    "segment_without_name",
    "segment_names_twice",
    "segment_without_filter",
    "segment_geo_a_string",
    "segment_geo_not_two_letters",
    "segment_plans_a_string",
    "segment_unknown_key",
)


def test_each_segment_of_the_tests_is_a_real_part_of_the_account(dataset):
    """Else comparing a segment's records with the data set would not show that it was filtered."""
    cfg = config()
    whole = {stream: expected_records(dataset, stream, cfg) for stream in ("metrics", "mrr")}
    for segment in SEGMENTS:
        customers = segment_customers(dataset, segment)
        assert 0 < len(customers) < len(dataset.customers), segment
        for stream, series in (("segment_metrics", "metrics"), ("segment_mrr", "mrr")):
            own = [r for r in expected_records(dataset, stream, cfg) if r["segment"] == segment["name"]]
            assert len(own) == len(whole[series]) and any(r["mrr"] for r in own), (stream, segment)
            assert [r["mrr"] for r in own] != [r["mrr"] for r in whole[series]], (stream, segment)


@pytest.fixture(scope="module")
def refusals(dataset):
    """Check and read with each bad 'segments' value, side by side against a sandbox of their own."""
    with Sandbox(dataset, api_key=API_KEY) as server:

        def attempt(case_id):
            _field, value, _words = REFUSED[case_id]
            cfg = config(segments=value)
            return case_id, (
                run_connector("check", server.url, cfg),
                run_connector("read", server.url, cfg, catalog(("customers", *SEGMENTED))),
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = dict(pool.map(attempt, REFUSED))
        return runs, server.requests


@pytest.mark.parametrize("case_id", REFUSED)
def test_a_bad_segment_fails_check_and_read_before_any_request(refusals, case_id):
    runs, requests = refusals
    check, read = runs[case_id]
    _field, _value, words = REFUSED[case_id]
    words = ["'segments'", *words]
    status = check.connection_status()
    assert status["status"] == "FAILED"
    assert all(word in status["message"] for word in words), status["message"]
    assert read.exit_code == 1
    errors = read.errors()
    assert errors and errors[0]["failure_type"] == "config_error"
    assert errors[0]["message"] == status["message"]
    assert read.records() == []
    for run in (check, read):
        assert "Traceback" not in run.stdout + run.stderr
    assert requests == []


def test_without_segments_the_segment_streams_read_nothing_and_say_so_once(fresh_sandbox, dataset):
    server = fresh_sandbox(dataset=dataset)
    cfg = {key: value for key, value in config().items() if key != "segments"}
    run = run_connector("read", server.url, cfg, catalog(SEGMENTED))
    assert run.exit_code == 0, run.stderr
    assert run.records() == [] and server.requests == []
    for stream in SEGMENTED:
        assert run.statuses(stream) == ["STARTED", "COMPLETE"]
        said = [line for line in run.logs() if line.startswith(f"{stream}:")]
        assert len(said) == 1 and "no segments" in said[0], said


def test_a_segment_chartmogul_rejects_fails_the_read_with_a_config_error_naming_it(sandbox, dataset):
    """The sandbox answers CFL it does not support as ChartMogul answers a bad one: 400, 'filters'."""
    rejected = {"name": "Big accounts", "filters": "mrr~GT~150"}
    cfg = config(segments=[SEGMENTS[0], rejected])
    run = run_connector("read", sandbox.url, cfg, catalog(["segment_mrr"]))
    assert run.exit_code == 1
    errors = run.errors()  # the stream's, then the sync's summary
    assert errors and all(e["failure_type"] == "config_error" for e in errors)
    error = errors[0]
    assert "the 'filters' of segment 'Big accounts' in 'segments'" in error["message"]
    assert "Unsupported filter 'mrr'" in error["message"]  # ChartMogul's own words
    assert "dev.chartmogul.com/docs/cfl" in error["message"]
    assert "Traceback" not in run.stdout + run.stderr


def test_an_interrupted_invoice_line_items_sync_resumes_from_its_page_cursor(sandbox, dataset):
    items = catalog(["invoice_line_items"])
    expected = expected_records(dataset, "invoice_line_items", config())
    committed = run_until(
        sandbox.url,
        config(),
        items,
        lambda ms: (
            state_message(ms[-1], "invoice_line_items") and "cursor" in ms[-1]["state"]["stream"]["stream_state"]
        ),
    )
    first = records_of(committed, "invoice_line_items")
    assert 0 < len(first) < len(expected)
    state = [m for m in committed if state_message(m, "invoice_line_items")][-1]["state"]["stream"]["stream_state"]
    second = run_connector("read", sandbox.url, config(), items, state=[stream_state("invoice_line_items", state)])
    assert second.exit_code == 0, second.stderr
    assert_same_records(first + second.records("invoice_line_items"), expected, "invoice_line_items")
    assert second.states("invoice_line_items")[-1] == {"__ab_full_refresh_sync_complete": True}
