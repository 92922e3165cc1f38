"""A hostile stand-in of the API (issue 12): bodies that trickle, gzip bombs, errors that echo the
API key, `Retry-After` as an HTTP date. First the sandbox's modes on the wire, then the connector
against them: the real CLI where the production bounds allow a fast test, in-process otherwise."""

import email.utils
import gzip
import json
import logging
import time

import pytest
import requests
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer
from airbyte_cdk.test.entrypoint_wrapper import read as entrypoint_read

from sandbox import Faults, Sandbox
from sandbox.faults import ECHO_LEAD
from source_chartmogul import SourceChartmogul, transport
from testing.configs import SANDBOX_API_KEY, leaks
from testing.streams import catalog

from .harness import assert_same_records, config, expected_records, run_connector

# Long and unlike anything else in the output: any ten characters of it showing are a leak.
ECHO_KEY = "cm-echo-test-key-5f0e9d8c7b6a5f4e3d2c1b0a"
CUT = transport.QUOTE_CHARS


@pytest.fixture
def hostile(dataset):
    """A sandbox of its own with the given faults, on the session's data set (left unchanged)."""
    servers = []

    def start(api_key: str = SANDBOX_API_KEY, **faults) -> Sandbox:
        servers.append(Sandbox(dataset, api_key=api_key, faults=Faults(**faults)))
        servers[-1].start()
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def get(server: Sandbox, path: str, **kwargs) -> requests.Response:
    return requests.get(server.url + path, auth=(server.api_key, ""), timeout=10, **kwargs)


# --- The sandbox's hostile modes -----------------------------------------------------------------


def test_the_sandbox_trickles_a_body_after_prompt_headers(hostile):
    """20 bytes a second: the body takes most of a second; headers sent that way would take five."""
    server = hostile(trickle_rate=1.0, trickle_bytes_per_second=20)
    begin = time.monotonic()
    with get(server, "/v1/ping", stream=True) as response:
        headed = time.monotonic() - begin
        body = response.raw.read()

    assert headed < 1.0
    assert json.loads(body) == {"data": "pong!"}
    assert time.monotonic() - begin >= len(body) / 20  # a pause before each byte
    assert server.faults_injected == {"trickle": 1}


def test_the_sandbox_serves_a_gzip_bomb_of_valid_json(hostile):
    server = hostile(gzip_bomb_rate=1.0, gzip_bomb_mib=4)
    with get(server, "/v1/ping", stream=True) as response:
        wire = response.raw.read(decode_content=False)

    assert response.headers["Content-Encoding"] == "gzip"
    assert len(wire) < 4 * 2**20 / 500  # about a thousand times smaller than inflated
    inflated = gzip.decompress(wire)
    assert len(inflated) > 4 * 2**20 and json.loads(inflated) == {"entries": []}


@pytest.mark.parametrize("status,content_type", [(400, "application/json"), (401, "application/json"), (500, "text")])
def test_the_sandbox_echoes_the_key_where_asked(hostile, status, content_type):
    server = hostile(api_key=ECHO_KEY, echo_key_rate=1.0, echo_key_status=status, echo_key_at=290)
    response = get(server, "/v1/ping")

    message = response.json()["message"] if content_type != "text" else response.text
    assert response.status_code == status and content_type in response.headers["Content-Type"]
    assert message.index(ECHO_KEY) == 290 and message.endswith(ECHO_LEAD + ECHO_KEY)


def test_the_sandbox_can_give_retry_after_as_an_http_date(hostile):
    """A whole second, rounded up, one to two seconds after the sandbox answered."""
    server = hostile(rate_429=1.0, retry_after_date=True)
    before = time.time()
    response = get(server, "/v1/ping")
    after = time.time()

    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"]).timestamp()
    assert response.status_code == 429
    assert when == int(when) and before + 1 <= when < after + 2


# --- The connector against them ------------------------------------------------------------------


def no_traceback(run) -> bool:
    """Nothing but a trace's own `stack_trace` field may hold a Python traceback."""
    return "Traceback" not in run.stderr and not any("Traceback" in log for log in run.logs())


# Every status and position is in unit_tests/test_errors.py; here the real CLI, with --debug.
@pytest.mark.parametrize(
    "status,at", [(401, 0), (401, CUT - 12), (400, CUT - 12)], ids=["401_whole", "401_straddling", "400_straddling"]
)
def test_a_key_echoed_by_an_error_never_shows_in_check_or_read_even_with_debug(hostile, status, at):
    server = hostile(api_key=ECHO_KEY, echo_key_rate=1.0, echo_key_status=status, echo_key_at=at)
    cfg = config(api_key=ECHO_KEY)

    check = run_connector("check", server.url, cfg, extra_args=["--debug"])
    read = run_connector("read", server.url, cfg, catalog(("account", "plans")), extra_args=["--debug"])

    status_message = check.connection_status()["message"]
    assert f"HTTP {status}" in status_message and "****" in status_message
    assert read.exit_code == 1 and read.records() == []
    assert any("****" in error["message"] for error in read.errors())
    for run in (check, read):
        assert no_traceback(run)
        assert not leaks(run.stdout + run.stderr, ECHO_KEY)


def test_a_gzip_bomb_is_refused_at_the_bound_not_inflated_and_not_retried(hostile):
    """64 MiB inflated from 64 KB, against the real 16 MiB bound."""
    server = hostile(gzip_bomb_rate=1.0, gzip_bomb_mib=64)

    check = run_connector("check", server.url, config())
    read = run_connector("read", server.url, config(), catalog(["account"]))

    assert check.connection_status()["status"] == "FAILED"
    assert "Refused ChartMogul's answer to GET /v1/ping" in check.connection_status()["message"]
    assert read.exit_code == 1 and read.records() == []
    error = [e for e in read.errors() if e.get("stream_descriptor")][0]
    assert error["failure_type"] == "system_error"
    assert error["message"].startswith(
        "Refused ChartMogul's answer to GET /v1/account: it (HTTP 200) is larger than the 16 MiB allowed"
    )
    assert [r.path for r in server.requests] == ["/v1/ping", "/v1/account"]  # one attempt each
    assert no_traceback(check) and no_traceback(read)


def test_a_body_that_trickles_is_given_up_at_the_attempt_deadline_then_read_whole(hostile, monkeypatch, caplog):
    """In-process, with a 0.3 s deadline rather than 180 s: the same path, without the wait."""
    monkeypatch.setattr(
        transport, "DEFAULT_RETRIES", transport.RetryPolicy(base_delay=0.01, max_delay=0.01, max_attempt_time=0.3)
    )
    server = hostile(trickle_rate=1.0, trickle_bytes_per_second=20)  # the account, about 8 s a time
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", server.url)
    begin = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        output = entrypoint_read(
            SourceChartmogul(), config(), ConfiguredAirbyteCatalogSerializer.load(catalog(["account"]))
        )

    assert time.monotonic() - begin < 7.0  # a trickle read whole would take 8 s
    assert [m.record.data for m in output.records] == [server.dataset.account]
    assert server.faults_injected == {"trickle": 3}  # the sandbox gives way after three
    retries = [r.getMessage() for r in caplog.records if "no complete answer within 0.3 s" in r.getMessage()]
    assert len(retries) == 3 and all(r.startswith("GET /v1/account: ") for r in retries)


def test_retry_after_as_an_http_date_is_honoured(hostile):
    """One request a second: the second of two streams draws a 429 whose date is a second or two
    ahead. Waited for, the retry gets through at once; our own backoff (under a second at the
    first retry) would draw another 429."""
    server = hostile(rate_limit_rps=1, retry_after_date=True)
    streams = ("account", "data_sources")

    run = run_connector("read", server.url, config(), catalog(streams))

    assert run.exit_code == 0, run.stderr[-3000:]
    for stream in streams:
        assert_same_records(run.records(stream), expected_records(server.dataset, stream, config()), stream)
    assert server.status_counts[429] == 1, server.status_counts
    refused = next(r for r in server.requests if r.status == 429)
    retried = next(r for r in server.requests if r.path == refused.path and r.started > refused.started)
    # The date is a second or more after the 429 was asked for (it rounds up); 10 ms for the
    # sandbox's monotonic clock against the wall clock the date is of.
    assert retried.started - refused.started >= 1.0 - 0.01
