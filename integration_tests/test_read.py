"""The CLI against the sandbox: spec, check, discover, and reads compared with the full data set."""

import json
from collections import Counter

import jsonschema
import pytest

from testing.configs import EXAMPLE_START_DATE
from testing.streams import ALL_STREAMS, PRIMARY_KEYS, catalog, key_of

from .harness import ROOT, assert_same_records, config, expected_records, run_connector


@pytest.fixture(scope="module")
def full_read(sandbox):
    run = run_connector("read", sandbox.url, config(), catalog(ALL_STREAMS))
    assert run.exit_code == 0, run.stderr + run.stdout[-3000:]
    return run


def test_spec_declares_the_config_fields(sandbox):
    run = run_connector("spec", sandbox.url)
    spec = run.of_type("SPEC")[0]["spec"]
    properties = spec["connectionSpecification"]["properties"]
    assert properties["api_key"]["airbyte_secret"] is True
    assert properties["start_date"]["format"] == "date-time"
    assert properties["start_date"]["examples"] == [EXAMPLE_START_DATE]
    assert properties["interval"]["enum"] == ["day", "week", "month", "quarter"]
    assert properties["interval"]["default"] == "month"
    assert "dev.chartmogul.com" in properties["interval"]["description"]
    segments = properties["segments"]
    assert "segments" not in spec["connectionSpecification"]["required"]
    assert segments["items"]["required"] == ["name"]
    assert set(segments["items"]["properties"]) == {"name", "plans", "geo", "filters"}
    assert "dev.chartmogul.com/docs/cfl" in segments["description"] and segments["examples"]
    assert spec["documentationUrl"].startswith("https://")


def test_check_succeeds_with_a_good_key(sandbox):
    run = run_connector("check", sandbox.url, config())
    assert run.exit_code == 0
    assert run.connection_status() == {"status": "SUCCEEDED"}


def test_check_fails_clearly_with_a_rejected_key(sandbox):
    run = run_connector("check", sandbox.url, config(api_key="wrong-key-0123456789abcdefghij"))
    status = run.connection_status()
    assert status["status"] == "FAILED"
    assert "rejected the API key" in status["message"] and "read-only" in status["message"]
    assert "Traceback" not in run.stdout + run.stderr


def test_check_fails_clearly_when_the_api_is_unreachable():
    run = run_connector("check", "http://127.0.0.1:9", config())  # the discard port: nothing listens
    status = run.connection_status()
    assert status["status"] == "FAILED"
    assert "Could not get a complete answer from ChartMogul for GET /v1/ping" in status["message"]
    assert "Traceback" not in run.stdout + run.stderr


def test_discover_lists_every_stream_with_its_schema_and_key(sandbox):
    run = run_connector("discover", sandbox.url, config())
    streams = {s["name"]: s for s in run.of_type("CATALOG")[0]["catalog"]["streams"]}
    assert set(streams) == set(ALL_STREAMS)
    for name, stream in streams.items():
        schema = json.loads((ROOT / "source_chartmogul" / "schemas" / f"{name}.json").read_text())
        assert stream["json_schema"] == schema
        assert "full_refresh" in stream["supported_sync_modes"]
        assert stream.get("source_defined_primary_key", []) == [[field] for field in PRIMARY_KEYS[name]], name
    assert streams["activities"]["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert streams["activities"]["default_cursor_field"] == ["date"]


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_every_record_arrives_once_as_served(full_read, dataset, stream):
    expected = expected_records(dataset, stream, config())
    assert expected, f"the sandbox serves no {stream}: the test would prove nothing"
    got = full_read.records(stream)
    assert_same_records(got, expected, stream)
    if PRIMARY_KEYS[stream]:  # all but account, one record
        duplicates = [k for k, n in Counter(key_of(r, stream) for r in got).items() if n > 1]
        assert not duplicates, f"{stream}: duplicate keys {duplicates[:5]}"


@pytest.mark.parametrize("stream", ALL_STREAMS)
def test_every_record_matches_its_schema_strictly(full_read, stream):
    schema = json.loads((ROOT / "source_chartmogul" / "schemas" / f"{stream}.json").read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    for record in full_read.records(stream):
        errors = list(validator.iter_errors(record))
        assert not errors, f"{stream}: {errors[0].message} in {record}"


def test_every_stream_completes(full_read):
    for stream in ALL_STREAMS:
        assert full_read.statuses(stream)[0] == "STARTED"
        assert full_read.statuses(stream)[-1] == "COMPLETE"
    assert full_read.errors() == []


def test_requests_page_by_cursor_never_by_page_number(full_read, sandbox):
    customers = [r for r in sandbox.requests if r.path == "/v1/customers"]
    assert customers and all(r.query.get("per_page") == "200" for r in customers)
    assert not any("page" in r.query for r in sandbox.requests)
    assert any("cursor" in r.query for r in customers)


INTERVAL_STREAMS = ("customer_count", "metrics", "mrr", "segment_metrics", "segment_mrr")


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter"])
def test_the_metrics_streams_follow_the_interval(sandbox, dataset, interval):
    cfg = config(interval=interval)
    run = run_connector("read", sandbox.url, cfg, catalog(INTERVAL_STREAMS))
    assert run.exit_code == 0, run.stderr
    for stream in INTERVAL_STREAMS:
        assert_same_records(run.records(stream), expected_records(dataset, stream, cfg), stream)


def test_a_customer_deleted_during_the_sync_is_skipped_with_a_warning(fresh_sandbox):
    server = fresh_sandbox()
    gone = next(c for c in server.dataset.customers if server.dataset.customer_subscriptions.get(c["uuid"]))
    # Still on the customers pages, but its subscriptions answer 404, as for a deletion in between.
    del server.dataset.customer_subscriptions[gone["uuid"]]
    run = run_connector("read", server.url, config(), catalog(["customer_subscriptions"]))
    assert run.exit_code == 0, run.stdout[-2000:]
    assert run.statuses("customer_subscriptions")[-1] == "COMPLETE"
    warnings = [m["log"]["message"] for m in run.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any(gone["uuid"] in message and "404" in message for message in warnings), warnings
    assert_same_records(
        run.records("customer_subscriptions"),
        expected_records(server.dataset, "customer_subscriptions", config()),
        "customer_subscriptions",
    )
    assert gone["uuid"] not in {r["customer_uuid"] for r in run.records("customer_subscriptions")}
