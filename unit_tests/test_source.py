"""source.py, sync.py and run.py: check, read several streams at once, failures, secrets."""

import fcntl
import io
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import orjson
import pytest
import requests
import requests_mock
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER, AirbyteLogFormatter
from airbyte_cdk.models import (
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    FailureType,
    Status,
    Type,
)
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, _run_command, make_file
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import run as run_module
from source_chartmogul import source as source_module
from source_chartmogul import transport
from source_chartmogul.config import parse_config
from source_chartmogul.source import SourceChartmogul
from source_chartmogul.sync import Records
from testing.configs import API_KEY, BASE_URL, CONFIG, key_forms
from testing.records import ACCOUNT_RECORDED
from unit_tests.conftest import (
    FAST_CHECK_POLICY,
    PING,
    REAL_CHECK_RETRIES,
    FakeClock,
    all_text,
    basic_auth,
    by_path,
    catalog,
    page,
    records_of,
    statuses,
)

UNAUTHORIZED = {"code": 401, "message": "No valid API key provided", "param": None}


def files(tmp: str, config=CONFIG, configured_catalog=None) -> list[str]:
    args = ["--config", make_file(Path(tmp) / "config.json", config)]
    if configured_catalog is not None:
        catalog_json = orjson.dumps(ConfiguredAirbyteCatalogSerializer.dump(configured_catalog)).decode()
        args += ["--catalog", make_file(Path(tmp) / "catalog.json", catalog_json)]
    return args


def run_check(config=CONFIG) -> EntrypointOutput:
    with tempfile.TemporaryDirectory() as tmp:
        return _run_command(SourceChartmogul(), ["check", *files(tmp, config)])


def run_read(configured_catalog, config=CONFIG, debug=False) -> EntrypointOutput:
    """A read through the CDK's AirbyteEntrypoint and SourceChartmogul.read: one message per record."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["read", *files(tmp, config, configured_catalog)] + (["--debug"] if debug else [])
        return _run_command(SourceChartmogul(), args)


def run_cli_read(configured_catalog, monkeypatch, config=CONFIG) -> EntrypointOutput:
    """The same read through the command line's entrypoint (run.py), which writes records itself."""
    monkeypatch.setattr(entrypoint_wrapper, "AirbyteEntrypoint", run_module.Entrypoint)
    return run_read(configured_catalog, config)


def connection_status(output):
    found = [m.connectionStatus for m in output.connection_status_messages]
    assert len(found) == 1, found
    return found[0]


def only_error(output: EntrypointOutput):
    errors = [m.trace.error for m in output.errors]
    assert len(errors) == 1, [e.message for e in errors]
    assert errors[0].failure_type == FailureType.config_error
    assert errors[0].stack_trace is None  # explained, not a crash
    return errors[0]


# --- check ---------------------------------------------------------------------------------------


def test_check_succeeds_on_ping(api):
    api.get(PING, json={"data": "pong!"})

    output = run_check()

    assert connection_status(output).status == Status.SUCCEEDED
    assert output.errors == []
    assert api.call_count == 1
    assert api.request_history[0].headers["Authorization"] == basic_auth()


def test_check_fails_on_401_with_a_message_about_the_key(api):
    api.get(PING, status_code=401, json=UNAUTHORIZED)

    output = run_check()

    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "rejected the API key" in status.message
    assert "'api_key'" in status.message
    assert "No valid API key provided" in status.message
    assert output.errors == []
    assert api.call_count == 1


def test_check_fails_on_403_with_a_message_about_access(api):
    api.get(PING, status_code=403, json={"code": 403, "message": "A trial account has expired.", "param": None})

    status = connection_status(run_check())

    assert status.status == Status.FAILED
    assert "A trial account has expired." in status.message


@pytest.mark.parametrize(
    "error",
    [
        requests.exceptions.ConnectionError("Connection refused"),
        requests.exceptions.ConnectTimeout("connect timed out"),
    ],
    ids=["refused", "timeout"],
)
def test_check_fails_with_the_reason_when_the_api_is_unreachable(api, error):
    api.get(PING, exc=error)

    output = run_check()

    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "GET /v1/ping" in status.message
    assert str(error) in status.message
    assert output.errors == []
    assert api.call_count == FAST_CHECK_POLICY.max_attempts


def test_check_fails_with_the_reason_after_server_errors(api):
    api.get(PING, status_code=503, text="503 Service Unavailable")

    status = connection_status(run_check())

    assert status.status == Status.FAILED
    assert "HTTP 503" in status.message and "GET /v1/ping" in status.message
    assert f"{FAST_CHECK_POLICY.max_attempts} attempts" in status.message


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 503, "text": "503 Service Unavailable"},
        {"status_code": 429, "headers": {"Retry-After": "3600"}},
        {"exc": requests.exceptions.ConnectTimeout("connect timed out")},
    ],
    ids=["server_errors", "rate_limited_for_an_hour", "unreachable"],
)
def test_check_answers_in_seconds_not_minutes(api, monkeypatch, answer):
    """With the retries a real check has, whatever the API does: a few attempts, waits of seconds."""
    monkeypatch.setattr(source_module, "CHECK_RETRIES", REAL_CHECK_RETRIES)
    clock = FakeClock()
    monkeypatch.setattr(transport, "time", clock)
    api.get(PING, **answer)

    status = connection_status(run_check())

    assert status.status == Status.FAILED
    assert 1 <= api.call_count <= 3
    assert clock.now - clock.start <= 30  # the seconds spent waiting between attempts


SEGMENTS = [
    {"name": "Europe", "geo": ["DE", "fr"]},
    {"name": "Gold", "plans": ["Gold Monthly", "Gold Yearly"], "filters": "currency~ANY~'EUR'"},
]
CUSTOMER_COUNT = BASE_URL + "/v1/metrics/customer-count"


def test_check_asks_for_one_day_of_each_segment_with_its_own_parameters(api):
    api.get(PING, json={"data": "pong!"})
    api.get(CUSTOMER_COUNT, json={"entries": [], "summary": {}})

    status = connection_status(run_check({**CONFIG, "segments": SEGMENTS}))

    assert status.status == Status.SUCCEEDED
    asked = [request.qs for request in api.request_history[1:]]
    today = datetime.now(timezone.utc).date().isoformat()
    day = {"start-date": [today], "end-date": [today], "interval": ["day"]}
    assert asked == [
        {**day, "geo": ["DE,FR"]},
        {**day, "plans": ["Gold Monthly,Gold Yearly"], "filters": ["currency~ANY~'EUR'"]},
    ]
    assert all(request.headers["Authorization"] == basic_auth() for request in api.request_history)


def test_check_fails_on_a_segment_chartmogul_rejects_naming_it_and_asks_no_further(api):
    api.get(PING, json={"data": "pong!"})
    rejected = {"code": 400, "message": "Unsupported filter 'currency'", "param": "filters"}
    api.get(CUSTOMER_COUNT, [{"json": {"entries": []}}, {"status_code": 400, "json": rejected}])
    third = {"name": "Asia", "geo": ["JP"]}

    output = run_check({**CONFIG, "segments": [*SEGMENTS, third]})

    status = connection_status(output)
    assert status.status == Status.FAILED
    assert "the 'filters' of segment 'Gold' in 'segments'" in status.message
    assert "Unsupported filter 'currency'" in status.message
    assert "dev.chartmogul.com/docs/cfl" in status.message
    assert output.errors == []
    assert api.call_count == 3  # the ping and the first two segments; not 'Asia'


def test_check_with_a_rejected_key_asks_for_no_segment(api):
    api.get(PING, status_code=401, json=UNAUTHORIZED)

    status = connection_status(run_check({**CONFIG, "segments": SEGMENTS}))

    assert status.status == Status.FAILED and "rejected the API key" in status.message
    assert api.call_count == 1


def test_check_fails_with_the_reason_when_a_segment_s_request_fails(api):
    api.get(PING, json={"data": "pong!"})
    api.get(CUSTOMER_COUNT, status_code=503, text="503 Service Unavailable")

    status = connection_status(run_check({**CONFIG, "segments": SEGMENTS[:1]}))

    assert status.status == Status.FAILED
    assert "HTTP 503" in status.message and "GET /v1/metrics/customer-count" in status.message


# --- read ----------------------------------------------------------------------------------------


def test_read_of_several_streams_completes_each(api):
    customers = [{"id": 1, "uuid": "cus_1", "owner": "x"}, {"id": 2, "uuid": "cus_2", "owner": "y"}]
    api.get(BASE_URL + "/v1/customers", json=page(customers))
    api.get(BASE_URL + "/v1/account", json=ACCOUNT_RECORDED)
    api.get(BASE_URL + "/v1/data_sources", json={"data_sources": [{"uuid": "ds_1", "name": "Stripe"}]})
    api.get(BASE_URL + "/v1/metrics/customer-count", json={"entries": [{"date": "2023-07-31", "customers": 379}]})
    api.get(BASE_URL + "/v1/plans", json=page([], envelope="plans"))
    names = ["customers", "account", "data_sources", "customer_count", "plans"]

    output = run_read(catalog(*names))

    assert output.errors == []
    assert records_of(output, "customers") == customers
    assert records_of(output, "account") == [ACCOUNT_RECORDED]
    assert records_of(output, "data_sources") == [{"uuid": "ds_1", "name": "Stripe"}]
    assert records_of(output, "customer_count") == [{"date": "2023-07-31", "customers": 379}]
    assert records_of(output, "plans") == []
    for name in names:
        assert statuses(output, name)[0] == "STARTED" and statuses(output, name)[-1] == "COMPLETE", name


def test_read_with_401_everywhere_gives_one_config_error_and_stops(api):
    api.get(requests_mock.ANY, status_code=401, json=UNAUTHORIZED)
    names = ["customers", "plans", "account"]

    output = run_read(catalog(*names))

    errors = [m.trace.error for m in output.errors]
    per_stream = [e for e in errors if e.stream_descriptor is not None]
    summaries = [e for e in errors if e.stream_descriptor is None]
    assert len(per_stream) == 1, [e.message for e in errors]
    assert per_stream[0].failure_type == FailureType.config_error
    assert per_stream[0].stream_descriptor.name in names
    assert "rejected the API key" in per_stream[0].message
    assert len(summaries) <= 1
    assert all(e.failure_type == FailureType.config_error for e in summaries)
    for name in names:
        assert "INCOMPLETE" in statuses(output, name), name
        assert "COMPLETE" not in statuses(output, name), name
    assert output.records == []
    assert api.call_count <= len(names)  # a 401 is not retried


def test_read_with_401_raises_a_config_error_so_the_run_fails(api):
    api.get(requests_mock.ANY, status_code=401, json=UNAUTHORIZED)
    source = SourceChartmogul()

    with pytest.raises(AirbyteTracedException) as caught:
        list(source.read(logging.getLogger("airbyte"), CONFIG, catalog("customers", "plans", "account"), None))

    assert caught.value.failure_type == FailureType.config_error
    assert "rejected the API key" in caught.value.message


def test_a_transient_failure_of_one_stream_does_not_stop_the_others(api):
    api.get(BASE_URL + "/v1/customers", status_code=502, text="502 Bad Gateway")
    api.get(BASE_URL + "/v1/account", json=ACCOUNT_RECORDED)
    api.get(BASE_URL + "/v1/plans", json=page([{"uuid": "pl_1"}], envelope="plans"))

    output = run_read(catalog("customers", "account", "plans"))

    assert statuses(output, "customers")[-1] == "INCOMPLETE"
    assert statuses(output, "account")[-1] == "COMPLETE"
    assert statuses(output, "plans")[-1] == "COMPLETE"
    assert records_of(output, "plans") == [{"uuid": "pl_1"}]
    per_stream = [m.trace.error for m in output.errors if m.trace.error.stream_descriptor is not None]
    assert len(per_stream) == 1
    assert per_stream[0].failure_type == FailureType.transient_error
    assert "GET /v1/customers?per_page=200" in per_stream[0].message
    assert "HTTP 502" in per_stream[0].message
    assert len(by_path(api, "/v1/customers")) > 1  # retried before giving up


def test_a_stream_missing_from_the_connector_fails_alone_and_the_others_are_read(api):
    customers = [{"id": n, "uuid": f"cus_{n}"} for n in range(3)]

    def slow_page(request, context):
        time.sleep(0.3)  # still reading when the missing stream has failed
        return page(customers)

    api.get(BASE_URL + "/v1/customers", json=slow_page)
    api.get(BASE_URL + "/v1/account", json=ACCOUNT_RECORDED)

    output = run_read(catalog("no_such_stream", "customers", "account"))

    assert records_of(output, "customers") == customers
    assert records_of(output, "account") == [ACCOUNT_RECORDED]
    assert statuses(output, "customers")[-1] == "COMPLETE"
    assert statuses(output, "no_such_stream") == ["INCOMPLETE"]
    errors = [m.trace.error for m in output.errors]
    assert [e.stream_descriptor.name for e in errors if e.stream_descriptor] == ["no_such_stream"]
    assert "Refresh the source schema" in errors[0].message
    summary = errors[-1]  # the read raised it: the run ends non-zero
    assert summary.stream_descriptor is None and "no_such_stream failed" in summary.message
    assert all(e.failure_type == FailureType.config_error for e in errors)


def test_a_read_given_up_by_its_reader_stops_its_threads_and_its_requests(api):
    endless = page([{"id": n, "uuid": f"cus_{n}"} for n in range(200)], cursor="next", has_more=True)
    api.get(BASE_URL + "/v1/customers", json=endless)
    messages = SourceChartmogul().read(logging.getLogger("airbyte"), CONFIG, catalog("customers"), None)

    next(messages)
    time.sleep(0.2)  # the stream fills the outbox and waits
    messages.close()  # as when the process is told to stop

    deadline = time.monotonic() + 10
    while any(t.name.startswith("stream") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name.startswith("stream") for t in threading.enumerate())
    requests_then = api.call_count
    time.sleep(0.2)
    assert api.call_count == requests_then


def test_an_empty_catalog_reads_nothing_and_says_so(api):
    output = run_read(catalog())

    assert output.errors == [] and output.records == []
    assert any(m.log.message.startswith("The catalog lists no stream: nothing to read.") for m in output.logs)


def test_a_stream_listed_twice_is_refused_before_any_request(api):
    doubled = catalog("customers", "account", "customers")

    with pytest.raises(AirbyteTracedException) as caught:
        list(SourceChartmogul().read(logging.getLogger("airbyte"), CONFIG, doubled, None))

    assert caught.value.failure_type == FailureType.config_error
    assert "'customers' more than once" in caught.value.message and "List each stream once" in caught.value.message
    assert api.request_history == []


def completed(*names: str) -> list[AirbyteStateMessage]:
    return [
        AirbyteStateMessageSerializer.load(
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": name},
                    "stream_state": {"__ab_full_refresh_sync_complete": True},
                },
            }
        )
        for name in names
    ]


def test_a_completed_full_refresh_state_reads_nothing_of_its_stream_and_says_so(api):
    api.get(BASE_URL + "/v1/account", json=ACCOUNT_RECORDED)
    source = SourceChartmogul()
    logger = logging.getLogger("airbyte")
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logger.addHandler(handler)
    try:
        messages = list(source.read(logger, CONFIG, catalog("customers", "account"), completed("customers")))
    finally:
        logger.removeHandler(handler)

    records = [m.record for m in messages if m.record]
    assert [r.stream for r in records] == ["account"]
    assert by_path(api, "/v1/customers") == []
    warnings = [line for line in logs.getvalue().splitlines() if line.startswith("Not reading")]
    assert len(warnings) == 1
    assert "Not reading customers:" in warnings[0]
    assert "__ab_full_refresh_sync_complete" in warnings[0]
    assert "drop its entry from the state" in warnings[0] and "force_full_refresh=True" in warnings[0]


def test_with_a_rejected_key_a_completed_state_still_reads_nothing_without_a_request_but_says_so(api, capsys, tmp_path):
    api.get(requests_mock.ANY, status_code=401, json=UNAUTHORIZED)
    state = make_file(tmp_path / "state.json", [AirbyteStateMessageSerializer.dump(m) for m in completed("customers")])

    output, code = run_cli(["read", *files(str(tmp_path), CONFIG, catalog("customers")), "--state", state], capsys)

    assert code == 0 and output.errors == []  # the CDK's meaning of that state, kept...
    assert api.request_history == []
    assert any(m.log.message.startswith("Not reading customers:") for m in output.logs)  # ...but said


def test_a_completed_full_refresh_state_is_not_taken_for_a_reason_to_read_activities_again(api):
    """activities' full refresh always starts over: no warning for it."""
    api.get(BASE_URL + "/v1/activities", json=page([], envelope="entries"))
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    logging.getLogger("airbyte").addHandler(handler)
    try:
        list(
            SourceChartmogul().read(
                logging.getLogger("airbyte"), CONFIG, catalog("activities"), completed("activities")
            )
        )
    finally:
        logging.getLogger("airbyte").removeHandler(handler)

    assert "Not reading" not in logs.getvalue()
    assert by_path(api, "/v1/activities")  # read from the start


@pytest.mark.parametrize(
    "state, words",
    [
        (
            [{"type": "GLOBAL", "global": {"shared_state": None, "stream_states": []}}],
            ["GLOBAL state", "another connector's"],
        ),
        (
            [{"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"cursor": "x"}}}],
            ["only for streams this connector does not have: 'users'"],
        ),
        (
            [
                {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": "customers", "namespace": "crm"}, "stream_state": {}},
                }
            ],
            ["'customers' (namespace 'crm')"],
        ),
        ({"users": {"updated_at": "2024-01-01"}, "tickets": {}}, ["does not have: 'users', 'tickets'"]),
    ],
    ids=["global", "unknown_stream", "namespace", "legacy_unknown_stream"],
)
def test_another_connector_s_state_is_refused_before_any_request(api, capsys, tmp_path, state, words):
    output, code = run_cli(
        [
            "read",
            *files(str(tmp_path), CONFIG, catalog("customers")),
            "--state",
            make_file(tmp_path / "state.json", state),
        ],
        capsys,
    )

    assert code == 1
    error = only_error(output)
    for word in words:
        assert word in error.message, error.message
    assert "Give the state messages of a previous sync of this connector" in error.message
    assert api.request_history == []


def test_a_state_of_a_stream_it_does_not_have_beside_its_own_is_ignored_with_a_warning(api, capsys, tmp_path):
    api.get(BASE_URL + "/v1/customers", json=page([{"id": 1, "uuid": "cus_1"}]))
    state = [
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"cursor": "x"}}},
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": "customers"}, "stream_state": {}}},
    ]
    output, code = run_cli(
        ["read", *files(str(tmp_path), CONFIG, catalog("customers")), "--state", make_file(tmp_path / "s.json", state)],
        capsys,
    )

    assert code == 0
    logs = [message.log.message for message in output.logs]
    assert any("does not have: 'users'" in message and "ignored" in message for message in logs), logs
    assert records_of(output, "customers") == [{"id": 1, "uuid": "cus_1"}]


def test_debug_read_never_shows_the_key_or_its_basic_auth_form(api, capfd):
    api.get(BASE_URL + "/v1/customers", json=page([{"id": 1, "uuid": "cus_1"}]))
    api.get(BASE_URL + "/v1/account", status_code=401, json=UNAUTHORIZED)
    api.get(BASE_URL + "/v1/plans", status_code=500, text="500 Internal Server Error")
    forms = key_forms(API_KEY)
    # What the connector prints for debug logs: the CDK's formatter, which applies the secret filter.
    debug_log = io.StringIO()
    handler = logging.StreamHandler(debug_log)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger().addHandler(handler)
    try:
        output = run_read(catalog("customers", "account", "plans"), debug=True)
    finally:
        logging.getLogger().removeHandler(handler)
    captured = capfd.readouterr()

    everything = "\n".join([all_text(output), debug_log.getvalue(), captured.out, captured.err])
    assert "Making outbound API request" in debug_log.getvalue()  # the request headers were logged...
    assert "'Authorization': 'Basic " in debug_log.getvalue()
    for form in forms:
        assert form not in everything  # ...but not the key, in any form
    assert records_of(output, "customers") == [{"id": 1, "uuid": "cus_1"}]


# --- the command line ------------------------------------------------------------------------------


def run_cli(args, capsys) -> tuple[EntrypointOutput, int]:
    code = 0
    try:
        run_module.run(args)
    except SystemExit as exit_:
        code = exit_.code
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    return EntrypointOutput(messages=lines), code


@pytest.mark.parametrize(
    "field,value",
    [
        ("start_date", "last tuesday"),
        ("start_date", "2017-01-25"),
        ("interval", "year"),
        ("lookback_window_days", -1),
        ("api_key", " padded-key "),
        ("start_date", "2999-01-01T00:00:00Z"),
    ],
)
def test_cli_check_with_bad_config_gives_the_connector_s_message(api, capsys, field, value):
    config = {**CONFIG, field: value}
    with pytest.raises(AirbyteTracedException) as expected:
        parse_config(config)

    with tempfile.TemporaryDirectory() as tmp:
        output, code = run_cli(["check", *files(tmp, config)], capsys)

    status = connection_status(output)
    assert status.status == Status.FAILED
    assert status.message == expected.value.message
    assert code == 0
    assert api.request_history == []


def test_cli_read_failure_exits_1_with_an_error_trace(api, capsys):
    api.get(requests_mock.ANY, status_code=401, json=UNAUTHORIZED)

    with tempfile.TemporaryDirectory() as tmp:
        output, code = run_cli(["read", *files(tmp, CONFIG, catalog("customers", "account"))], capsys)

    assert code == 1
    errors = [m.trace.error for m in output.errors]
    assert errors and all(e.failure_type == FailureType.config_error for e in errors)
    assert all(e.stack_trace is None for e in errors)  # an explained error, not a Python crash


def test_a_long_read_logs_records_so_far_per_stream(api, monkeypatch):
    from source_chartmogul import sync

    monkeypatch.setattr(sync, "PROGRESS_EVERY_SECONDS", 0.0)  # every batch, for the test
    customers = [{"id": n, "uuid": f"cus_{n}"} for n in range(3)]
    api.get(BASE_URL + "/v1/customers", json=page(customers))

    output = run_read(catalog("customers"))

    logs = [m.log.message for m in output.logs]
    assert any(message.startswith("Records so far: customers 3") for message in logs), logs
    assert "Records read: customers 3" in logs


@pytest.mark.parametrize(
    "content",
    [
        {"activities": {"date": "2024-02-14T15:00:00Z"}},
        [{"type": "LEGACY", "data": {"activities": {"date": "2024-02-14T15:00:00Z"}}}],
        [
            {
                "type": "STREAM",
                "stream": {
                    "stream_descriptor": {"name": "activities"},
                    "stream_state": {"date": "2024-02-14T15:00:00Z"},
                },
            }
        ],
    ],
    ids=["legacy_object", "legacy_messages", "per_stream"],
)
def test_state_files_of_every_cdk_generation_are_read_per_stream(tmp_path, content):
    path = make_file(tmp_path / "state.json", content)
    messages = SourceChartmogul.read_state(path)
    assert [(m.stream.stream_descriptor.name, dict(m.stream.stream_state.__dict__)) for m in messages] == [
        ("activities", {"date": "2024-02-14T15:00:00Z"})
    ]


# --- the files named on the command line ----------------------------------------------------------

MISSING_FILE, EMPTY_FILE, DIRECTORY = object(), object(), object()
NOT_JSON = '{"api_key": "' + API_KEY + '", '  # cut short, and holding the key
DISCOVERED = {"name": "customers", "json_schema": {}, "supported_sync_modes": ["full_refresh"]}
CONFIGURED = {"stream": DISCOVERED, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}

# (option, content, words of the message after "The <option> file '<path>'")
FILE_CASES = [
    ("--config", MISSING_FILE, ["does not exist", "api_key"]),
    ("--config", DIRECTORY, ["is a directory"]),
    ("--config", EMPTY_FILE, ["is empty"]),
    ("--config", NOT_JSON, ["is not valid JSON", "line 1, column"]),
    ("--config", "\udcff", ["is not UTF-8 text"]),
    ("--config", [CONFIG], ["holds a list, not a JSON object", '{"api_key": "<read-only key>"']),
    ("--catalog", MISSING_FILE, ["does not exist", "make catalog"]),
    ("--catalog", EMPTY_FILE, ["is empty", "make catalog"]),
    ("--catalog", "streams: [customers]", ["is not valid JSON"]),
    ("--catalog", [CONFIGURED], ["holds a list, not a JSON object"]),
    ("--catalog", {"type": "CATALOG", "catalog": {"streams": [DISCOVERED]}}, ["the CATALOG message that `discover`"]),
    ("--catalog", {"streams": [DISCOVERED]}, ["a stream of `discover`'s catalog, not a configured stream"]),
    ("--catalog", {"stream": CONFIGURED}, ["has no 'streams' list"]),
    (
        "--catalog",
        {"streams": [{**CONFIGURED, "sync_mode": "full"}]},
        ["'customers' the sync_mode 'full'", "full_refresh, incremental"],
    ),
    (
        "--catalog",
        {"streams": [{**CONFIGURED, "destination_sync_mode": "replace"}]},
        ["'customers' the destination_sync_mode 'replace'", "append, overwrite"],
    ),
    ("--catalog", {"streams": [{"stream": DISCOVERED, "sync_mode": "full_refresh"}]}, ["no destination_sync_mode"]),
    (
        "--catalog",
        {"streams": [{**CONFIGURED, "stream": {"name": "customers"}}]},
        ["is not a configured catalog", "json_schema"],
    ),
    ("--state", MISSING_FILE, ["does not exist", "leave out --state"]),
    ("--state", EMPTY_FILE, ["is empty", "`[]`, or leave out --state"]),
    ("--state", "[{]", ["is not valid JSON"]),
    ("--state", 5, ["holds a number"]),
    ("--state", {"activities": 5}, ["gives the stream 'activities' a number as its state"]),
    ("--state", [7], ["has a number as entry 1, not a state message"]),
    ("--state", [{"type": "STREAM", "stream": {}}], ["without stream.stream_descriptor.name"]),
    ("--state", CONFIG, ["gives the stream 'api_key' a string as its state"]),  # the config, by mistake
]
FILE_IDS = [f"{option[2:]}-{number}" for number, (option, _, _) in enumerate(FILE_CASES)]


def write_input(path: Path, content) -> str:
    if content is MISSING_FILE:
        return str(path)
    if content is DIRECTORY:
        path.mkdir()
    elif content is EMPTY_FILE:
        path.write_text(" \n")
    elif isinstance(content, str):
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    else:
        path.write_text(orjson.dumps(content).decode())
    return str(path)


def cli_args(tmp_path: Path, command: str, option: str, content) -> tuple[list[str], str]:
    """The command with good files, but for `option`'s; and the path given for it."""
    paths = {"--config": CONFIG, "--catalog": catalog("customers")}
    args = [command]
    for name in ("--config", "--catalog", "--state") if command == "read" else ("--config",):
        if name == option:
            args += [name, write_input(tmp_path / f"{name[2:]}.json", content)]
        elif name in paths:
            good = paths[name]
            if name == "--catalog":
                good = ConfiguredAirbyteCatalogSerializer.dump(good)
            args += [name, make_file(tmp_path / f"{name[2:]}.json", good)]
    return args, str(tmp_path / f"{option[2:]}.json")


@pytest.mark.parametrize("option, content, words", FILE_CASES, ids=FILE_IDS)
def test_a_bad_file_fails_read_with_a_config_error_naming_it_and_no_request(
    api, capsys, tmp_path, option, content, words
):
    args, path = cli_args(tmp_path, "read", option, content)

    output, code = run_cli(args, capsys)

    assert code == 1
    message = only_error(output).message
    assert message.startswith(f"The {option} file '{path}' "), message
    for word in words:
        assert word in message, (word, message)
    assert API_KEY not in all_text(output)
    assert output.records == [] and api.request_history == []


CONFIG_FILE_CASES = [case for case in FILE_CASES if case[0] == "--config"]


@pytest.mark.parametrize("option, content, words", CONFIG_FILE_CASES, ids=FILE_IDS[: len(CONFIG_FILE_CASES)])
def test_a_bad_config_file_fails_discover_with_a_config_error_naming_it(api, capsys, tmp_path, option, content, words):
    args, path = cli_args(tmp_path, "discover", option, content)

    output, code = run_cli(args, capsys)

    assert code == 1
    assert only_error(output).message.startswith(f"The --config file '{path}' ")
    assert output.get_message_by_types([Type.CATALOG]) == []
    assert API_KEY not in all_text(output)


@pytest.mark.parametrize("option, content, words", CONFIG_FILE_CASES, ids=FILE_IDS[: len(CONFIG_FILE_CASES)])
def test_a_bad_config_file_fails_check_with_a_failed_status_naming_it(api, capsys, tmp_path, option, content, words):
    args, path = cli_args(tmp_path, "check", option, content)

    output, code = run_cli(args, capsys)

    assert code == 0  # check answers with its status, as for any other config mistake
    status = connection_status(output)
    assert status.status == Status.FAILED
    assert status.message.startswith(f"The --config file '{path}' ")
    assert output.errors == [] and api.request_history == []
    assert API_KEY not in all_text(output)


def test_an_empty_state_list_or_object_means_no_state(tmp_path):
    assert SourceChartmogul.read_state(make_file(tmp_path / "list.json", [])) == []
    assert SourceChartmogul.read_state(make_file(tmp_path / "object.json", {})) == []


def test_the_config_is_checked_before_the_catalog(api, capsys, tmp_path):
    args, _ = cli_args(tmp_path, "read", "--catalog", MISSING_FILE)
    make_file(tmp_path / "config.json", {**CONFIG, "interval": "year"})

    output, code = run_cli(args, capsys)

    assert code == 1 and "'interval'" in only_error(output).message


def test_a_command_line_without_a_command_says_what_to_give(capsys):
    with pytest.raises(SystemExit) as exit_:
        run_module.run([])

    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert "Give a command: spec, check, discover or read" in captured.err
    assert "Traceback" not in captured.out + captured.err


# --- the command line's own record writing (run.py) -----------------------------------------------


def test_record_lines_are_the_cdk_s_record_messages_but_keep_nulls():
    plain = {"uuid": "cus_1", "mrr": 1200, "attributes": {"tags": ["a"], "custom": {"x": None}}, "name": "Zoë \u2603"}
    with_null = {"uuid": "cus_2", "owner": None}

    lines = run_module.record_lines(Records("customers", [plain, with_null], 1700000000123)).split("\n")

    cdk = [
        AirbyteEntrypoint.airbyte_message_to_string(m) for m in Records("customers", [plain], 1700000000123).messages()
    ]
    assert len(lines) == 2
    assert lines[0] == cdk[0]  # byte for byte
    assert orjson.loads(lines[1]) == {
        "type": "RECORD",
        "record": {"stream": "customers", "data": {"uuid": "cus_2", "owner": None}, "emitted_at": 1700000000123},
    }


def test_cli_read_gives_the_messages_of_the_cdk_s_read(api, monkeypatch):
    """Records, states with their record counts, statuses: the same, whichever entrypoint writes them."""
    customers = [{"id": n, "uuid": f"cus_{n}", "owner": None if n % 2 else "x"} for n in range(450)]
    api.get(
        BASE_URL + "/v1/customers",
        [
            {"json": page(customers[:200], cursor="c1", has_more=True)},
            {"json": page(customers[200:400], cursor="c2", has_more=True)},
            {"json": page(customers[400:], cursor="c3", has_more=False)},
        ]
        * 2,
    )
    api.get(BASE_URL + "/v1/account", json=ACCOUNT_RECORDED)
    names = ("customers", "account")

    def comparable(output):
        kept = []
        for message in output.get_message_iterator():
            if message.type.value == "RECORD":
                kept.append(
                    ("RECORD", message.record.stream, {k: v for k, v in message.record.data.items() if v is not None})
                )
            elif message.type.value == "STATE":
                stream = message.state.stream
                kept.append(
                    (
                        "STATE",
                        stream.stream_descriptor.name,
                        stream.stream_state.__dict__,
                        message.state.sourceStats.recordCount,
                    )
                )
            elif message.type.value == "TRACE" and message.trace.stream_status:
                kept.append(
                    (
                        "STATUS",
                        message.trace.stream_status.stream_descriptor.name,
                        message.trace.stream_status.status.value,
                    )
                )
        return sorted(kept, key=lambda item: item[1])  # streams interleave differently run to run

    cdk = run_read(catalog(*names))
    cli = run_cli_read(catalog(*names), monkeypatch)

    assert cli.errors == [] and cdk.errors == []
    assert comparable(cli) == comparable(cdk)
    assert records_of(cli, "customers") == customers  # nulls and all
    counts = [
        m.state.sourceStats.recordCount
        for m in cli.state_messages
        if m.state.stream.stream_descriptor.name == "customers"
    ]
    assert counts == [200.0, 200.0, 50.0]


@pytest.mark.parametrize(
    "raised, code, stderr",
    [
        (None, 0, ""),
        (SystemExit(1), 1, ""),
        (SystemExit("bad"), 1, "bad\n"),
        (run_module.Stopped(143), 143, ""),
    ],
)
def test_main_flushes_and_exits_with_run_s_code(monkeypatch, capfd, raised, code, stderr):
    def fake_run(output):
        output.write("the last message\n")
        if raised is not None:
            raise raised

    exits, handlers = [], {}
    monkeypatch.setattr(run_module, "run", fake_run)
    monkeypatch.setattr(run_module, "fewer_malloc_arenas", lambda: None)
    monkeypatch.setattr(run_module, "leave", exits.append)
    monkeypatch.setattr(run_module.signal, "signal", handlers.__setitem__)

    run_module.main()

    assert exits == [code]
    out = capfd.readouterr()
    assert out.out == "the last message\n" and out.err == stderr
    assert set(handlers) == {signal.SIGTERM, signal.SIGINT}


LEAVE = "import sys, threading; from source_chartmogul.run import leave; {call}"


@pytest.mark.skipif(os.name != "posix", reason="ending by a signal is POSIX")
@pytest.mark.parametrize(
    "code, status",
    [
        (143, -signal.SIGTERM),  # a parent sees the signal; a shell shows 143 either way
        (130, -signal.SIGINT),
        (141, -signal.SIGPIPE),
        (0, 0),
        (1, 1),
        (2, 2),
    ],
)
def test_a_stop_ends_the_process_by_its_signal_anything_else_by_its_code(code, status):
    leaving = subprocess.run([sys.executable, "-c", LEAVE.format(call=f"leave({code})")], timeout=60)

    assert leaving.returncode == status


def test_a_stop_left_from_another_thread_ends_with_the_code():
    call = "t = threading.Thread(target=leave, args=(143,)); t.start(); t.join(); sys.exit(3)"
    leaving = subprocess.run([sys.executable, "-c", LEAVE.format(call=call)], timeout=60)

    assert leaving.returncode == 143


# --- Output: whole lines, a prompt stop, a closed stdout -------------------------------------------


class Pipe:
    """A write end that takes at most `take` bytes a call and can be told to break or to stop."""

    def __init__(self, take: int = 10**9):
        self.take = take
        self.data = b""
        self.calls: list[bytes] = []
        self.on_call = None  # called before each write, with the number of calls so far
        self.broken = False

    def write(self, view) -> int:
        if self.on_call:
            self.on_call(len(self.calls))
        if self.broken:
            raise BrokenPipeError(32, "Broken pipe")
        piece = bytes(view[: self.take])
        self.calls.append(piece)
        self.data += piece
        return len(piece)


def record(n: int, size: int = 100) -> str:
    data = orjson.dumps({"n": n, "x": "y" * size}).decode()
    return f'{{"type":"RECORD","record":{{"stream":"s","data":{data},"emitted_at":1}}}}\n'


def test_output_writes_whole_lines_of_at_most_pipe_buf_bytes_a_write():
    pipe = Pipe()
    output = run_module.Output(pipe.write)
    lines = [record(n, size=n * 7) for n in range(200)] + [record(999, size=10000)]

    for line in lines:
        output.write(line)
    output.close()

    assert pipe.data.decode() == "".join(lines)
    for piece in pipe.calls:
        assert piece.endswith(b"\n")
        assert len(piece) <= run_module.PIPE_BUF or piece.count(b"\n") == 1  # one line longer than PIPE_BUF


def test_output_writes_as_many_whole_lines_as_the_write_end_has_room_for():
    pipe = Pipe()
    output = run_module.Output(pipe.write, room=lambda: 20_000)
    lines = [record(n, size=n * 7) for n in range(200)] + [record(999, size=30_000)]

    for line in lines:
        output.write(line)
    output.close()

    assert pipe.data.decode() == "".join(lines)
    assert all(piece.endswith(b"\n") for piece in pipe.calls)
    assert all(len(piece) <= 20_000 or piece.count(b"\n") == 1 for piece in pipe.calls)
    assert max(len(piece) for piece in pipe.calls if piece.count(b"\n") > 1) > run_module.PIPE_BUF


def test_the_room_of_a_pipe_is_its_free_space_and_of_anything_else_unbounded(tmp_path):
    read_end, write_end = os.pipe()
    try:
        room = run_module.room_of(write_end)
        empty = room()
        os.write(write_end, b"x" * 1000)
        assert room() == empty - 1000 and empty >= run_module.PIPE_BUF
        os.read(read_end, 400)
        assert room() == empty - 600
    finally:
        os.close(read_end)
        os.close(write_end)
    with open(tmp_path / "out", "wb") as file:
        assert run_module.room_of(file.fileno())() == sys.maxsize


def test_a_pipe_whose_reader_stops_holds_whole_lines_only():
    """What a reader that stopped finds in the pipe, whenever it looks, ends at a line's end:
    each write fits the pipe's free space, or is at most PIPE_BUF, which the kernel takes whole."""
    read_end, write_end = os.pipe()
    output = run_module.Output(partial(os.write, write_end), run_module.room_of(write_end))
    lines = [record(n, size=50 + (n * 37) % 900) for n in range(2000)]  # about 1 MB, many pipefuls
    writer = threading.Thread(target=lambda: [output.write(line) for line in lines] and output.close(), daemon=True)
    writer.start()
    seen = b""
    try:
        while writer.is_alive() or select.select([read_end], [], [], 0)[0]:
            time.sleep(0.02)  # the reader stops; the writer fills the pipe and waits
            unread = int.from_bytes(fcntl.ioctl(read_end, termios.FIONREAD, bytes(4)), sys.byteorder)
            if unread:
                held = os.read(read_end, unread)  # exactly what the pipe holds now
                assert held.endswith(b"\n"), "the pipe held part of a line"
                seen += held
            elif not writer.is_alive():
                break
        writer.join(5)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert seen.decode() == "".join(lines)


def test_output_writes_anything_but_a_record_at_once_and_records_in_batches():
    pipe = Pipe()
    output = run_module.Output(pipe.write)
    output.FLUSH_SECONDS = 3600

    output.write(record(1))
    assert pipe.data == b""
    output.write('{"type":"STATE","state":{}}\n')
    assert pipe.data.decode() == record(1) + '{"type":"STATE","state":{}}\n'


def test_output_keeps_an_unfinished_line_until_it_ends_or_the_output_closes():
    pipe = Pipe()
    output = run_module.Output(pipe.write)

    print("a log line", file=output)  # two writes: the text, then its end
    output.write("no end yet")
    assert pipe.data == b"a log line\n"
    output.close()
    assert pipe.data == b"a log line\nno end yet"


def test_a_signal_during_a_partial_write_finishes_that_line_starts_no_other_then_stops():
    pipe = Pipe(take=7)  # a slow reader: every write goes through in part
    output = run_module.Output(pipe.write)
    lines = [f'{{"type":"LOG","n":{n}}}\n' for n in range(3)]
    seen = []

    def signal_arrives(calls):
        if calls == 1:  # the first line half written
            output.interrupt(signal.SIGTERM)  # must not raise here: the write would lose its count
            seen.append(output.stop_code)

    pipe.on_call = signal_arrives
    with pytest.raises(run_module.Stopped) as stopped:
        output.write("".join(lines))

    assert seen == [143] and stopped.value.code == 143
    assert pipe.data == lines[0].encode()  # the first line whole, nothing of the next
    output.close()
    assert pipe.data == lines[0].encode()


def test_after_a_stop_the_main_thread_leaves_and_other_threads_lines_are_dropped():
    pipe = Pipe()
    output = run_module.Output(pipe.write)
    with pytest.raises(run_module.Stopped) as stopped:
        output.interrupt(signal.SIGINT)
    assert stopped.value.code == 130

    other = threading.Thread(target=output.write, args=('{"type":"LOG"}\n',))
    other.start()
    other.join()
    with pytest.raises(run_module.Stopped):
        output.write('{"type":"LOG"}\n')
    assert pipe.data == b""


def test_a_closed_stdout_stops_the_output_quietly_with_exit_code_141():
    pipe = Pipe()
    output = run_module.Output(pipe.write)
    pipe.broken = True

    other = threading.Thread(target=output.write, args=('{"type":"LOG","from":"a stream thread"}\n',))
    other.start()
    other.join()  # no exception in that thread
    assert output.stop_code == 141
    with pytest.raises(run_module.Stopped) as stopped:
        output.write(record(1))
    assert stopped.value.code == 141


def test_a_stop_leaves_after_the_grace_whatever_the_reader_does():
    left = threading.Event()
    codes = []
    output = run_module.Output(Pipe().write, grace=0.05, leave=lambda code: (codes.append(code), left.set()))
    threads = threading.active_count()

    with pytest.raises(run_module.Stopped):
        output.interrupt(signal.SIGTERM)

    # No thread started in the handler: starting one there can wait forever on a lock that the
    # interrupted main thread holds.
    assert threading.active_count() == threads
    assert left.wait(10)
    assert codes == [143]


def test_run_writes_through_the_output_and_puts_stdout_and_the_log_handler_back(capsys):
    stdout = sys.stdout
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is PRINT_BUFFER]

    run_module.run(["spec"])

    assert '"type":"SPEC"' in capsys.readouterr().out
    assert sys.stdout is stdout
    assert all(h.stream is PRINT_BUFFER for h in handlers)
