"""`make bench`: the connector against the sandbox, side by side with a bare requests loop.

Per scenario it runs the real CLI (`main.py read`) and the floor (one `requests` session,
one request at a time, `.json()` of every page, nothing else) over the same pages, each in a
fresh child process, and prints records, records/s, requests, 429/503 drawn, wall time and
peak memory. Then it checks the three goals of the issue as ratios from this one run:

* instant: the connector's records/s at least half the floor's;
* latency: a full sync in at most a third of the floor's time (the floor is the
  one-request-at-a-time client), with no 429 or 503 drawn;
* memory: the connector's peak memory on the large data set within +25 % of the instant one.

Each run is repeated (--repeat, default 3), connector and floor taking turns, and the attempt
with the median wall time counts: this machine's speed drifts by 10 % and more. In the instant
scenario each attempt also times a bare `import airbyte_cdk` in a fresh interpreter, the
start-up any classic CDK connector pays, to set beside the time the instant goal allows.

Options: --quick (small data, one attempt), --scenario NAME, --repeat N, --sandbox thread|process.
The same tables go to .bench/results.md; docs/benchmark.md says what the numbers mean.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `sandbox` lives beside the connector, not in the venv

from sandbox import DEFAULT_API_KEY, Faults, Sandbox, build_dataset  # noqa: E402

WORK = ROOT / ".bench"
SEED = 7
# The sandbox's history starts on 2015-01-01 (sandbox/data.py), so this reads all of it.
START_DATE = "2015-01-01T00:00:00Z"
# The data ends yesterday (UTC), with nothing scheduled after it (the sandbox's future-dated
# activities turn readable as the clock passes them): every attempt reads the same records.
DATA_UNTIL = datetime.now(timezone.utc).date() - timedelta(days=1)
FUTURE_DAYS = 0
INTERVAL = "month"
STREAMS = ("customers", "activities", "customer_count")
RATE_ENV = "CHARTMOGUL_REQUESTS_PER_SECOND"
# Pacing off: on an instant local stand-in the floor is not paced either, so the instant
# comparison measures what the connector costs per record, not the real API's rate limit.
UNPACED = "100000"
PAGE_SIZE = 200


@dataclass
class Run:
    """One child process: the connector or the floor."""

    label: str
    records: dict = field(default_factory=dict)
    requests: int = 0
    statuses: dict = field(default_factory=dict)
    max_parallel: int = 0
    wall: float = 0.0
    first_record: float | None = None
    cpu: float = 0.0
    peak_rss_mb: float = 0.0
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.records.values())

    @property
    def per_second(self) -> float:
        return self.total / self.wall if self.wall else 0.0

    @property
    def throttled(self) -> tuple[int, int]:
        return self.statuses.get("429", 0), self.statuses.get("503", 0)


@dataclass
class Scenario:
    name: str
    about: str
    customers: int
    activities: int
    faults: dict
    connector_rates: tuple  # one connector run per entry: None is the default pacing
    time_cdk_import: bool = False  # also time a bare `import airbyte_cdk`, each attempt
    cdk_imports: list = field(default_factory=list)  # its wall s, per attempt
    runs: list = field(default_factory=list)  # per run label, the median attempt
    attempts: dict = field(default_factory=dict)  # per run label, every attempt


def scenarios(quick: bool) -> list[Scenario]:
    scale = 5 if quick else 1
    real_limits = {"latency_ms": 100, "rate_limit_rps": 40, "max_connections": 20}
    return [
        Scenario(
            "instant",
            "no latency, no limits: what the connector costs per record",
            5000 // scale,
            50000 // scale,
            {},
            (UNPACED, None),
            time_cdk_import=True,
        ),
        Scenario(
            "latency",
            "100 ms a request under the real limits (40 req/s, 20 connections)",
            5000 // scale,
            50000 // scale,
            real_limits,
            (None,),
        ),
        Scenario(
            "memory",
            "the instant sandbox with six times the activities",
            5000 // scale,
            300000 // scale,
            {},
            (UNPACED,),
        ),
    ]


# --- the sandbox, in this process or in its own -------------------------------------------------


def bench_dataset(customers: int, activities: int):
    return build_dataset(
        seed=SEED, customers=customers, activities=activities, today=DATA_UNTIL, future_days=FUTURE_DAYS
    )


class ThreadSandbox:
    """The sandbox served by threads of this process; the simplest, but it shares our GIL."""

    kind = "thread"

    def __init__(self, scenario: Scenario):
        dataset = bench_dataset(scenario.customers, scenario.activities)
        self._sandbox = Sandbox(dataset, api_key=DEFAULT_API_KEY, faults=Faults(**scenario.faults))
        self._sandbox.warm()

    def start(self) -> str:
        return self._sandbox.start()

    def reset(self) -> None:
        self._sandbox.reset_log()

    def stats(self) -> dict:
        return _stats(self._sandbox)

    def stop(self) -> None:
        self._sandbox.stop()


class ProcessSandbox:
    """The sandbox in a child process (`bench.py --serve`), asked for its counters over a pipe."""

    kind = "process"

    def __init__(self, scenario: Scenario):
        spec = {"customers": scenario.customers, "activities": scenario.activities, "faults": scenario.faults}
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve", json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self) -> str:
        line = self._process.stdout.readline().strip()
        if not line.startswith("http"):
            self.stop()
            sys.exit(f"The sandbox did not start: {line!r}")
        return line

    def _ask(self, command: str) -> dict:
        self._process.stdin.write(command + "\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def reset(self) -> None:
        self._ask("reset")

    def stats(self) -> dict:
        return self._ask("stats")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def _stats(sandbox: Sandbox) -> dict:
    return {
        "requests": len(sandbox.requests),
        "statuses": {str(status): count for status, count in sandbox.status_counts.items()},
        "max_parallel": sandbox.max_parallel_seen,
    }


def serve(spec_json: str) -> None:
    """Child mode: serve a sandbox; answer `reset` and `stats` on stdin, stop at its end."""
    spec = json.loads(spec_json)
    dataset = bench_dataset(spec["customers"], spec["activities"])
    sandbox = Sandbox(dataset, api_key=DEFAULT_API_KEY, faults=Faults(**spec["faults"]))
    sandbox.warm()  # the first attempt must not pay for the sandbox's lazy indexes
    print(sandbox.start(), flush=True)
    for line in sys.stdin:
        if line.strip() == "reset":
            sandbox.reset_log()
            print("{}", flush=True)
        elif line.strip() == "stats":
            print(json.dumps(_stats(sandbox)), flush=True)
    sandbox.stop()


# --- the floor: a bare requests loop over the same pages ---------------------------------------


def floor(base_url: str) -> None:
    """Child mode: GET every page the connector reads, one at a time; print what was read."""
    if "airbyte_cdk" in sys.modules:
        sys.exit("The floor imported the CDK: it would pay the connector's start-up.")
    import requests

    session = requests.Session()
    session.auth = (DEFAULT_API_KEY, "")
    counts = {name: 0 for name in STREAMS}
    first = []

    def get(path: str, params: dict) -> dict:
        response = session.get(f"{base_url}/v1/{path}", params=params, timeout=(10, 120))
        response.raise_for_status()
        body = response.json()
        if not first and body.get("entries"):
            first.append(True)
            print(FIRST_RECORD, flush=True)  # the parent times it, as it times the connector's
        return body

    def cursor_chain(name: str, path: str, params: dict) -> None:
        cursor = None
        while True:
            body = get(path, {**params, "per_page": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
            counts[name] += len(body["entries"])
            if not body.get("has_more") or not body.get("cursor"):
                return
            cursor = body["cursor"]

    now = datetime.now(timezone.utc)
    cursor_chain("customers", "customers", {})
    # One chain over the connector's range: from the start date up to now.
    cursor_chain("activities", "activities", {"start-date": START_DATE, "end-date": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    body = get(
        "metrics/customer-count",
        {"start-date": START_DATE[:10], "end-date": now.date().isoformat(), "interval": INTERVAL},
    )
    counts["customer_count"] = len(body["entries"])
    print(json.dumps({"records": counts}), flush=True)


# --- running a child and measuring it ----------------------------------------------------------

RECORD_PREFIX = b'{"type":"RECORD","record":{"stream":"'
FIRST_RECORD = "first record"


GNU_TIME = Path("/usr/bin/time")


def measure(label: str, command: list[str], env: dict, log_path: Path, parse_stdout) -> Run:
    """Runs one child and measures its wall time, CPU time and peak RSS.

    Not wait4's ru_maxrss: Linux carries the spawning process's own peak into a child's at
    exec, so a child of a large bench would look as large as the bench. GNU time forks the
    child from a small process; without it, /proc/<pid>/status VmHWM is sampled instead.
    """
    run = Run(label)
    usage_path = log_path.with_suffix(".time")
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M %U %S", "-o", str(usage_path), *command]
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
        sampler = None if GNU_TIME.exists() else _HighWaterSampler(process.pid)
        parse_stdout(run, process.stdout, started, log)
        _, status, usage = os.wait4(process.pid, 0)
    run.wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if sampler is None:
        peak_kb, user, system = usage_path.read_text().split()[-3:]
        run.peak_rss_mb, run.cpu = int(peak_kb) / 1024, float(user) + float(system)
    else:
        run.peak_rss_mb, run.cpu = sampler.stop() / 1024, usage.ru_utime + usage.ru_stime
    if process.returncode and not run.error:
        run.error = f"exit {process.returncode}; see {log_path.relative_to(ROOT)}"
    return run


class _HighWaterSampler:
    """The child's VmHWM (peak RSS, kB), read every 20 ms while it runs."""

    def __init__(self, pid: int):
        self._path = Path(f"/proc/{pid}/status")
        self._peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            try:
                for line in self._path.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self._peak = max(self._peak, int(line.split()[1]))
            except (OSError, ValueError):
                pass

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self._peak


def connector_output(run: Run, stdout, started: float, log) -> None:
    """Counts records per stream without parsing them; keeps every other message in the log.

    Reads in large chunks and counts in C (bytes.count, one regex): a reader that looked at each
    line in Python would take a good part of a core, which the connector and the sandbox share.
    """
    counts = {name: 0 for name in STREAMS}
    statuses: dict[str, str] = {}
    prefixes = {name: RECORD_PREFIX + name.encode() + b'"' for name in STREAMS}
    rest = b""
    while True:
        chunk = stdout.read1(1 << 20)
        if not chunk:
            break
        data = rest + chunk
        if run.first_record is None and RECORD_PREFIX in data:
            run.first_record = time.perf_counter() - started
        end = data.rfind(b"\n") + 1
        data, rest = data[:end], data[end:]
        found = {name: data.count(prefix) for name, prefix in prefixes.items()}
        for name, count in found.items():
            counts[name] += count
        unknown = data.count(RECORD_PREFIX) - sum(found.values())
        if unknown:
            run.error = run.error or f"{unknown} records of streams other than {', '.join(STREAMS)}"
        for match in OTHER_LINE.finditer(data):
            _other_message(run, match.group(), counts, statuses, log)
    if rest.strip():
        _other_message(run, rest, counts, statuses, log)
    run.records = {name: count for name, count in counts.items() if count}
    unfinished = [name for name in STREAMS if statuses.get(name) != "COMPLETE"]
    if unfinished and not run.error:
        run.error = f"not COMPLETE: {', '.join(unfinished)}"


OTHER_LINE = re.compile(rb"^(?!" + re.escape(RECORD_PREFIX) + rb").+$", re.MULTILINE)


def _other_message(run: Run, line: bytes, counts: dict, statuses: dict, log) -> None:
    if not line.strip():
        return
    log.write(line + b"\n")
    message = orjson.loads(line)
    if message.get("type") == "RECORD":  # another key order than expected: still counted
        name = message["record"]["stream"]
        counts[name] = counts.get(name, 0) + 1
    elif message.get("type") == "TRACE":
        trace = message["trace"]
        if trace.get("type") == "STREAM_STATUS":
            status = trace["stream_status"]
            statuses[status["stream_descriptor"]["name"]] = status["status"]
        elif trace.get("type") == "ERROR" and not run.error:
            run.error = trace["error"].get("message")


def floor_output(run: Run, stdout, started: float, log) -> None:
    for line in stdout:
        log.write(line)
        if line.strip() == FIRST_RECORD.encode():
            run.first_record = time.perf_counter() - started
        elif line.startswith(b"{"):
            run.records = json.loads(line)["records"]
    if not run.records:
        run.error = "no result"


def run_connector(label: str, url: str, rate: str | None, scenario: Scenario, sandbox, catalog: Path) -> Run:
    env = {**os.environ, "CHARTMOGUL_BASE_URL": url}
    env.pop(RATE_ENV, None)
    if rate is not None:
        env[RATE_ENV] = rate
    command = [sys.executable, "main.py", "read", "--config", str(WORK / "config.json"), "--catalog", str(catalog)]
    return _observed(
        sandbox,
        lambda: measure(
            label,
            command,
            env,
            WORK / f"{scenario.name}-connector-{'unpaced' if rate else 'paced'}.log",
            connector_output,
        ),
    )


def run_floor(url: str, scenario: Scenario, sandbox) -> Run:
    command = [sys.executable, __file__, "--floor", url]
    return _observed(
        sandbox,
        lambda: measure(
            "floor: requests loop, 1 at a time",
            command,
            dict(os.environ),
            WORK / f"{scenario.name}-floor.log",
            floor_output,
        ),
    )


def cdk_import_seconds() -> float:
    """Wall time of a fresh interpreter that imports the CDK and leaves as the connector does
    (os._exit): the start-up every classic CDK connector pays before it reads anything."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import os, airbyte_cdk; os._exit(0)"], cwd=ROOT, check=True)
    return time.monotonic() - started


def _observed(sandbox, go) -> Run:
    # The sandbox's rate limit is a sliding one-second window: let the last run's requests age out.
    time.sleep(1.1)
    sandbox.reset()
    run = go()
    stats = sandbox.stats()
    run.requests, run.statuses, run.max_parallel = stats["requests"], stats["statuses"], stats["max_parallel"]
    return run


def discover_catalog(url: str) -> Path:
    """The CLI's own discover, narrowed to the benchmarked streams, all full refresh."""
    env = {**os.environ, "CHARTMOGUL_BASE_URL": url}
    out = subprocess.run(
        [sys.executable, "main.py", "discover", "--config", str(WORK / "config.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    catalog = next(json.loads(line)["catalog"] for line in out.splitlines() if b'"CATALOG"' in line)
    streams = {stream["name"]: stream for stream in catalog["streams"]}
    configured = {
        "streams": [
            {"stream": streams[name], "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
            for name in STREAMS
        ]
    }
    path = WORK / "catalog.json"
    path.write_text(json.dumps(configured, indent=2))
    return path


# --- the scenarios and the goals ---------------------------------------------------------------


def default_rate() -> str:
    # Imported here, in the parent only: it imports the CDK, which the floor must not pay for.
    from source_chartmogul.config import DEFAULT_REQUESTS_PER_SECOND

    return f"{DEFAULT_REQUESTS_PER_SECOND:g}"


def run_scenario(scenario: Scenario, host, repeat: int) -> None:
    """Runs the connector and the floor `repeat` times each, taking turns so that a slow spell of
    the machine hits both; keeps the median attempt (by wall time) of each."""
    print(
        f"\n{scenario.name}: {scenario.customers:,} customers, {scenario.activities:,} activities; {scenario.about}",
        flush=True,
    )
    sandbox = host(scenario)
    url = sandbox.start()
    attempts: dict[str, list[Run]] = {}
    try:
        catalog = WORK / "catalog.json"
        if not catalog.exists():
            catalog = discover_catalog(url)
        for _ in range(repeat):
            for rate in scenario.connector_rates:
                pacing = "pacing off" if rate == UNPACED else f"default pacing, {default_rate()} req/s"
                run = run_connector(f"connector: main.py read, {pacing}", url, rate, scenario, sandbox, catalog)
                attempts.setdefault(run.label, []).append(run)
                print(f"  {_line(run)}", flush=True)
            run = run_floor(url, scenario, sandbox)
            attempts.setdefault(run.label, []).append(run)
            print(f"  {_line(run)}", flush=True)
            if scenario.time_cdk_import:
                scenario.cdk_imports.append(cdk_import_seconds())
                print(f"  python -c 'import airbyte_cdk': {scenario.cdk_imports[-1]:.2f} s", flush=True)
    finally:
        sandbox.stop()
    scenario.runs = [_median(runs) for runs in attempts.values()]
    scenario.attempts = attempts


def _middle(items: list, key=None):
    """The median item (the lower of the two middle ones for an even count)."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


def _median_peak(runs: list[Run]) -> float:
    return _middle([run.peak_rss_mb for run in runs])


def _median(runs: list[Run]) -> Run:
    failed = [run for run in runs if run.error]
    if failed:
        return failed[0]  # a failure is never hidden behind a good median
    return _middle(runs, key=lambda run: run.wall)


def _line(run: Run) -> str:
    outcome = f"FAILED: {run.error}" if run.error else "ok"
    return f"{run.label}: {run.total:,} records in {run.wall:.1f} s ({outcome})"


def goals(by_name: dict[str, Scenario]) -> list[tuple]:
    """(goal, measured, target, passed); passed is None when a scenario it needs was not run,
    INFO for a line that is not a goal."""
    rows = []
    instant = by_name.get("instant")
    if instant:
        connector, floor_run = instant.runs[0], instant.runs[-1]
        ratio = connector.per_second / floor_run.per_second if floor_run.per_second else 0.0
        rows.append(
            (
                "instant: connector records/s / floor records/s",
                f"{connector.per_second:,.0f} / {floor_run.per_second:,.0f} = {ratio:.2f}",
                ">= 0.50",
                _ok(ratio >= 0.5, connector, floor_run),
            )
        )
        # Not a goal: the same ratio without start-up (importing the CDK takes about a second),
        # to tell a fixed cost from a cost per record.
        read_ratio = _read_rate(connector) / _read_rate(floor_run) if _read_rate(floor_run) else 0.0
        rows.append(
            (
                "instant, after the first record: the same ratio",
                f"{_read_rate(connector):,.0f} / {_read_rate(floor_run):,.0f} = {read_ratio:.2f}",
                "-",
                INFO,
            )
        )
        if instant.cdk_imports:
            # Not a goal: how much of the time the goal allows (twice the floor's wall) goes
            # to importing the CDK alone, before any connector code runs.
            imports = _middle(instant.cdk_imports)
            allowed = 2 * floor_run.wall
            rows.append(
                (
                    "instant: importing the CDK alone / the whole run the goal allows",
                    f"{imports:.2f} s / {allowed:.2f} s (2 x floor) = {imports / allowed:.2f}",
                    "-",
                    INFO,
                )
            )
    else:
        rows.append(("instant: connector records/s / floor records/s", "not run", ">= 0.50", None))
    latency = by_name.get("latency")
    if latency:
        connector, floor_run = latency.runs[0], latency.runs[-1]
        ratio = connector.wall / floor_run.wall if floor_run.wall else 0.0
        drawn = sum(sum(run.throttled) for run in latency.attempts.get(connector.label, [connector]))
        rows.append(
            (
                "latency: connector wall time / one-at-a-time wall time",
                f"{connector.wall:.1f} s / {floor_run.wall:.1f} s = {ratio:.2f}",
                "<= 0.33",
                _ok(ratio <= 1 / 3, connector, floor_run),
            )
        )
        rows.append(
            ("latency: 429 + 503 drawn by the connector, every attempt", f"{drawn}", "0", _ok(drawn == 0, connector))
        )
    else:
        rows.append(("latency: connector wall time / one-at-a-time wall time", "not run", "<= 0.33", None))
    memory = by_name.get("memory")
    if memory and instant:
        small, large = instant.runs[0], memory.runs[0]
        # Peaks vary from attempt to attempt more than walls do: the median peak of each.
        small_mb, large_mb = (
            _median_peak(scenario.attempts.get(run.label, [run]))
            for scenario, run in ((instant, small), (memory, large))
        )
        ratio = large_mb / small_mb if small_mb else 0.0
        rows.append(
            (
                f"memory: connector peak RSS, {large.total:,} / {small.total:,} records (median of attempts)",
                f"{large_mb:.0f} MB / {small_mb:.0f} MB = {ratio:.2f}",
                "<= 1.25",
                _ok(ratio <= 1.25, small, large),
            )
        )
    else:
        rows.append(("memory: connector peak RSS, large / instant", "needs instant and memory", "<= 1.25", None))
    return rows


INFO = "info"


def _read_rate(run: Run) -> float:
    if run.first_record is None or run.wall <= run.first_record:
        return 0.0
    return run.total / (run.wall - run.first_record)


def _ok(passed: bool, *runs: Run) -> bool:
    return passed and not any(run.error for run in runs)


def _verdict(passed) -> str:
    if passed is INFO:
        return "info"
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


HEADERS = (
    "run",
    "records",
    "records/s",
    "requests",
    "429",
    "503",
    "max parallel",
    "wall s",
    "1st record s",
    "CPU s",
    "peak RSS MB",
)


def _cells(run: Run) -> tuple:
    throttled = run.throttled
    first = f"{run.first_record:.2f}" if run.first_record is not None else "-"
    return (
        run.label,
        f"{run.total:,}",
        f"{run.per_second:,.0f}",
        f"{run.requests:,}",
        str(throttled[0]),
        str(throttled[1]),
        str(run.max_parallel),
        f"{run.wall:.2f}",
        first,
        f"{run.cpu:.2f}",
        f"{run.peak_rss_mb:.0f}",
    )


def text_report(done: list[Scenario], goal_rows, header: list[str]) -> str:
    lines = list(header)
    for scenario in done:
        lines.append(
            f"\n{scenario.name} ({scenario.customers:,} customers, {scenario.activities:,} activities): "
            f"{scenario.about}"
        )
        rows = [HEADERS] + [_cells(run) for run in scenario.runs]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            )
        lines.append(f"  records per stream, every run: {_per_stream(scenario.runs[-1])}")
        lines.extend(f"  {_spread(label, runs)}" for label, runs in scenario.attempts.items() if len(runs) > 1)
        lines.extend(f"  ! {run.label}: {run.error}" for run in scenario.runs if run.error)
        lines.extend(f"  ! {note}" for note in _mismatches(scenario))
    lines.append("\ngoals")
    width = max(len(goal) for goal, *_ in goal_rows)
    for goal, measured, target, passed in goal_rows:
        lines.append(
            f"  {_verdict(passed):<4}  {goal.ljust(width)}  {measured}"
            + (f"  (target {target})" if target != "-" else "")
        )
    return "\n".join(lines)


def _mismatches(scenario: Scenario) -> list[str]:
    """A comparison is only fair if both sides read the same records."""
    floor_run = scenario.runs[-1]
    return [
        f"{run.label} read other counts than the floor's: {_per_stream(run)}"
        for run in scenario.runs[:-1]
        if run.records != floor_run.records and not run.error
    ]


def _spread(label: str, runs: list[Run]) -> str:
    walls = ", ".join(f"{run.wall:.2f}" for run in runs)
    peaks = ", ".join(f"{run.peak_rss_mb:.0f}" for run in runs)
    return f"{label}: the {len(runs)} attempts' wall s {walls}; peak RSS MB {peaks}"


def _per_stream(run: Run) -> str:
    return ", ".join(f"{name} {run.records.get(name, 0):,}" for name in STREAMS)


def markdown_report(done: list[Scenario], goal_rows, header: list[str]) -> str:
    lines = ["# Benchmark results\n", *(f"- {line}" for line in header), ""]
    for scenario in done:
        lines.append(f"## {scenario.name}: {scenario.customers:,} customers, {scenario.activities:,} activities\n")
        lines.append(f"{scenario.about[0].upper()}{scenario.about[1:]}.\n")
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|")
        lines.extend("| " + " | ".join(_cells(run)) + " |" for run in scenario.runs)
        lines.append("")
        lines.append(f"- records per stream, every run: {_per_stream(scenario.runs[-1])}")
        lines.extend(f"- {_spread(label, runs)}" for label, runs in scenario.attempts.items() if len(runs) > 1)
        lines.extend(f"- **{run.label} failed**: {run.error}" for run in scenario.runs if run.error)
        lines.extend(f"- **{note}**" for note in _mismatches(scenario))
        lines.append("")
    lines.append("## Goals\n")
    lines.append("| goal | measured | target | result |")
    lines.append("|---|---|---|---|")
    lines.extend(
        f"| {goal} | {measured} | {target} | {_verdict(passed)} |" for goal, measured, target, passed in goal_rows
    )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the data: a smoke run under a minute")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=("instant", "latency", "memory"),
        help="run only this scenario (repeatable)",
    )
    parser.add_argument("--repeat", type=int, help="attempts of each run, the median kept (default 3; 1 with --quick)")
    parser.add_argument(
        "--sandbox",
        choices=("process", "thread"),
        default="process",
        help="serve the sandbox from a child process (default) or threads of this one",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    if args.floor:
        floor(args.floor)
        return 0

    WORK.mkdir(exist_ok=True)
    (WORK / "catalog.json").unlink(missing_ok=True)
    config = {"api_key": DEFAULT_API_KEY, "start_date": START_DATE, "interval": INTERVAL}
    (WORK / "config.json").write_text(json.dumps(config, indent=2))
    host = ProcessSandbox if args.sandbox == "process" else ThreadSandbox
    chosen = [s for s in scenarios(args.quick) if not args.scenario or s.name in args.scenario]
    load_before = os.getloadavg()[0]
    if load_before > 0.7:
        print(f"note: load average {load_before:.2f} before the run: other work is using the CPUs")
    started = time.perf_counter()
    repeat = args.repeat or (1 if args.quick else 3)
    for scenario in chosen:
        run_scenario(scenario, host, repeat)

    command = " ".join([".venv/bin/python tools/bench.py", *sys.argv[1:]])
    load_after = os.getloadavg()[0]
    header = [
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"`{command}`, {time.perf_counter() - started:.0f} s in all",
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after"
        + (": other work shared the CPUs, so the numbers are noisy" if max(load_before, load_after) > 0.7 else ""),
        f"sandbox served by a {host.kind}; every run is a fresh child process; peak RSS and CPU s are the child's own",
        f"each run {repeat} time(s), connector and floor taking turns; the attempt with the median wall time is shown",
        "records/s = records / wall time of the whole process, start-up included; "
        "1st record s = start-up until the first record",
        f"pacing off = {RATE_ENV}={UNPACED}: the floor is not paced either, so the instant comparison is of "
        "cost per record; the default-paced run is there for honesty",
    ]
    goal_rows = goals({s.name: s for s in chosen})
    print("\n" + text_report(chosen, goal_rows, header))
    (WORK / "results.md").write_text(markdown_report(chosen, goal_rows, header))
    print(f"\n(also in {(WORK / 'results.md').relative_to(ROOT)})")
    failed = (
        any(passed is False for *_, passed in goal_rows)
        or any(r.error for s in chosen for r in s.runs)
        or any(_mismatches(s) for s in chosen)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
