"""The command line as people and the platform run it: inputs it cannot use, the cases that used
to be silent, and the process itself (stopped by SIGTERM, stdout closed early), against the sandbox."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from source_chartmogul.run import STOP_GRACE_SECONDS
from testing.configs import EXAMPLE_START_DATE, SANDBOX_API_KEY, leaks
from testing.streams import ALL_STREAMS, catalog

from .harness import (
    ROOT,
    Run,
    _command,
    assert_same_records,
    config,
    expected_records,
    parse_datetime,
    run_connector,
)


def write(path: Path, content) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def explained(run: Run) -> str:
    """The one config_error of a run that failed as it should: exit 1, no traceback."""
    assert run.exit_code == 1, run.stdout[-2000:] + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    errors = run.errors()
    assert [e["failure_type"] for e in errors] == ["config_error"], errors
    assert "stack_trace" not in errors[0]
    return errors[0]["message"]


# --- Nothing cryptic --------------------------------------------------------------------------------


def test_bad_config_files_name_the_file_in_check_discover_and_read(fresh_sandbox, dataset, tmp_path):
    server = fresh_sandbox(dataset=dataset)
    missing = tmp_path / "no-such-config.json"
    not_json = write(tmp_path / "config.json", f'{{"api_key": "{SANDBOX_API_KEY}",')
    a_list = write(tmp_path / "list.json", [config()])
    good_catalog = write(tmp_path / "catalog.json", catalog(["customers"]))

    check = run_connector("check", server.url, extra_args=["--config", missing])
    discover = run_connector("discover", server.url, extra_args=["--config", not_json])
    read = run_connector("read", server.url, extra_args=["--config", a_list, "--catalog", good_catalog])

    assert check.exit_code == 0 and "Traceback" not in check.stdout + check.stderr
    assert check.connection_status() == {
        "status": "FAILED",
        "message": f"The --config file '{missing}' does not exist. Check the path. Give a JSON object such as "
        f'{{"api_key": "<read-only key>", "start_date": "{EXAMPLE_START_DATE}", "interval": "month"}}.',
    }
    assert explained(discover).startswith(f"The --config file '{not_json}' is not valid JSON (")
    assert not leaks(discover.stdout, SANDBOX_API_KEY)  # the file's content is never quoted
    assert explained(read).startswith(f"The --config file '{a_list}' holds a list, not a JSON object.")
    assert server.requests == []


@pytest.mark.parametrize(
    "option, content, words",
    [
        ("--catalog", {"type": "CATALOG", "catalog": {"streams": []}}, "holds the CATALOG message that `discover`"),
        ("--state", [{"type": "GLOBAL", "global": {"stream_states": []}}], "GLOBAL state"),
    ],
    ids=["discover_output_as_catalog", "global_state"],
)
def test_a_catalog_or_state_read_cannot_use_is_a_config_error_before_any_request(
    fresh_sandbox, dataset, tmp_path, option, content, words
):
    """The other cases, through the same code in-process: unit_tests/test_source.py."""
    server = fresh_sandbox(dataset=dataset)
    files = {
        "--config": write(tmp_path / "config.json", config()),
        "--catalog": write(tmp_path / "catalog.json", catalog(["customers"])),
    }
    files[option] = write(tmp_path / f"{option[2:]}-given.json", content)

    run = run_connector("read", server.url, extra_args=[part for pair in files.items() for part in pair])

    message = explained(run)
    assert words in message
    assert run.records() == [] and server.requests == []


def test_a_base_url_without_http_is_named_before_any_request(fresh_sandbox, dataset, tmp_path):
    server = fresh_sandbox(dataset=dataset)
    address = server.url.removeprefix("http://")  # 127.0.0.1:port: what people type
    files = ["--config", write(tmp_path / "config.json", config())]

    catalog_file = write(tmp_path / "catalog.json", catalog(["customers"]))
    read = run_connector("read", address, extra_args=[*files, "--catalog", catalog_file])

    assert explained(read).startswith(f"The environment variable CHARTMOGUL_BASE_URL is '{address}', which is not")
    assert server.requests == []


COMPLETED_FULL_REFRESH = {"__ab_full_refresh_sync_complete": True}


# --- Nothing silent -----------------------------------------------------------------------------------


def test_the_last_state_of_a_finished_sync_reads_nothing_of_its_streams_and_says_so(sandbox, dataset):
    first = run_connector("read", sandbox.url, config(), catalog(ALL_STREAMS))
    assert first.exit_code == 0, first.stderr
    last_states = {}
    for message in first.of_type("STATE"):
        last_states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]

    again = run_connector("read", sandbox.url, config(), catalog(ALL_STREAMS), state=list(last_states.values()))

    assert again.exit_code == 0
    warned = {m.split()[2].rstrip(":") for m in again.logs() if m.startswith("Not reading ")}
    unread = {name for name in ALL_STREAMS if not again.records(name)}
    completed = {
        name for name, state in last_states.items() if state["stream"]["stream_state"] == COMPLETED_FULL_REFRESH
    }
    assert warned == unread == completed
    # Activities' full refresh starts over; the segment streams keep no resumable state (several slices).
    assert completed == set(ALL_STREAMS) - {"activities", "segment_metrics", "segment_mrr"}
    for message in again.logs():
        if message.startswith("Not reading "):
            assert "force_full_refresh=True" in message and "drop its entry from the state" in message


def test_a_stream_this_connector_does_not_have_fails_alone(sandbox, dataset):
    run = run_connector("read", sandbox.url, config(), catalog(["no_such_stream", "customers", "plans"]))

    assert run.exit_code == 1
    assert_same_records(run.records("customers"), expected_records(dataset, "customers", config()), "customers")
    assert_same_records(run.records("plans"), expected_records(dataset, "plans", config()), "plans")
    per_stream = [e for e in run.errors() if e.get("stream_descriptor")]
    assert [e["stream_descriptor"]["name"] for e in per_stream] == ["no_such_stream"]
    assert "does not exist in this connector" in per_stream[0]["message"]


# --- make catalog -------------------------------------------------------------------------------------


def catalog_tool(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "tools/catalog.py", *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_make_catalog_writes_a_catalog_that_read_takes(sandbox, dataset, tmp_path):
    config_path = write(tmp_path / "config.json", config())
    output = tmp_path / "made" / "catalog.json"

    made = catalog_tool(
        "--config", config_path, "--output", output, "--streams", "customers,activities", "--incremental"
    )
    run = run_connector("read", sandbox.url, extra_args=["--config", config_path, "--catalog", output])

    assert made.returncode == 0, made.stderr
    assert "customers (full_refresh), activities (incremental)" in made.stdout
    assert run.exit_code == 0, run.stderr
    assert_same_records(run.records("customers"), expected_records(dataset, "customers", config()), "customers")
    assert run.states("activities")[-1].keys() == {"date"}  # incremental: a cursor to start from next time
    # Incremental stops at the moment the read started, where its state ends: no scheduled activities.
    until = parse_datetime(run.states("activities")[-1]["date"])
    expected = expected_records(dataset, "activities", config(), until=until)
    assert_same_records(run.records("activities"), expected, "activities")


# --- the process --------------------------------------------------------------------------------------


def start_read(base_url: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        _command(str(tmp_path), "read", config(), catalog(ALL_STREAMS), None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "CHARTMOGUL_BASE_URL": base_url},
        cwd=ROOT,
    )


def stop_when_the_pipe_is_full(process: subprocess.Popen) -> bytes:
    """Waits for the first line, lets the connector fill the pipe, sends SIGTERM."""
    first = process.stdout.readline()
    time.sleep(1.0)  # a reader this slow: the pipe is full and the connector waits to write
    process.send_signal(signal.SIGTERM)
    return first


def assert_whole_json_lines(data: bytes) -> list:
    assert data.endswith(b"\n"), data[-200:]
    return [json.loads(line) for line in data.splitlines()]


def test_sigterm_with_a_slow_reader_finishes_the_line_and_leaves_promptly(sandbox, tmp_path):
    process = start_read(sandbox.url, tmp_path)
    data = stop_when_the_pipe_is_full(process)
    stopped = time.monotonic()
    left_after = None
    while True:  # 4 KiB every 20 ms: a slow reader, still reading
        chunk = process.stdout.read1(4096)
        if left_after is None and process.poll() is not None:
            left_after = time.monotonic() - stopped
        if not chunk:
            break
        data += chunk
        time.sleep(0.02)
    process.wait(timeout=30)
    left_after = left_after if left_after is not None else time.monotonic() - stopped

    assert process.returncode == -signal.SIGTERM  # ended by the signal: a shell shows 143
    assert left_after < STOP_GRACE_SECONDS  # finished its line as the reader read, not at the deadline
    messages = assert_whole_json_lines(data)
    assert len(messages) > 50 and not any(m["type"] == "TRACE" and m["trace"]["type"] == "ERROR" for m in messages)
    assert process.stderr.read() == b""  # no traceback


def test_sigterm_with_a_reader_that_stopped_reading_leaves_within_the_bound(sandbox, tmp_path):
    process = start_read(sandbox.url, tmp_path)
    data = stop_when_the_pipe_is_full(process)
    stopped = time.monotonic()

    process.wait(timeout=30)  # not reading at all
    left_after = time.monotonic() - stopped
    data += process.stdout.read()

    assert process.returncode == 143  # the bound's thread cannot end it by the signal: the same status in a shell
    assert left_after < STOP_GRACE_SECONDS + 3  # the bound, with room for a loaded machine
    assert_whole_json_lines(data)  # each write is whole lines a pipe takes whole
    assert process.stderr.read() == b""


def test_a_stdout_closed_early_ends_the_read_quietly(sandbox, tmp_path):
    """`source-chartmogul read ... | head -1`"""
    process = start_read(sandbox.url, tmp_path)
    json.loads(process.stdout.readline())
    process.stdout.close()

    process.wait(timeout=60)

    assert process.returncode == -signal.SIGPIPE  # as `yes | head -1`: a shell shows 141
    assert process.stderr.read() == b""  # no traceback, no "Error in sys.excepthook"


def test_the_sandbox_on_a_busy_port_says_so_in_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sandbox", "--port", str(port), "--customers", "1", "--activities", "1"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"python -m sandbox: cannot listen on 127.0.0.1:{port}: something listens there already "
        "(another sandbox?): stop it, or give another --port (0 picks a free port)."
    ]


def test_check_and_read_both_go_through_the_proxy_of_the_environment(sandbox, dataset, monkeypatch):
    # The sandbox as a forward proxy (it answers absolute-URI requests), and a host that does not
    # resolve: a request that skips the proxy fails.
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", sandbox.url)
    base_url = "http://chartmogul.invalid"

    check = run_connector("check", base_url, config())
    read = run_connector("read", base_url, config(), catalog(["customers", "activities"]), timeout=120)

    assert check.connection_status()["status"] == "SUCCEEDED", check.stdout
    assert read.exit_code == 0, read.stderr
    for stream in ("customers", "activities"):
        assert_same_records(read.records(stream), expected_records(dataset, stream, config()), stream)
