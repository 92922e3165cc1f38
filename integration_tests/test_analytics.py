"""Revenue analytics through the CLI: metrics and MRR movements per segment.

The records of every stream are compared with the sandbox's data set in test_read.py (its
config carries the segments of harness.SEGMENTS), the invoice items' resumable reads are in
test_incremental.py, the mistakes of a 'segments' value in test_reliability.py; here: what makes
those comparisons mean something, no segments, and a segment ChartMogul rejects.
"""

from testing.streams import SEGMENT_STREAMS, catalog

from .harness import SEGMENTS, config, expected_records, run_connector, segment_customers

SEGMENTED = tuple(SEGMENT_STREAMS)


def test_each_segment_of_the_tests_is_a_real_part_of_the_account(dataset):
    """Else comparing a segment's records with the data set would not show that it was filtered."""
    cfg = config()
    whole = {stream: expected_records(dataset, stream, cfg) for stream in ("metrics", "mrr")}
    for segment in SEGMENTS:
        customers = segment_customers(dataset, segment)
        assert 0 < len(customers) < len(dataset.customers), segment
        for stream, series in SEGMENT_STREAMS.items():
            own = [r for r in expected_records(dataset, stream, cfg) if r["segment"] == segment["name"]]
            assert len(own) == len(whole[series]) and any(r["mrr"] for r in own), (stream, segment)
            assert [r["mrr"] for r in own] != [r["mrr"] for r in whole[series]], (stream, segment)


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


def test_check_fails_on_a_segment_chartmogul_rejects_naming_it(sandbox):
    """Before any sync: check asks for a day of each segment, with the read's parameters."""
    rejected = {"name": "Big accounts", "filters": "mrr~GT~150"}
    run = run_connector("check", sandbox.url, config(segments=[SEGMENTS[0], rejected]))
    assert run.exit_code == 0
    status = run.connection_status()
    assert status["status"] == "FAILED"
    assert "the 'filters' of segment 'Big accounts' in 'segments'" in status["message"]
    assert "Unsupported filter 'mrr'" in status["message"]
    assert "Traceback" not in run.stdout + run.stderr
