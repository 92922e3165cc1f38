"""`make bench`: the connector against the sandbox, side by side with a bare requests loop.

Per scenario it runs the real CLI (`main.py read`) and the floor (one `requests` session,
one request at a time, `.json()` of every page, nothing else) over the same pages, each in a
fresh child process, and prints records, requests, 429/503 drawn, start-up, wall time and peak
memory. Then it judges the goals of issue 13 as ratios from this one run:

* per record: the connector's marginal records/s between the two instant data sets (small and
  large; pacing lifted for both, as the floor is not paced either) at least 0.8x the floor's.
  Start-up cancels out of a marginal rate: it is reported on its own line. Small and large run
  attempt by attempt, and each attempt gives a ratio (its four runs within a minute, at one pace
  of the machine); the median ratio counts. The ratio of the median runs is shown beside it.
* latency: in each latency scenario the connector's wall time within 1.1x of the bound, with
  no 429 or 503 drawn in any attempt. The bound is the connector's own start-up (spawn to first
  request) plus the longest chain that cannot be split (the customers pages, each asked for
  with the cursor of the one before) times the round trip the floor measured on it; or, if
  longer, the time the API's limits need for all the pages the floor read.
* memory: the connector's peak RSS on the large data set within 1.25x of the small one's.

Start-up, per command (spec, check, discover, read): the time from spawn to the command's first
request, or to its exit if it sends none, beside a bare `import airbyte_cdk` in a fresh
interpreter, taken attempt by attempt in the small scenario. Reported, not judged.

Each run is repeated (--repeat, default 3), connector and floor taking turns (and small and
large), and the attempt with the median wall time counts: this machine's speed drifts by 10 %
and more. Under latency the floor is slow and steady (it waits on the sandbox, not the CPU): it
runs in the first attempt only.

Options: --quick or BENCH_QUICK=1 (a fifth of the data, one attempt), --scenario NAME,
--repeat N, --sandbox thread|process. The same tables go to .bench/results.md;
docs/benchmark.md says what the numbers mean.
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
# Daily, as the issue measured it: customer_count is then one answer of some 4,000 entries.
INTERVAL = "day"
STREAMS = ("customers", "activities", "customer_count")
# The chain no client can split: customers are paged by cursor only, with no filter to cut them
# into ranges read at once, and each page's cursor comes with the page before. (Activities can
# be cut by date; customer_count is one request.)
CHAIN = "customers"
CHAIN_PATH = f"/v1/{CHAIN}"
RATE_ENV = "CHARTMOGUL_REQUESTS_PER_SECOND"
# Pacing lifted: on an instant local stand-in the floor is not paced either, so the per-record
# comparison measures what the connector costs per record, not the real API's rate limit.
UNPACED = "100000"
PAGE_SIZE = 200
# ChartMogul's documented limits (40 requests/s per account, 20 parallel connections) and the
# round trip the issue measured its stand-in at.
REAL_LIMITS = {"latency_ms": 150, "rate_limit_rps": 40, "max_connections": 20}

PER_RECORD_TARGET = 0.8  # connector's marginal records/s / the floor's, at least
PER_RECORD_PAIR = ("small", "large")  # the two sizes of the per-record rate, run attempt by attempt
BOUND_TARGET = 1.1  # connector's wall / the bound, at most
MEMORY_TARGET = 1.25  # connector's peak RSS, large / small, at most
STARTUP_COMMANDS = ("spec", "check", "discover", "read")
BARE_IMPORT = "import airbyte_cdk"


@dataclass
class Run:
    """One child process: the connector, the floor, or a start-up command."""

    label: str
    records: dict = field(default_factory=dict)
    requests: int = 0
    statuses: dict = field(default_factory=dict)
    max_parallel: int = 0
    wall: float = 0.0
    spawned: float = 0.0  # time.monotonic() at spawn: the sandbox logs requests on that clock
    startup: float | None = None  # spawn to the first request the sandbox saw
    first_record: float | None = None
    chain: tuple | None = None  # the floor's own timing of the customers chain: (pages, seconds)
    paths: dict = field(default_factory=dict)  # per path, as the sandbox saw it: [count, first start, last end]
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
    paced: bool  # the connector's default pacing; False: lifted (UNPACED)
    time_startup: bool = False  # also run spec, check, discover and a bare CDK import, each attempt
    runs: dict = field(default_factory=dict)  # "connector", "floor": the median attempt of each
    attempts: dict = field(default_factory=dict)  # "connector", "floor", and start-up commands: every attempt

    @property
    def latency(self) -> bool:
        return bool(self.faults.get("latency_ms"))


def scenarios(quick: bool) -> list[Scenario]:
    scale = 5 if quick else 1
    return [
        Scenario(
            "small",
            "no latency, no limits, pacing lifted: the smaller size of the per-record rate",
            5000 // scale,
            50000 // scale,
            {},
            paced=False,
            time_startup=True,
        ),
        Scenario(
            "large",
            "the same with six times the activities: the larger size of the per-record rate",
            5000 // scale,
            300000 // scale,
            {},
            paced=False,
        ),
        Scenario(
            "latency-mixed",
            "150 ms a request under the API's limits (40 req/s, 20 connections), default pacing",
            6000 // scale,
            22000 // scale,
            REAL_LIMITS,
            paced=True,
        ),
        Scenario(
            "latency-customers",
            "the same limits; customers dominate, few activities",
            20000 // scale,
            2000 // scale,
            REAL_LIMITS,
            paced=True,
        ),
    ]


SCENARIO_NAMES = tuple(scenario.name for scenario in scenarios(False))
LATENCY_SCENARIOS = tuple(scenario.name for scenario in scenarios(False) if scenario.latency)


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
    log = sandbox.requests
    paths: dict[str, list] = {}
    for request in log:
        ended = request.started + request.duration
        count, first, last = paths.get(request.path, (0, request.started, ended))
        paths[request.path] = [count + 1, min(first, request.started), max(last, ended)]
    return {
        "requests": len(log),
        "statuses": {str(status): count for status, count in sandbox.status_counts.items()},
        "max_parallel": sandbox.max_parallel_seen,
        "first_request": min((request.started for request in log), default=None),
        "paths": paths,
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

    def cursor_chain(name: str, path: str, params: dict) -> int:
        cursor, pages = None, 0
        while True:
            body = get(path, {**params, "per_page": PAGE_SIZE, **({"cursor": cursor} if cursor else {})})
            pages += 1
            counts[name] += len(body["entries"])
            if not body.get("has_more") or not body.get("cursor"):
                return pages
            cursor = body["cursor"]

    now = datetime.now(timezone.utc)
    # Timed here, page to page with nothing else in between: the round trip of the chain bound.
    began = time.perf_counter()
    pages = cursor_chain(CHAIN, CHAIN, {})
    chain = (pages, time.perf_counter() - began)
    # One chain over the connector's range: from the start date up to now.
    cursor_chain("activities", "activities", {"start-date": START_DATE, "end-date": now.strftime("%Y-%m-%dT%H:%M:%SZ")})
    body = get(
        "metrics/customer-count",
        {"start-date": START_DATE[:10], "end-date": now.date().isoformat(), "interval": INTERVAL},
    )
    counts["customer_count"] = len(body["entries"])
    print(json.dumps({"records": counts, "chain": chain}), flush=True)


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
    run.spawned = time.monotonic()
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
    The regex starts with a newline, which the regex engine finds by a plain byte search; one
    that starts with a MULTILINE `^` tries every byte and took 0.65 s of CPU for a read of
    310,000 records (200 MB), against 0.08 s: CPU the bench took from the connector it timed.
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
        if not data.startswith(RECORD_PREFIX):  # the chunk's first line has no newline before it
            _other_message(run, data[: data.find(b"\n")], counts, statuses, log)
        for match in OTHER_LINE.finditer(data):
            _other_message(run, match.group(1), counts, statuses, log)
    if rest.strip():
        _other_message(run, rest, counts, statuses, log)
    run.records = {name: count for name, count in counts.items() if count}
    unfinished = [name for name in STREAMS if statuses.get(name) != "COMPLETE"]
    if unfinished and not run.error:
        run.error = f"not COMPLETE: {', '.join(unfinished)}"


# A line after the first of a chunk that is not a record (group 1: the line).
OTHER_LINE = re.compile(rb"\n(?!" + re.escape(RECORD_PREFIX) + rb")([^\n]+)")


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
            result = json.loads(line)
            run.records, run.chain = result["records"], tuple(result["chain"])
    if not run.records:
        run.error = "no result"


def expect_message(kind: str, check=None):
    """A stdout reader for spec, check and discover: keeps the output, wants one message of `kind`."""

    def parse(run: Run, stdout, started: float, log) -> None:
        seen = False
        for line in stdout:
            log.write(line)
            if line.startswith(b"{") and f'"type":"{kind}"'.encode() in line:
                message = orjson.loads(line)
                seen = True
                problem = check(message) if check else None
                if problem:
                    run.error = run.error or problem
        if not seen and not run.error:
            run.error = f"no {kind} message"

    return parse


def _check_failed(message: dict) -> str | None:
    status = message["connectionStatus"]
    return None if status["status"] == "SUCCEEDED" else f"check {status['status']}: {status.get('message')}"


def drain(run: Run, stdout, started: float, log) -> None:
    log.write(stdout.read())


def connector_env(url: str, paced: bool) -> dict:
    env = {**os.environ, "CHARTMOGUL_BASE_URL": url}
    env.pop(RATE_ENV, None)
    if not paced:
        env[RATE_ENV] = UNPACED
    return env


def run_connector(url: str, scenario: Scenario, sandbox, catalog: Path) -> Run:
    pacing = f"default pacing, {default_rate()} req/s" if scenario.paced else "pacing lifted"
    command = [sys.executable, "main.py", "read", "--config", str(WORK / "config.json"), "--catalog", str(catalog)]
    log = WORK / f"{scenario.name}-connector.log"
    env = connector_env(url, scenario.paced)
    return _observed(
        sandbox, scenario, lambda: measure(f"connector: main.py read, {pacing}", command, env, log, connector_output)
    )


def run_floor(url: str, scenario: Scenario, sandbox) -> Run:
    command = [sys.executable, __file__, "--floor", url]
    log = WORK / f"{scenario.name}-floor.log"
    return _observed(
        sandbox,
        scenario,
        lambda: measure("floor: requests loop, 1 at a time", command, dict(os.environ), log, floor_output),
    )


def run_startup(name: str, url: str, scenario: Scenario, sandbox) -> Run:
    """One start-up command: a bare CDK import, or spec, check or discover through the CLI."""
    config = ["--config", str(WORK / "config.json")]
    commands = {
        # Leaves as the connector does (os._exit): the start-up every classic CDK connector pays.
        BARE_IMPORT: ([sys.executable, "-c", "import os, airbyte_cdk; os._exit(0)"], drain),
        "spec": ([sys.executable, "main.py", "spec"], expect_message("SPEC")),
        "check": ([sys.executable, "main.py", "check", *config], expect_message("CONNECTION_STATUS", _check_failed)),
        "discover": ([sys.executable, "main.py", "discover", *config], expect_message("CATALOG")),
    }
    command, parse = commands[name]
    log = WORK / f"{scenario.name}-startup-{name.replace(' ', '-')}.log"
    label = f"python -c '{name}'" if name == BARE_IMPORT else f"main.py {name}"
    env = connector_env(url, scenario.paced)
    return _observed(sandbox, scenario, lambda: measure(label, command, env, log, parse))


def _observed(sandbox, scenario: Scenario, go) -> Run:
    if scenario.faults.get("rate_limit_rps"):
        # The sandbox's rate limit is a sliding one-second window: let the last run's requests age out.
        time.sleep(1.1)
    sandbox.reset()
    run = go()
    stats = sandbox.stats()
    run.requests, run.statuses, run.max_parallel = stats["requests"], stats["statuses"], stats["max_parallel"]
    run.paths = stats["paths"]
    if stats["first_request"] is not None:
        run.startup = stats["first_request"] - run.spawned
    return run


def startup_of(run: Run) -> float | None:
    """Spawn to the first request; for a command that sends none (spec, discover), spawn to exit."""
    if run.error:
        return None
    return run.startup if run.requests else run.wall


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


# --- the scenarios ------------------------------------------------------------------------------


def default_rate() -> str:
    # Imported here, in the parent only: it imports the CDK, which the floor must not pay for.
    from source_chartmogul.config import DEFAULT_REQUESTS_PER_SECOND

    return f"{DEFAULT_REQUESTS_PER_SECOND:g}"


def groups(chosen: list[Scenario]) -> list[list[Scenario]]:
    """The scenarios run together: small and large take turns attempt by attempt, as the
    per-record rate pairs them; every other scenario runs alone."""
    paired = [s for s in chosen if s.name in PER_RECORD_PAIR]
    return ([paired] if paired else []) + [[s] for s in chosen if s.name not in PER_RECORD_PAIR]


def run_scenarios(group: list[Scenario], host, repeat: int) -> None:
    """Runs the connector and the floor of each scenario of `group` `repeat` times, taking turns
    (connector and floor, scenario after scenario, attempt after attempt) so that a slow spell
    of the machine hits them all; keeps the median attempt (by wall time) of each."""
    sandboxes = []
    try:
        for scenario in group:
            print(
                f"\n{scenario.name}: {scenario.customers:,} customers, {scenario.activities:,} activities; "
                f"{scenario.about}",
                flush=True,
            )
            sandbox = host(scenario)
            sandboxes.append((scenario, sandbox, sandbox.start()))
        catalog = WORK / "catalog.json"
        if not catalog.exists():
            catalog = discover_catalog(sandboxes[0][2])
        for attempt in range(repeat):
            for scenario, sandbox, url in sandboxes:
                run_attempt(
                    scenario, sandbox, url, catalog, attempt, prefix=f"{scenario.name}: " if len(group) > 1 else ""
                )
    finally:
        for _, sandbox, _ in sandboxes:
            sandbox.stop()
    for scenario in group:
        scenario.runs = {
            role: _median(scenario.attempts[role]) for role in ("connector", "floor") if role in scenario.attempts
        }


def run_attempt(scenario: Scenario, sandbox, url: str, catalog: Path, attempt: int, prefix: str) -> None:
    attempts: dict[str, list[Run]] = scenario.attempts
    if scenario.time_startup:
        # Back to back with the read, so each attempt's differences share the machine's pace.
        for name in (BARE_IMPORT, *STARTUP_COMMANDS[:-1]):
            run = run_startup(name, url, scenario, sandbox)
            attempts.setdefault(name, []).append(run)
            print(f"  {prefix}{_line(run)}", flush=True)
    run = run_connector(url, scenario, sandbox, catalog)
    attempts.setdefault("connector", []).append(run)
    print(f"  {prefix}{_line(run)}", flush=True)
    if scenario.latency and attempt:
        return  # the floor waits on the sandbox, not the CPU: one attempt is enough
    run = run_floor(url, scenario, sandbox)
    attempts.setdefault("floor", []).append(run)
    print(f"  {prefix}{_line(run)}", flush=True)


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
    startup = startup_of(run)
    first = f", first request at {startup:.2f} s" if startup is not None and run.requests else ""
    records = f"{run.total:,} records in " if run.records else ""
    return f"{run.label}: {records}{run.wall:.2f} s{first} ({outcome})"


# --- the goals ----------------------------------------------------------------------------------

INFO = "info"


def marginal_rate(small: Run, large: Run) -> float | None:
    """Records/s between two data sizes: start-up, the same in both, cancels out. None when the
    larger run was not both larger and slower (sizes too close for this machine's noise)."""
    records, seconds = large.total - small.total, large.wall - small.wall
    if records <= 0 or seconds <= 0:
        return None
    return records / seconds


def bound(
    startup: float,
    chain_pages: int,
    round_trip: float,
    requests: int,
    rate_limit: float | None = None,
    connections: int | None = None,
) -> tuple[float, str]:
    """The least wall time a sync can take: start-up, then the longer of the chain that cannot be
    split (its pages one round trip each) and what the API's limits allow for all the requests
    (at most `rate_limit` a second, and at most `connections` in flight, one round trip each).
    Returns the seconds and which of the two it is ("chain" or "rate")."""
    chain = chain_pages * round_trip
    pace = rate_limit or float("inf")
    if connections:
        pace = min(pace, connections / round_trip)
    rate = requests / pace
    return startup + max(chain, rate), "chain" if chain >= rate else "rate"


def goals(by_name: dict[str, Scenario]) -> list[tuple]:
    """(goal, measured, target, passed); passed is None when a scenario it needs was not run,
    INFO for a line that is not a goal."""
    small, large = by_name.get("small"), by_name.get("large")
    rows = per_record_rows(small, large)
    rows += startup_rows(small)
    for name in LATENCY_SCENARIOS:
        rows += latency_rows(name, by_name.get(name))
    rows += memory_rows(small, large)
    return rows


def per_record_ratio(small: dict[str, Run], large: dict[str, Run]) -> tuple[float | None, str]:
    """The connector's marginal records/s over the floor's, from one run of each role at each
    size, and how it was found."""
    rates = {role: marginal_rate(small[role], large[role]) for role in ("connector", "floor")}
    if rates["connector"] is None or rates["floor"] is None:
        unmeasured = [role for role, rate in rates.items() if rate is None]
        return None, f"no rate for the {' and '.join(unmeasured)}: the large run was not slower than the small one"
    ratio = rates["connector"] / rates["floor"]
    return ratio, f"{rates['connector']:,.0f} / {rates['floor']:,.0f} = {ratio:.2f}"


def per_record_rows(small: Scenario | None, large: Scenario | None) -> list[tuple]:
    """The goal: in each attempt (small and large run back to back, connector and floor in
    turn), the ratio of the two marginal rates; the median of those ratios counts. An attempt
    without a rate counts as a miss. Beside it, as info, the ratio of the median runs."""
    goal = "per record: connector / floor, marginal records/s from small to large, attempt by attempt, pacing lifted"
    target = f">= {PER_RECORD_TARGET:.2f}"
    if not (small and large):
        return [(goal, "needs small and large", target, None)]
    count = min(len(scenario.attempts.get(role, ())) for scenario in (small, large) for role in ("connector", "floor"))
    found = [
        per_record_ratio(
            *({role: s.attempts[role][attempt] for role in ("connector", "floor")} for s in (small, large))
        )
        for attempt in range(count)
    ]
    ratios = [ratio for ratio, _ in found]
    every = [run for s in (small, large) for role in ("connector", "floor") for run in s.attempts[role]]
    if not ratios or None in ratios:
        said = next((said for ratio, said in found if ratio is None), "no attempt")
        rows = [(goal, said, target, False)]
    else:
        median = _middle(ratios)
        measured = "attempts " + ", ".join(f"{ratio:.2f}" for ratio in ratios) + f": median {median:.2f}"
        rows = [(goal, measured, target, _ok(median >= PER_RECORD_TARGET, *every))]
    _, of_medians = per_record_ratio(small.runs, large.runs)
    rows.append(("per record: the same from the median runs (connector, floor; small, large)", of_medians, "-", INFO))
    connector, floor_run = small.runs["connector"], small.runs["floor"]
    startups = [startup_of(run) for run in (connector, floor_run)]
    rows.append(
        (
            "per record: start-up, spawn to first request (small)",
            "connector " + " s, floor ".join(_seconds(value) for value in startups) + " s",
            "-",
            INFO,
        )
    )
    return rows


def startup_rows(small: Scenario | None) -> list[tuple]:
    """What each command adds to a bare `import airbyte_cdk`: the median, over attempts, of the
    difference within each attempt (the two ran back to back, at the machine's pace of the moment)."""
    if not small or BARE_IMPORT not in small.attempts:
        return [("start-up: spec, check, discover, read", "needs small", "-", None)]
    bare = [startup_of(run) for run in small.attempts[BARE_IMPORT]]
    rows = [("start-up: a bare `import airbyte_cdk`, spawn to exit", f"{_seconds(_median_of(bare))} s", "-", INFO)]
    for name in STARTUP_COMMANDS:
        runs = small.attempts.get("connector" if name == "read" else name, [])
        own = [startup_of(run) for run in runs]
        added = [None if a is None or b is None else a - b for a, b in zip(own, bare)]
        until = "first request" if name in ("check", "read") else "exit"
        rows.append(
            (
                f"start-up: main.py {name}, spawn to {until}; added to the bare import",
                f"{_seconds(_median_of(own))} s; {_seconds(_median_of(added), '+')} s",
                "-",
                INFO,
            )
        )
    return rows


def latency_rows(name: str, scenario: Scenario | None) -> list[tuple]:
    goal = f"{name}: connector wall / bound"
    target = f"<= {BOUND_TARGET:.2f}"
    if not scenario:
        return [(goal, "not run", target, None)]
    connector, floor_run = scenario.runs["connector"], scenario.runs["floor"]
    drawn = sum(sum(run.throttled) for run in scenario.attempts.get("connector", [connector]))
    throttle_row = (
        f"{name}: 429 + 503 drawn by the connector, every attempt",
        f"{drawn}",
        "0",
        _ok(drawn == 0, connector),
    )
    if connector.error or floor_run.error or connector.startup is None or not floor_run.chain:
        return [(goal, "no bound: a run failed", target, False), throttle_row]
    pages, seconds = floor_run.chain
    round_trip = seconds / pages
    limit, connections = scenario.faults.get("rate_limit_rps"), scenario.faults.get("max_connections")
    least, where = bound(connector.startup, pages, round_trip, floor_run.requests, limit, connections)
    ratio = connector.wall / least
    if where == "chain":
        how = f"{pages} {CHAIN} pages x {round_trip * 1000:.0f} ms"
    else:
        how = f"{floor_run.requests} requests at {min(limit or 1e9, (connections or 1e9) / round_trip):.0f}/s"
    rows = [
        (goal, f"{connector.wall:.2f} s / {least:.2f} s = {ratio:.2f}", target, _ok(ratio <= BOUND_TARGET, connector)),
        (f"{name}: the bound", f"start-up {connector.startup:.2f} s + {how} = {least:.2f} s ({where})", "-", INFO),
        throttle_row,
        (
            f"{name}: connector wall / one-at-a-time wall",
            f"{connector.wall:.2f} s / {floor_run.wall:.2f} s = {connector.wall / floor_run.wall:.2f}",
            "-",
            INFO,
        ),
    ]
    served = connector.paths.get(CHAIN_PATH)
    if served:
        count, first, last = served
        rows.append(
            (
                f"{name}: the connector's {CHAIN} chain, as the sandbox saw it",
                f"{count} pages in {last - first:.2f} s: {(last - first) / count * 1000:.0f} ms a page",
                "-",
                INFO,
            )
        )
    return rows


def memory_rows(small: Scenario | None, large: Scenario | None) -> list[tuple]:
    target = f"<= {MEMORY_TARGET:.2f}"
    if not (small and large):
        return [("memory: connector peak RSS, large / small", "needs small and large", target, None)]
    runs = small.runs["connector"], large.runs["connector"]
    # Peaks vary from attempt to attempt more than walls do: the median peak of each.
    small_mb, large_mb = (_median_peak(s.attempts["connector"]) for s in (small, large))
    ratio = large_mb / small_mb if small_mb else 0.0
    return [
        (
            f"memory: connector peak RSS, {runs[1].total:,} / {runs[0].total:,} records (median of attempts)",
            f"{large_mb:.0f} MB / {small_mb:.0f} MB = {ratio:.2f}",
            target,
            _ok(ratio <= MEMORY_TARGET, *runs),
        )
    ]


def _median_of(values: list) -> float | None:
    if not values or any(value is None for value in values):
        return None  # a failed attempt is never hidden behind a good median
    return _middle(values)


def _seconds(value: float | None, sign: str = "") -> str:
    return "-" if value is None else f"{value:{sign}.2f}"


def _ok(passed: bool, *runs: Run) -> bool:
    return passed and not any(run.error for run in runs)


def _verdict(passed) -> str:
    if passed is INFO:
        return "info"
    return "n/a" if passed is None else ("PASS" if passed else "FAIL")


# --- the reports --------------------------------------------------------------------------------

HEADERS = (
    "run",
    "records",
    "records/s",
    "requests",
    "429",
    "503",
    "max parallel",
    "wall s",
    "1st request s",
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
        _seconds(run.startup),
        first,
        f"{run.cpu:.2f}",
        f"{run.peak_rss_mb:.0f}",
    )


def _table_runs(scenario: Scenario) -> list[Run]:
    """The median connector and floor runs, then each start-up command's median attempt."""
    startups = [_median(runs) for role, runs in scenario.attempts.items() if role not in ("connector", "floor")]
    return [*scenario.runs.values(), *startups]


def text_report(done: list[Scenario], goal_rows, header: list[str]) -> str:
    lines = list(header)
    for scenario in done:
        lines.append(
            f"\n{scenario.name} ({scenario.customers:,} customers, {scenario.activities:,} activities): "
            f"{scenario.about}"
        )
        rows = [HEADERS] + [_cells(run) for run in _table_runs(scenario)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
        for row in rows:
            lines.append(
                "  "
                + "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            )
        lines.append(f"  records per stream, every run: {_per_stream(scenario.runs['floor'])}")
        lines.extend(f"  {_spread(runs)}" for runs in scenario.attempts.values() if len(runs) > 1)
        lines.extend(f"  ! {run.label}: {run.error}" for run in _failures(scenario))
        lines.extend(f"  ! {note}" for note in _mismatches(scenario))
    lines.append("\ngoals")
    width = max(len(goal) for goal, *_ in goal_rows)
    for goal, measured, target, passed in goal_rows:
        lines.append(
            f"  {_verdict(passed):<4}  {goal.ljust(width)}  {measured}"
            + (f"  (target {target})" if target != "-" else "")
        )
    return "\n".join(lines)


def _failures(scenario: Scenario) -> list[Run]:
    """Every failed attempt, once: a failure is never hidden behind a good median."""
    return [run for runs in scenario.attempts.values() for run in runs if run.error]


def _mismatches(scenario: Scenario) -> list[str]:
    """A comparison is only fair if both sides read the same records."""
    connector, floor_run = scenario.runs.get("connector"), scenario.runs.get("floor")
    if not connector or not floor_run or connector.error or connector.records == floor_run.records:
        return []
    return [f"{connector.label} read other counts than the floor's: {_per_stream(connector)}"]


def _spread(runs: list[Run]) -> str:
    walls = ", ".join(f"{run.wall:.2f}" for run in runs)
    peaks = ", ".join(f"{run.peak_rss_mb:.0f}" for run in runs)
    return f"{runs[0].label}: the {len(runs)} attempts' wall s {walls}; peak RSS MB {peaks}"


def _per_stream(run: Run) -> str:
    return ", ".join(f"{name} {run.records.get(name, 0):,}" for name in STREAMS)


def markdown_report(done: list[Scenario], goal_rows, header: list[str]) -> str:
    lines = ["# Benchmark results\n", *(f"- {line}" for line in header), ""]
    for scenario in done:
        lines.append(f"## {scenario.name}: {scenario.customers:,} customers, {scenario.activities:,} activities\n")
        lines.append(f"{scenario.about[0].upper()}{scenario.about[1:]}.\n")
        lines.append("| " + " | ".join(HEADERS) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(HEADERS) - 1)) + "|")
        lines.extend("| " + " | ".join(_cells(run)) + " |" for run in _table_runs(scenario))
        lines.append("")
        lines.append(f"- records per stream, every run: {_per_stream(scenario.runs['floor'])}")
        lines.extend(f"- {_spread(runs)}" for runs in scenario.attempts.values() if len(runs) > 1)
        lines.extend(f"- **{run.label} failed**: {run.error}" for run in _failures(scenario))
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
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="a fifth of the data, one attempt: a smoke run of about a minute (also BENCH_QUICK=1)",
    )
    parser.add_argument("--scenario", action="append", choices=SCENARIO_NAMES, help="run only this one (repeatable)")
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
    repeat = max(1, args.repeat or (1 if args.quick else 3))
    for group in groups(chosen):
        run_scenarios(group, host, repeat)

    command = " ".join([".venv/bin/python tools/bench.py", *sys.argv[1:]]) + (" (quick)" if args.quick else "")
    load_after = os.getloadavg()[0]
    header = [
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"`{command}`, {time.perf_counter() - started:.0f} s in all",
        f"load average (1 min) {load_before:.2f} before, {load_after:.2f} after"
        + (": other work shared the CPUs, so the numbers are noisy" if max(load_before, load_after) > 0.7 else ""),
        f"sandbox served by a {host.kind}; every run is a fresh child process; peak RSS and CPU s are the child's own",
        f"each run {repeat} time(s), connector and floor taking turns, small and large too (under latency the floor "
        "once); the attempt with the median wall time is shown",
        "records/s = records / wall time of the whole process, start-up included; 1st request s = spawn until "
        "the sandbox saw the first request; 1st record s = spawn until the first record was read",
        f"pacing lifted = {RATE_ENV}={UNPACED} for both sizes of the per-record rate: the floor is not paced either",
    ]
    if args.quick:
        header.append(
            "quick: a fifth of the data, one attempt: a smoke run. The verdicts are shown, but the data is too "
            "small for them to mean much (the read-ahead is not filled on the small size), so they do not set "
            "the exit status"
        )
    goal_rows = goals({s.name: s for s in chosen})
    print("\n" + text_report(chosen, goal_rows, header))
    (WORK / "results.md").write_text(markdown_report(chosen, goal_rows, header))
    print(f"\n(also in {(WORK / 'results.md').relative_to(ROOT)})")
    return exit_status(goal_rows, chosen, args.quick)


def exit_status(goal_rows, done: list[Scenario], quick: bool) -> int:
    """1 if a run failed or read other records than the floor, or (but for a quick run, whose
    data is too small for the goals) a goal was missed."""
    broken = any(_failures(s) for s in done) or any(_mismatches(s) for s in done)
    missed = any(passed is False for *_, passed in goal_rows)
    return 1 if broken or (missed and not quick) else 0


if __name__ == "__main__":
    sys.exit(main())
