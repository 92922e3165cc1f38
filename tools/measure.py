"""`make measure`: the measurements behind docs/architecture.md, one sub-command per claim.

Each part of the connector that replaces a part of the CDK says why in docs/architecture.md,
with a figure; this script produces the figure, so that anyone can check it on their machine.

    .venv/bin/python tools/measure.py serializer   # writing a record: ours vs the CDK's way
    .venv/bin/python tools/measure.py exit         # what os._exit saves at the end of `spec`
    .venv/bin/python tools/measure.py arenas       # peak memory of a read, 2 vs glibc's malloc arenas
    .venv/bin/python tools/measure.py backoff      # the CDK's extra second on every Retry-After
    .venv/bin/python tools/measure.py cut-body     # a body cut short: the CDK's retries vs ours
    .venv/bin/python tools/measure.py readers      # partitions read at once: as needed vs all from the start
    .venv/bin/python tools/measure.py pages        # a page at a time, partitions not prefetched, vs 2.2.0
    .venv/bin/python tools/measure.py send         # a page's send path, adapter aside: the CDK's vs transport.fetch
    .venv/bin/python tools/measure.py wire         # a whole read: the wire vs requests' HTTPAdapter.send
    .venv/bin/python tools/measure.py all          # each of them, one after the other

Every figure is a median over repeated runs (--repeat), with each run printed: this machine's
speed drifts (2 cores shared with other work), so a single number means little. Nothing here
asserts a goal; it prints what it measured and how.
"""

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `sandbox` lives beside the connector, not in the venv

START_DATE = "2015-01-01T00:00:00Z"  # where the sandbox's history starts: a read takes all of it
READ_STREAMS = ("customers", "activities", "customer_count")
UNPACED = "100000"  # requests/s: no pacing against a local stand-in


def median(values: list[float]) -> float:
    return statistics.median(values)


def header(title: str, command: str) -> None:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n## {title}\n")
    print(
        f"- `{command}`; Python {platform.python_version()}, {os.cpu_count()} cores, "
        f"load average (1 min) {load:.2f} at the start"
    )


# --- serializer ---------------------------------------------------------------------------------


def served_records(customers: int, activities: int) -> tuple[list, list]:
    """The customers and activities exactly as the sandbox serves them (parsed JSON)."""
    import requests

    from sandbox import DEFAULT_API_KEY, Sandbox, build_dataset

    pages = {"customers": [], "activities": []}
    with Sandbox(build_dataset(seed=7, customers=customers, activities=activities)) as sandbox:
        session = requests.Session()
        session.auth = (DEFAULT_API_KEY, "")
        for stream, params in (("customers", {}), ("activities", {"start-date": "2000-01-01"})):
            query = {"per_page": 200, **params}
            while True:
                body = session.get(f"{sandbox.url}/v1/{stream}", params=query).json()
                pages[stream] += body["entries"]
                if not body["has_more"]:
                    break
                query = {"per_page": 200, "cursor": body["cursor"]}
    return pages["customers"], pages["activities"]


def serializer(args) -> None:
    """Seconds per record to turn records into output lines, in-process, nothing written."""
    from airbyte_cdk.entrypoint import AirbyteEntrypoint
    from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor

    from source_chartmogul.run import record_lines
    from source_chartmogul.sync import Records

    header(
        "Writing a record: orjson lines (run.record_lines) vs AirbyteMessage + the CDK's serializer",
        f"tools/measure.py serializer --activities {args.activities} --repeat {args.repeat}",
    )
    customers, activities = served_records(args.customers, args.activities)
    batches = [
        Records(stream, data[i : i + 200], int(time.time() * 1000))
        for stream, data in (("customers", customers), ("activities", activities))
        for i in range(0, len(data), 200)
    ]
    total = len(customers) + len(activities)

    def ours() -> int:
        counts: defaultdict = defaultdict(float)
        written = 0
        for batch in batches:
            counts[HashableStreamDescriptor(name=batch.stream)] += len(batch.data)
            for line in record_lines(batch):
                written += len(line)
        return written

    def cdk() -> int:
        # What AirbyteEntrypoint.read and .run do for each record: a message object, the count
        # for the next state message, then AirbyteMessageSerializer.dump and orjson.
        counts: defaultdict = defaultdict(float)
        written = 0
        for batch in batches:
            for message in batch.messages():
                message = AirbyteEntrypoint.handle_record_counts(message, counts)
                written += len(AirbyteEntrypoint.airbyte_message_to_string(message))
        return written

    def serializer_only(messages: list) -> int:
        return sum(len(AirbyteEntrypoint.airbyte_message_to_string(message)) for message in messages)

    prebuilt = [message for batch in batches for message in batch.messages()]
    runs: dict[str, list[float]] = {"ours": [], "cdk": [], "cdk serializer only": []}
    for _ in range(args.repeat):  # taking turns, so that a slow spell hits each
        for name, work in (("ours", ours), ("cdk", cdk), ("cdk serializer only", lambda: serializer_only(prebuilt))):
            started = time.perf_counter()
            work()
            runs[name].append((time.perf_counter() - started) / total * 1e6)
    print(f"- {len(customers):,} customers and {len(activities):,} activities as the sandbox serves them\n")
    print("| way | µs a record (median) | every run |")
    print("|---|---:|---|")
    labels = {
        "ours": "run.record_lines: orjson of the data between a fixed head and tail, counted per batch",
        "cdk": "AirbyteMessage + handle_record_counts + AirbyteMessageSerializer.dump + orjson",
        "cdk serializer only": "AirbyteMessageSerializer.dump + orjson of a ready message",
    }
    for name, values in runs.items():
        print(f"| {labels[name]} | {median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")
    saved = (median(runs["cdk"]) - median(runs["ours"])) * total / 1e6
    print(f"\n- over these {total:,} records the CDK's way costs {saved:.2f} s more")


# --- exit ---------------------------------------------------------------------------------------

EXIT_WAYS = {
    "os._exit (run.main, the installed command)": "from source_chartmogul.run import main; main()",
    "Python's usual exit (run.run, then the interpreter's teardown)": (
        "import sys; from source_chartmogul.run import run; run(sys.argv[1:])"
    ),
}


def timed_spec(code: str) -> tuple[float, float]:
    """(seconds to the spec line, seconds from that line to the process's end) of one `spec`."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code, "spec"], stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    last_line = started
    for line in process.stdout:
        if b'"type":"SPEC"' in line:
            last_line = time.perf_counter()
    process.wait()
    ended = time.perf_counter()
    if process.returncode != 0:
        raise SystemExit(f"spec exited {process.returncode}")
    return last_line - started, ended - last_line


def exit_cost(args) -> None:
    header(
        "Leaving: os._exit after the output is flushed, vs Python's usual teardown, on `spec`",
        f"tools/measure.py exit --repeat {args.repeat}",
    )
    runs: dict[str, list[tuple[float, float]]] = {way: [] for way in EXIT_WAYS}
    for _ in range(args.repeat):
        for way, code in EXIT_WAYS.items():
            runs[way].append(timed_spec(code))
    print("\n| way out | to the SPEC line s | from it to the exit s (median) | every run |")
    print("|---|---:|---:|---|")
    for way, values in runs.items():
        tails = [tail for _, tail in values]
        print(
            f"| {way} | {median([head for head, _ in values]):.2f} | {median(tails):.3f} | "
            f"{', '.join(f'{t:.3f}' for t in tails)} |"
        )


# --- arenas -------------------------------------------------------------------------------------


class SandboxProcess:
    """The sandbox in a process of its own, so the measured child shares nothing with it."""

    def __init__(self, customers: int, activities: int, extra=()):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--port", "0", "--customers", str(customers)]
            + ["--activities", str(activities), *extra],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if "listening on" not in line:
            self.process.kill()
            raise SystemExit(f"the sandbox did not start: {line!r}")
        self.url = line.split("listening on", 1)[1].strip()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)


def read_files(tmp: Path, url: str) -> list[str]:
    """Config and catalog (from the connector's own discover) for a full refresh of READ_STREAMS."""
    from sandbox import DEFAULT_API_KEY

    env = {**os.environ, "CHARTMOGUL_BASE_URL": url}
    config = tmp / "config.json"
    config.write_text(json.dumps({"api_key": DEFAULT_API_KEY, "start_date": START_DATE, "interval": "month"}))
    found = subprocess.run(
        [sys.executable, "main.py", "discover", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    streams = next(json.loads(line) for line in found.stdout.splitlines() if '"CATALOG"' in line)["catalog"]["streams"]
    catalog = tmp / "catalog.json"
    configured = [
        {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
        for stream in streams
        if stream["name"] in READ_STREAMS
    ]
    catalog.write_text(json.dumps({"streams": configured}))
    return ["read", "--config", str(config), "--catalog", str(catalog)]


class Read(NamedTuple):
    wall: float  # s
    peak_mb: float  # peak RSS
    cpu: float  # s, user and system
    records: int


def measured_read(url: str, command: list[str], env_extra: dict, program: tuple[str, ...] = ("main.py",)) -> Read:
    """One read (`program` is main.py, or `-c` and code that runs it), measured by GNU time."""
    env = {key: value for key, value in os.environ.items() if key != "MALLOC_ARENA_MAX"}
    env.update({"CHARTMOGUL_BASE_URL": url, "CHARTMOGUL_REQUESTS_PER_SECOND": UNPACED, **env_extra})
    with tempfile.NamedTemporaryFile("r") as usage:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", usage.name, "-f", "%M %U %S", sys.executable, *program, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
        )
        wall = time.perf_counter() - started
        peak_kb, user, system = usage.read().split()[-3:]
    if done.returncode != 0:
        raise SystemExit(f"the read exited {done.returncode}")
    return Read(wall, int(peak_kb) / 1024, float(user) + float(system), done.stdout.count(b'"type":"RECORD"'))


def compare_reads(args, ways: dict[str, tuple[tuple[str, ...], dict]]) -> dict[str, list[Read]]:
    """Each way (its program and environment) read `args.repeat` times, taking turns, after a
    warm-up read (the sandbox builds its indexes lazily); prints the streams and record counts."""
    if not os.path.exists("/usr/bin/time"):
        raise SystemExit("this needs GNU time (/usr/bin/time) for the child's memory and CPU: apt-get install time")
    with SandboxProcess(args.customers, args.activities) as sandbox, tempfile.TemporaryDirectory() as tmp:
        command = read_files(Path(tmp), sandbox.url)
        measured_read(sandbox.url, command, {})
        runs: dict[str, list[Read]] = {way: [] for way in ways}
        for _ in range(args.repeat):
            for way, (program, env) in ways.items():
                runs[way].append(measured_read(sandbox.url, command, env, program))
    records = {read.records for values in runs.values() for read in values}
    print(f"- `main.py read` of {', '.join(READ_STREAMS)}, pacing off, sandbox in its own process (no latency)")
    print(f"- records per run: {', '.join(f'{r:,}' for r in sorted(records))}\n")
    return runs


def arenas(args) -> None:
    default_arenas = 8 * (os.cpu_count() or 1)  # glibc's limit on 64-bit machines: 8 per core
    header(
        "Peak memory of a read: two malloc arenas (run.fewer_malloc_arenas) vs glibc's default",
        f"tools/measure.py arenas --customers {args.customers} --activities {args.activities} --repeat {args.repeat}",
    )
    default = f"glibc's default, up to {default_arenas} (MALLOC_ARENA_MAX={default_arenas}, which main leaves alone)"
    runs = compare_reads(
        args,
        {
            "2 arenas (what run.main sets)": (("main.py",), {}),
            default: (("main.py",), {"MALLOC_ARENA_MAX": str(default_arenas)}),
        },
    )
    print("| malloc arenas | peak RSS MB (median) | every run | wall s (median) |")
    print("|---|---:|---|---:|")
    for way, values in runs.items():
        peaks = [read.peak_mb for read in values]
        print(
            f"| {way} | {median(peaks):.0f} | {', '.join(f'{p:.0f}' for p in peaks)} | "
            f"{median([read.wall for read in values]):.2f} |"
        )


# --- readers ------------------------------------------------------------------------------------


# main.py read with every partitioned stream reading `most` partitions at once from the start, as
# the connector did before parallel.Readers.
def readers_at_once(now: str) -> str:
    return (
        "import sys; from source_chartmogul import parallel, run; init = parallel.Readers.__init__; "
        f"parallel.Readers.__init__ = lambda self, most: (init(self, most), setattr(self, 'now', {now}))[0]; "
        "sys.argv = ['main.py', *sys.argv[1:]]; run.main()"
    )


ALL_READERS_AT_ONCE = readers_at_once("most")
# Two from the start: where a single long wait for the head left a read against a fast server
# before the first reader needed two waits in a row (2.3.1).
TWO_READERS_AT_ONCE = readers_at_once("min(2, most)")


def readers(args) -> None:
    header(
        "Partitions read at once: as the consumer needs them (parallel.Readers) vs all from the start",
        f"tools/measure.py readers --customers {args.customers} --activities {args.activities} --repeat {args.repeat}",
    )
    runs = compare_reads(
        args,
        {
            "one, doubled when the consumer waits (what the connector does)": (("main.py",), {}),
            "two from the start (what one pause of the process left, before 2.3.1)": (("-c", TWO_READERS_AT_ONCE), {}),
            "all 8 from the start (before parallel.Readers)": (("-c", ALL_READERS_AT_ONCE), {}),
        },
    )
    print_cpu_and_wall("partitions at once", runs)


# --- pages ---------------------------------------------------------------------------------------

# main.py read with the partitions (activities windows, fan-out children) prefetched, as before
# 2.3.0: each of their pages sent by a prefetch thread and handed back to the partition's reader.
PARTITIONS_PREFETCHED = """
import sys
from source_chartmogul import activities, base, run

activities.Activities.prefetch_pages = base.FanOutStream.prefetch_pages = True
"""

# ... and with every stream read as before 2.3.0 too: the CDK's Stream.read, each record a step
# of its own from the page to the stream thread's batch (each handed on as a list of one).
ONE_RECORD_AT_A_TIME = (
    PARTITIONS_PREFETCHED
    + """
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig

def one_by_one(pages):
    def read_records(*args, **kwargs):
        for item in pages(*args, **kwargs):
            yield from item if type(item) is list else (item,)
    return read_records

def read_batches(self, configured, logger, slice_logger, stream_state, state_manager):
    self.read_records = one_by_one(self.read_records)
    for item in Stream.read(self, configured, logger, slice_logger, stream_state, state_manager, InternalConfig()):
        yield [item] if isinstance(item, dict) else item

base.ChartmogulStream.read_batches = read_batches
"""
)

RUN_MAIN = """
sys.argv = ["main.py", *sys.argv[1:]]
run.main()
"""


def pages(args) -> None:
    header(
        "Records a page at a time (read_batches), partitions not prefetched, vs as in 2.2.0",
        f"tools/measure.py pages --customers {args.customers} --activities {args.activities} --repeat {args.repeat}",
    )
    runs = compare_reads(
        args,
        {
            "a page at a time, partitions not prefetched (2.3.0)": (("main.py",), {}),
            "a page at a time, partitions prefetched": (("-c", PARTITIONS_PREFETCHED + RUN_MAIN), {}),
            "one record at a time through Stream.read, partitions prefetched (2.2.0)": (
                ("-c", ONE_RECORD_AT_A_TIME + RUN_MAIN),
                {},
            ),
        },
    )
    print_cpu_and_wall("records travel", runs)


# main.py read with every request sent by requests' HTTPAdapter.send and urllib3's pool, as
# before 2.4.0, instead of by the connector's wire (http.client directly).
BY_REQUESTS = """
import sys
from source_chartmogul import run, transport

transport.ChartmogulAdapter.direct = False
"""


def wire_path(args) -> None:
    header(
        "Sending a page: the wire (http.client directly) vs requests' HTTPAdapter.send and urllib3's pool",
        f"tools/measure.py wire --customers {args.customers} --activities {args.activities} --repeat {args.repeat}",
    )
    page_loop(args)
    runs = compare_reads(
        args,
        {
            "the wire (2.4.0)": (("main.py",), {}),
            "requests' HTTPAdapter.send and urllib3 (2.3.1)": (("-c", BY_REQUESTS + RUN_MAIN), {}),
        },
    )
    print_cpu_and_wall("send path", runs)


def page_loop(args) -> None:
    """The same page of 200 activities sent again and again through a connected session, in this
    process, by each way in turn: the CPU and wall time of a page from the adapter down, the
    answer parsed (the sandbox answers in its own process)."""
    import requests

    from sandbox import DEFAULT_API_KEY
    from source_chartmogul import transport

    calls, blocks = 200, 2 * args.repeat
    runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    with SandboxProcess(args.customers, args.activities) as sandbox:
        session = transport.connect(requests.Session(), DEFAULT_API_KEY, float(UNPACED))
        url = f"{sandbox.url}/v1/activities?per_page=200&start-date={START_DATE}"
        settings = session.merge_environment_settings(url, {}, None, None, None)
        request = transport.prepare(session, "GET", url)
        for _ in range(blocks):
            for direct in runs:
                transport.ChartmogulAdapter.direct = direct
                session.send(request, **settings)  # a connection ready, kept alive
                cpu, wall = time.thread_time(), time.perf_counter()
                for _ in range(calls):
                    assert len(session.send(request, **settings).body["entries"]) == 200
                runs[direct].append(
                    ((time.thread_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6)
                )
        transport.ChartmogulAdapter.direct = True
    print(
        f"\n| a page of 200 activities, {calls} a block, {blocks} blocks each way in turn | µs of CPU a page (median) | µs of wall time a page (median) |"
    )
    print("|---|---:|---:|")
    for direct, label in ((True, "the wire (2.4.0)"), (False, "requests' HTTPAdapter.send and urllib3 (2.3.1)")):
        print(f"| {label} | {median([c for c, _ in runs[direct]]):.0f} | {median([w for _, w in runs[direct]]):.0f} |")
    print()


def print_cpu_and_wall(what: str, runs: dict[str, list[Read]]) -> None:
    print(f"| {what} | CPU s (median) | every run | wall s (median) | every run |")
    print("|---|---:|---|---:|---|")
    for way, values in runs.items():
        cpus, walls = [read.cpu for read in values], [read.wall for read in values]
        print(
            f"| {way} | {median(cpus):.2f} | {', '.join(f'{c:.2f}' for c in cpus)} | "
            f"{median(walls):.2f} | {', '.join(f'{w:.2f}' for w in walls)} |"
        )


# --- backoff and cut-body: a server that misbehaves on purpose ----------------------------------


class Misbehaving(BaseHTTPRequestHandler):
    """Answers the first `failures` requests of each path badly, then an empty page."""

    failures = 3
    # "429": Retry-After 1; "cut": a 200 whose body stops halfway, short of its Content-Length;
    # "cut-unsized": the same without a Content-Length, the end of the body being the connection's
    mode = "429"
    seen: dict = {}
    times: dict = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        count = self.seen.get(path, 0)
        self.seen[path] = count + 1
        self.times.setdefault(path, []).append(time.perf_counter())
        body = b'{"entries":[{"uuid":"a"},{"uuid":"b"}],"has_more":false,"cursor":null}'
        if count < self.failures and self.mode == "429":
            self._answer(429, b'{"code":429,"message":"Your request rate has exceeded our rate limit.","param":null}')
        elif count < self.failures and self.mode.startswith("cut"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if self.mode == "cut":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])  # and the connection closes
            self.close_connection = True
        else:
            self._answer(200, body)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def misbehaving_server(mode: str):
    logging.disable(logging.CRITICAL)  # the retry logs of both clients: the table says it all
    Misbehaving.mode = mode
    Misbehaving.seen = {}
    Misbehaving.times = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def cdk_stream(url: str, path: str, honour_retry_after: bool):
    """A plain HttpStream with the CDK's own error handler and backoff (what we replaced)."""
    from airbyte_cdk.sources.streams.http import HttpStream
    from airbyte_cdk.sources.streams.http.error_handlers import BackoffStrategy

    class RetryAfter(BackoffStrategy):
        def backoff_time(self, response_or_exception, attempt_count):
            response = getattr(response_or_exception, "headers", None)
            return float(response["Retry-After"]) if response and "Retry-After" in response else None

    class Plain(HttpStream):
        url_base = f"{url}/"
        primary_key = "uuid"

        def path(self, **kwargs):
            return path

        def next_page_token(self, response):
            return None

        def parse_response(self, response, **kwargs):
            return response.json()["entries"]

        def get_backoff_strategy(self):
            return RetryAfter() if honour_retry_after else super().get_backoff_strategy()

    return Plain()


def ours_session():
    import requests

    from source_chartmogul import transport

    return transport.connect(requests.Session(), "measure-key", float(UNPACED))


def attempt(label: str, work, path: str) -> dict:
    started = time.perf_counter()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the CDK prints RATE_LIMITED stream statuses
            outcome = f"{len(work())} records"
    except Exception as error:  # what the caller would see
        outcome = f"{type(error).__name__}: {str(error)[:90]}"
    wall = time.perf_counter() - started
    times = Misbehaving.times.get(f"/{path}", [])
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    return {"label": label, "wall": wall, "requests": len(times), "gaps": gaps, "outcome": outcome}


def print_attempts(rows: list[dict]) -> None:
    print("| client | requests | gaps between them s | wall s | outcome |")
    print("|---|---:|---|---:|---|")
    for row in rows:
        gaps = ", ".join(f"{gap:.2f}" for gap in row["gaps"]) or "-"
        print(f"| {row['label']} | {row['requests']} | {gaps} | {row['wall']:.2f} | {row['outcome']} |")


def read_all(stream) -> list:
    from airbyte_cdk.models import SyncMode

    return list(stream.read_records(SyncMode.full_refresh))


CLIENTS = {
    "ours": "ours: transport.ChartmogulAdapter",
    "cdk-retry-after": "CDK: HttpStream, a BackoffStrategy returning Retry-After",
    "cdk-default": "CDK: HttpStream, its default error handler and backoff",
}


def compare_clients(mode: str, clients: list[str]) -> list[dict]:
    """Each client reads one page from a server that answers its first three requests badly."""
    server, url = misbehaving_server(mode)
    rows = []
    try:
        for client in clients:  # one path per client: each starts with three bad answers
            if client == "ours":
                session = ours_session()
                work = partial(lambda s, u: s.get(u).json()["entries"], session, f"{url}/{client}")
            else:
                work = partial(read_all, cdk_stream(url, client, honour_retry_after=client == "cdk-retry-after"))
            rows.append(attempt(CLIENTS[client], work, client))
    finally:
        server.shutdown()
    return rows


def backoff(args) -> None:
    header("429 with `Retry-After: 1`, three times, then the page", "tools/measure.py backoff")
    print()
    print_attempts(compare_clients("429", ["ours", "cdk-retry-after", "cdk-default"]))


def cut_body(args) -> None:
    header("A 200 whose body stops halfway, three times, then the page", "tools/measure.py cut-body")
    for mode, what in (
        ("cut", "The body is shorter than its Content-Length"),
        ("cut-unsized", "No Content-Length: the body ends where the connection closes"),
    ):
        print(f"\n{what}:\n")
        print_attempts(compare_clients(mode, ["ours", "cdk-default"]))


# --- send --------------------------------------------------------------------------------------


def send_path(args) -> None:
    """The CPU a page costs between the stream and the transport adapter, the adapter stubbed out
    (it answers at once with a parsed empty page): the CDK's `HttpClient.send_request` (as
    `cdk.fetch_now` calls it) against `transport.fetch` (as `ChartmogulStream._send` calls it)."""
    import requests
    from requests.adapters import BaseAdapter

    from source_chartmogul import cdk, transport
    from source_chartmogul.config import parse_config
    from source_chartmogul.streams import Customers

    class Instant(BaseAdapter):
        def send(self, request, **kwargs):
            response = requests.Response()
            response.status_code, response._content, response.request, response.url = 200, b"{}", request, request.url
            answer = transport.Answer.of(response, 1)
            answer.body = {"entries": [], "has_more": False}
            return answer

        def close(self) -> None:
            pass

    header("A page's send path, the adapter stubbed out", "tools/measure.py send")
    stream = Customers(parse_config({"api_key": "measure-api-key-0123456789", "start_date": START_DATE}))
    for scheme in ("https://", "http://"):  # whatever CHARTMOGUL_BASE_URL says, nothing goes out
        cdk.session(stream).mount(scheme, Instant())
    token = {"cursor": "c-2"}
    ways = {
        "the CDK's (HttpClient.send_request)": lambda: cdk.fetch_now(stream, {}, {}, token),
        "ours (transport.fetch)": lambda: stream.fetch_page({}, {}, token),
    }
    calls = 3000
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        for name, way in ways.items():
            began = time.process_time()
            for _ in range(calls):
                way()
            runs[name].append((time.process_time() - began) / calls * 1e6)
    print(f"\n| way ({calls:,} pages a run) | µs of CPU a page, median of {args.repeat} | runs |\n|---|---:|---|")
    for name, values in runs.items():
        print(f"| {name} | {median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} |")


COMMANDS = {
    "serializer": serializer,
    "exit": exit_cost,
    "arenas": arenas,
    "backoff": backoff,
    "cut-body": cut_body,
    "readers": readers,
    "pages": pages,
    "send": send_path,
    "wire": wire_path,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=[*COMMANDS, "all"])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each way (default 5)")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument(
        "--activities",
        type=int,
        help="default: 50,000 for serializer, 300,000 for arenas, readers, pages and wire (where threads' memory grows)",
    )
    args = parser.parse_args()
    os.chdir(ROOT)
    chosen = args.activities
    for name in COMMANDS if args.command == "all" else [args.command]:
        args.activities = chosen or (300_000 if name in ("arenas", "readers", "pages", "wire") else 50_000)
        COMMANDS[name](args)


if __name__ == "__main__":
    main()
