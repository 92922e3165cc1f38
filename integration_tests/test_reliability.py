"""A flaky API, bad input and secrets: the CLI against a sandbox that misbehaves on purpose."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import read as entrypoint_read

from sandbox import Faults, Sandbox
from source_chartmogul import SourceChartmogul, transport
from testing.configs import SANDBOX_API_KEY, bad_configs, key_forms, with_field
from testing.streams import SEGMENT_STREAMS, catalog

from .harness import assert_same_records, config, expected_records, run_connector

SYNCED = ("customers", "activities", "customer_count", "invoices")

# Rates high enough that every kind surely happens in a sync of some forty requests (the
# sandbox never faults the same request a third time, so every sync can get through).
FAULTS = {
    "latency": Faults(latency_ms=60),
    "rate_limit": Faults(rate_limit_rps=15),
    "random_429": Faults(rate_429=0.3),
    "parallel_connections": Faults(max_connections=3, latency_ms=200),
    "server_errors": Faults(error_rate=0.3),
    "truncated_bodies": Faults(truncate_rate=0.3),
    "dropped_connections": Faults(drop_rate=0.3),
    "invalid_json": Faults(invalid_json_rate=0.3),
}
INJECTED = {  # the sandbox's counter that proves each fault happened
    "rate_limit": "rate_limit",
    "random_429": "rate_429",
    "parallel_connections": "max_connections",
    "server_errors": "error",
    "truncated_bodies": "truncate",
    "dropped_connections": "drop",
    "invalid_json": "invalid_json",
}


@pytest.mark.parametrize("kind", FAULTS)
def test_a_flaky_api_loses_and_doubles_nothing(fresh_sandbox, kind):
    server = fresh_sandbox(faults=FAULTS[kind])
    run = run_connector("read", server.url, config(), catalog(SYNCED))
    assert run.exit_code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.errors() == []
    for stream in SYNCED:
        assert_same_records(run.records(stream), expected_records(server.dataset, stream, config()), stream)
    if kind in INJECTED:
        assert server.faults_injected.get(INJECTED[kind], 0) > 0, server.faults_injected
    if kind == "latency":  # requests really overlap: streams and date windows are read in parallel
        assert server.max_parallel_seen > 1


# Some of the mistakes the unit tests run in-process, with words their message must hold (each
# here costs two CLI runs).
REFUSED = bad_configs(
    "start_date_impossible_date",
    "start_date_free_text",
    "start_date_without_time",
    "start_date_in_future",
    "interval_unknown",
    "api_key_empty",
    "api_key_missing",
    "segments_not_a_list",
    "segment_without_name",
    "segment_names_twice",
    "segment_without_filter",
    "segment_geo_a_string",
    "segment_geo_not_two_letters",
    "segment_plans_a_string",
    "segment_unknown_key",
)


@pytest.fixture(scope="module")
def refusals(dataset):
    """Check and read with each bad config, side by side against a sandbox of their own."""
    with Sandbox(dataset, api_key=SANDBOX_API_KEY) as server:

        def attempt(case_id):
            field, value, _words = REFUSED[case_id]
            cfg = with_field(config(), field, value)
            return case_id, (
                run_connector("check", server.url, cfg),
                run_connector("read", server.url, cfg, catalog(("customers", *SEGMENT_STREAMS))),
            )

        with ThreadPoolExecutor(max_workers=2) as pool:
            runs = dict(pool.map(attempt, REFUSED))
        return runs, server.requests


@pytest.mark.parametrize("case_id", REFUSED)
def test_a_bad_config_fails_check_and_read_before_any_request(refusals, case_id):
    runs, requests = refusals
    check, read = runs[case_id]
    field, _value, words = REFUSED[case_id]
    status = check.connection_status()
    assert status["status"] == "FAILED"
    for word in [f"'{field}'", *words]:
        assert word in status["message"], (word, status["message"])
    assert read.exit_code == 1
    errors = read.errors()
    assert errors and errors[0]["failure_type"] == "config_error"
    assert errors[0]["message"] == status["message"]
    assert read.records() == []
    for run in (check, read):
        assert "Traceback" not in run.stdout + run.stderr
    assert requests == []


def test_a_rejected_key_ends_the_read_with_one_config_error(fresh_sandbox):
    server = fresh_sandbox()
    run = run_connector(
        "read",
        server.url,
        config(api_key="revoked-key-0123456789abcdefghij"),
        catalog(("customers", "activities", "customer_count", "plans", "contacts")),
    )
    assert run.exit_code == 1
    stream_errors = [e for e in run.errors() if e.get("stream_descriptor")]
    assert len(stream_errors) == 1, stream_errors
    assert stream_errors[0]["failure_type"] == "config_error"
    assert "rejected the API key" in stream_errors[0]["message"]
    assert all(error["failure_type"] == "config_error" for error in run.errors())
    for stream in ("customers", "activities", "customer_count", "plans", "contacts"):
        assert run.statuses(stream)[-1] == "INCOMPLETE"
    assert "Traceback" not in run.stdout + run.stderr


def test_an_answer_that_stays_broken_fails_with_a_clear_transient_error(fresh_sandbox, monkeypatch):
    """In-process, with fast retries: the same path as the CLI without waiting minutes of backoff."""
    monkeypatch.setattr(transport, "DEFAULT_RETRIES", transport.RetryPolicy(base_delay=0.01, max_attempts=4))
    server = fresh_sandbox()
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", server.url)
    server.dataset.account = None  # the sandbox then fails with a plain-text 500 every time
    output = entrypoint_read(
        SourceChartmogul(),
        config(),
        ConfiguredAirbyteCatalogSerializer.load(catalog(["account", "plans"])),
        expecting_exception=True,
    )
    statuses = {
        m.trace.stream_status.stream_descriptor.name: m.trace.stream_status.status.value
        for m in output.trace_messages
        if m.trace.stream_status
    }
    assert statuses == {"account": "INCOMPLETE", "plans": "COMPLETE"}  # one broken stream does not sink the others
    error = [m.trace.error for m in output.errors if m.trace.error.stream_descriptor][0]
    assert error.failure_type.value == "transient_error"
    assert "GET /v1/account" in error.message and "HTTP 500" in error.message and "4 attempts" in error.message
    assert [r.record.stream for r in output.records] == ["plans"] * len(server.dataset.plans)


def test_the_key_never_appears_in_any_output_even_with_debug(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(error_rate=0.2))
    forms = key_forms(SANDBOX_API_KEY)
    runs = [
        run_connector("check", server.url, config(), extra_args=["--debug"]),
        run_connector("read", server.url, config(), catalog(("customers", "customer_count")), extra_args=["--debug"]),
        run_connector(
            "read", server.url, config(api_key=SANDBOX_API_KEY + "x"), catalog(["customers"]), extra_args=["--debug"]
        ),
    ]
    assert any("Authorization" in run.stdout for run in runs), "--debug should log request headers"
    for run in runs:
        for form in forms:
            assert form not in run.stdout and form not in run.stderr


def test_a_normal_sync_stays_inside_the_api_limits(fresh_sandbox):
    """40 requests/s and 20 parallel connections, as ChartMogul enforces them: no 429, no 503."""
    server = fresh_sandbox(faults=Faults(latency_ms=50, rate_limit_rps=40, max_connections=20))
    streams = ("customers", "activities", "customer_count", "plan_group_plans", "invoices")
    run = run_connector("read", server.url, config(), catalog(streams))
    assert run.exit_code == 0, run.stderr[-3000:]
    assert server.status_counts.get(429, 0) == 0 and server.status_counts.get(503, 0) == 0, server.status_counts
    assert server.max_parallel_seen > 1
    for stream in streams:
        assert_same_records(run.records(stream), expected_records(server.dataset, stream, config()), stream)
