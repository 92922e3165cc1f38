"""Drive the real CLI (`python main.py ...`) against the sandbox and read what it printed.

Also the expected records of every stream, computed from the sandbox's full data set, so
a test can compare a sync with everything the API serves.
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

from sandbox.data import parse_cfl
from testing.configs import EXAMPLE_START_DATE, SANDBOX_API_KEY
from testing.streams import COUNT_INTERVALS, INVOICE_ITEM_STREAMS, SEGMENT_STREAMS, catalog

ROOT = Path(__file__).resolve().parent.parent

# The segments of the tests' config: by country, by plan name (plans of that name in several data
# sources), by plan external id in several countries, and by a CFL filter.
SEGMENTS = (
    {"name": "United States", "geo": ["US"]},
    {"name": "Gold Monthly", "plans": ["Gold Monthly"]},
    {"name": "bronze_annual in DE, FR, GB", "plans": ["bronze_annual"], "geo": ["DE", "FR", "GB"]},
    {"name": "Paid in EUR", "filters": "currency~ANY~'EUR'"},
)


def config(**overrides) -> dict:
    return {
        "api_key": SANDBOX_API_KEY,
        "start_date": EXAMPLE_START_DATE,
        "interval": "month",
        "segments": [dict(segment) for segment in SEGMENTS],
        **overrides,
    }


def stream_state(name: str, value: dict) -> dict:
    return {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": value}}


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    messages: list = field(default_factory=list)

    def of_type(self, kind: str) -> list:
        return [m for m in self.messages if m.get("type") == kind]

    def records(self, stream: str | None = None) -> list:
        return [
            m["record"]["data"] for m in self.of_type("RECORD") if stream is None or m["record"]["stream"] == stream
        ]

    def streams_with_records(self) -> set:
        return {m["record"]["stream"] for m in self.of_type("RECORD")}

    def states(self, stream: str) -> list:
        return [
            m["state"]["stream"]["stream_state"]
            for m in self.of_type("STATE")
            if m["state"]["stream"]["stream_descriptor"]["name"] == stream
        ]

    def errors(self) -> list:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def statuses(self, stream: str) -> list:
        return [
            m["trace"]["stream_status"]["status"]
            for m in self.of_type("TRACE")
            if m["trace"]["type"] == "STREAM_STATUS"
            and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
        ]

    def logs(self) -> list:
        return [m["log"]["message"] for m in self.of_type("LOG")]

    def connection_status(self) -> dict:
        return self.of_type("CONNECTION_STATUS")[-1]["connectionStatus"]


def _command(tmp: str, command: str, cfg, catalog_, state) -> list:
    args = [sys.executable, str(ROOT / "main.py"), command]
    for flag, content in (("--config", cfg), ("--catalog", catalog_), ("--state", state)):
        if content is not None:
            path = Path(tmp) / f"{flag[2:]}.json"
            path.write_text(json.dumps(content))
            args += [flag, str(path)]
    return args


def _env(base_url: str) -> dict:
    return {**os.environ, "CHARTMOGUL_BASE_URL": base_url}


def run_connector(
    command: str,
    base_url: str,
    cfg: dict | None = None,
    catalog_: dict | None = None,
    state: list | None = None,
    extra_args=(),
    timeout: float = 300,
) -> Run:
    with tempfile.TemporaryDirectory() as tmp:
        args = _command(tmp, command, cfg, catalog_, state) + list(extra_args)
        done = subprocess.run(args, capture_output=True, text=True, env=_env(base_url), timeout=timeout, cwd=ROOT)
    messages = [json.loads(line) for line in done.stdout.splitlines()]  # every line a whole message
    return Run(done.returncode, done.stdout, done.stderr, messages)


def parse_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)


def expected_records(
    dataset,
    stream: str,
    cfg: dict,
    today: date | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list:
    """Every record the API serves for a stream and config, in the order the connector emits them.

    Activities: all from the start date on, the scheduled ones (dated in the future) too, as a
    full refresh reads them; an incremental read stops at the moment it started: `until`.
    """
    start = parse_datetime(cfg["start_date"])
    today = today or datetime.now(timezone.utc).date()
    if stream == "activities":
        lower = max(start, since) if since else start
        return [
            a
            for a in dataset.activities
            if lower <= parse_datetime(a["date"]) and (until is None or parse_datetime(a["date"]) < until)
        ]
    if stream == "customer_count":
        return dataset.customer_count(start.date(), today, cfg["interval"])
    if stream in COUNT_INTERVALS:
        return dataset.customer_count(start.date(), today, COUNT_INTERVALS[stream])
    if stream == "metrics":
        return dataset.metrics_all(start.date(), today, cfg["interval"])
    if stream == "mrr":
        return dataset.metrics_mrr(start.date(), today, cfg["interval"])
    if stream in SEGMENT_STREAMS:
        series = {"metrics": dataset.metrics_all, "mrr": dataset.metrics_mrr}[SEGMENT_STREAMS[stream]]
        return [
            {**entry, "segment": segment["name"]}
            for segment in cfg.get("segments") or []
            for entry in series(start.date(), today, cfg["interval"], segment_customers(dataset, segment))
        ]
    if stream in INVOICE_ITEM_STREAMS:
        nested = INVOICE_ITEM_STREAMS[stream]
        return [
            {**item, "invoice_uuid": invoice["uuid"], "customer_uuid": invoice["customer_uuid"]}
            for invoice in dataset.invoices
            for item in invoice[nested]
        ]
    if stream == "account":
        return [dataset.account]
    if stream == "plan_group_plans":
        return [
            {**plan, "plan_group_uuid": group["uuid"]}
            for group in dataset.plan_groups
            for plan in dataset.plan_group_plans.get(group["uuid"], [])
        ]
    if stream == "customer_subscriptions":
        return [
            {**sub, "customer_uuid": customer["uuid"]}
            for customer in dataset.customers
            for sub in dataset.customer_subscriptions.get(customer["uuid"], [])
        ]
    return list(getattr(dataset, stream))


def segment_customers(dataset, segment: dict) -> frozenset:
    """The sandbox customers a segment of the config stands for."""
    filters = parse_cfl(segment["filters"]) if segment.get("filters") else []
    return dataset.select_customers(segment.get("plans", ()), segment.get("geo", ()), filters)


def assert_same_records(got: list, expected: list, stream: str) -> None:
    # Field for field as served: a null arrives as null (the CDK's serializer would drop it).
    assert len(got) == len(expected), f"{stream}: {len(got)} records, expected {len(expected)}"
    for index, (one, other) in enumerate(zip(got, expected)):
        assert one == other, f"{stream}: record {index} differs:\n got {one}\nwant {other}"


def run_until(base_url: str, cfg: dict, catalog_: dict, stop_when, state: list | None = None) -> list:
    """Starts a read and kills it as soon as `stop_when(messages so far)` is true: an interrupted sync.

    Returns the messages up to and including that one: what the platform would have
    committed had the sync died right after it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            _command(tmp, "read", cfg, catalog_, state),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=_env(base_url),
            cwd=ROOT,
        )
        messages = []
        try:
            for line in process.stdout:
                if not line.strip():
                    continue
                messages.append(json.loads(line))
                if stop_when(messages):
                    return messages
            raise AssertionError("the read ended before the interruption point")
        finally:
            process.kill()
            process.wait()


def records_of(messages: list, stream: str) -> list:
    return [m["record"]["data"] for m in messages if m["type"] == "RECORD" and m["record"]["stream"] == stream]


def state_message(message: dict, stream: str) -> bool:
    return message["type"] == "STATE" and message["state"]["stream"]["stream_descriptor"]["name"] == stream


def last_state(messages: list, stream: str) -> dict:
    """The stream's state in the last of its state messages."""
    return [m for m in messages if state_message(m, stream)][-1]["state"]["stream"]["stream_state"]


def interrupted_at_a_page(base_url: str, cfg: dict, stream: str) -> tuple[list, dict]:
    """A full refresh of `stream` killed right after its first checkpoint at a page cursor: the
    records committed by then, and that checkpoint."""
    committed = run_until(
        base_url,
        cfg,
        catalog([stream]),
        lambda ms: state_message(ms[-1], stream) and "cursor" in ms[-1]["state"]["stream"]["stream_state"],
    )
    return records_of(committed, stream), last_state(committed, stream)
