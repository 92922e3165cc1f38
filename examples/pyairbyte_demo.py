"""Run the connector from PyAirbyte: check, read into DuckDB, read again.

    make pyairbyte                                       # once: .venv-pyairbyte, with PyAirbyte
    .venv-pyairbyte/bin/python examples/pyairbyte_demo.py

PyAirbyte (the `airbyte` package, about 780 MB) is not a dependency of the connector, hence its
own venv. It runs the connector's console script `source-chartmogul` from that venv, against a
sandbox of the ChartMogul API started here, and keeps what it reads in its default DuckDB cache
under .pyairbyte/ (emptied at each run).
"""

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROJECT_DIR = ROOT / ".pyairbyte"
STREAMS = ["customers", "activities", "plans", "invoices", "customer_monthly_count", "metrics"]
CONFIG = {
    "api_key": "sandbox-api-key-0123456789abcdef",  # the sandbox's default key
    "start_date": "2017-01-25T00:00:00Z",
    "interval": "month",
}


@contextmanager
def sandbox():
    """`python -m sandbox --port 0` until the block ends; yields its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        if not line.startswith("sandbox listening on "):
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        yield line.split()[-1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def show(title: str, result, seconds: float) -> None:
    print(f"\n{title}: {result.processed_records} records read in {seconds:.1f} s; rows in the cache:")
    for name in STREAMS:
        print(f"  {name:<24} {len(result[name]):>6}")


def main() -> None:
    shutil.rmtree(PROJECT_DIR, ignore_errors=True)
    # PyAirbyte reads these when it is imported, so they are set first. Offline: no registry
    # look-up (the connector is local) and no telemetry.
    os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
    os.environ["AIRBYTE_PROJECT_DIR"] = str(PROJECT_DIR)
    # `local_executable` is looked up on PATH: the console script beside this interpreter.
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"

    with sandbox() as url:
        # Not config fields on purpose (see source_chartmogul/config.py): the environment points
        # the connector at the sandbox, which has no rate limit to respect.
        os.environ["CHARTMOGUL_BASE_URL"] = url
        os.environ["CHARTMOGUL_REQUESTS_PER_SECOND"] = "1000"
        import airbyte as ab

        source = ab.get_source("source-chartmogul", local_executable="source-chartmogul", config=CONFIG)
        source.check()
        source.select_streams(STREAMS)

        started = time.monotonic()
        show("First read", source.read(), time.monotonic() - started)

        # PyAirbyte hands back the state of the last read. Activities resumes from its cursor
        # (re-reading the lookback window); the other streams are resumable full refreshes whose
        # state says "complete", so the connector reads nothing for them and the cache keeps the
        # first read's rows, however stale.
        started = time.monotonic()
        show("Second read, with the saved state", source.read(), time.monotonic() - started)

        # A fresh copy of every selected stream.
        started = time.monotonic()
        show("Third read, force_full_refresh=True", source.read(force_full_refresh=True), time.monotonic() - started)

    print(f"\nThe DuckDB file: {PROJECT_DIR / '.cache' / 'default_cache' / 'default_cache.duckdb'}")


if __name__ == "__main__":
    main()
