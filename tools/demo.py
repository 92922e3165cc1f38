"""`make demo`: start the sandbox, run spec, check, discover and read, and say what was synced.

Everything the connector printed is kept in .demo/ for a closer look.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from source_chartmogul.config import DEFAULT_REQUESTS_PER_SECOND

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".demo"
API_KEY = "sandbox-api-key-0123456789abcdef"
# Segments read by segment_metrics and segment_mrr: one by country, one by plans in some countries.
SEGMENTS = [
    {"name": "United States", "geo": ["US"]},
    {"name": "Gold plans in Europe", "plans": ["Gold Monthly", "Gold Annual"], "geo": ["DE", "FR", "GB"]},
]
MOVEMENTS = ("mrr-new-business", "mrr-expansion", "mrr-reactivation", "mrr-contraction", "mrr-churn")


def start_sandbox() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--api-key", API_KEY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().strip()
    if "listening on" not in line:
        process.kill()
        sys.exit(f"The sandbox did not start: {line!r}")
    return process, line.rsplit(" ", 1)[-1]


def connector(command: str, base_url: str, *args: str):
    """Runs main.py, yielding (seconds since start, message) as the lines arrive."""
    env = {**os.environ, "CHARTMOGUL_BASE_URL": base_url}
    started = time.monotonic()
    out = (WORK / f"{command}.jsonl").open("w")
    process = subprocess.Popen(
        [sys.executable, "main.py", command, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    for line in process.stdout:
        out.write(line)
        if line.strip():
            yield time.monotonic() - started, json.loads(line)
    process.wait()
    out.close()
    if process.returncode:
        sys.exit(f"`main.py {command}` failed (exit {process.returncode}); see {WORK / (command + '.jsonl')}")


def main() -> None:
    WORK.mkdir(exist_ok=True)
    config = {"api_key": API_KEY, "start_date": "2017-01-25T00:00:00Z", "interval": "month", "segments": SEGMENTS}
    config_path = WORK / "config.json"
    config_path.write_text(json.dumps(config, indent=2))
    sandbox, base_url = start_sandbox()
    try:
        print(f"Sandbox (a local stand-in for the ChartMogul API) at {base_url}\n")

        spec = [m for _, m in connector("spec", base_url) if m["type"] == "SPEC"][0]["spec"]
        fields = spec["connectionSpecification"]["properties"]
        print(f"spec      config fields: {', '.join(fields)}")

        status = [
            m for _, m in connector("check", base_url, "--config", str(config_path)) if m["type"] == "CONNECTION_STATUS"
        ][0]["connectionStatus"]
        print(f"check     {status['status']} {status.get('message') or ''}")

        streams = [
            m for _, m in connector("discover", base_url, "--config", str(config_path)) if m["type"] == "CATALOG"
        ][0]["catalog"]["streams"]
        print(f"discover  {len(streams)} streams")

        catalog = {
            "streams": [
                {
                    "stream": s,
                    "sync_mode": "incremental" if "incremental" in s["supported_sync_modes"] else "full_refresh",
                    "destination_sync_mode": "append",
                    **({"cursor_field": s["default_cursor_field"]} if s.get("default_cursor_field") else {}),
                }
                for s in streams
            ]
        }
        catalog_path = WORK / "catalog.json"
        catalog_path.write_text(json.dumps(catalog, indent=2))
        read_summary(connector("read", base_url, "--config", str(config_path), "--catalog", str(catalog_path)))
        print(f"\nEverything the connector printed is in {WORK.relative_to(ROOT)}/")
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def read_summary(messages) -> None:
    counts, started, finished, states = {}, {}, {}, {}
    latest: dict = {}  # the last two entries of mrr, and of segment_mrr per segment
    total = 0.0
    for at, message in messages:
        total = at
        if message["type"] == "RECORD":
            name = message["record"]["stream"]
            counts[name] = counts.get(name, 0) + 1
            if name in ("mrr", "segment_mrr"):
                data = message["record"]["data"]
                name = data.get("segment", "whole account")
                latest[name] = [*latest.get(name, [])[-1:], data]
        elif message["type"] == "STATE":
            states[message["state"]["stream"]["stream_descriptor"]["name"]] = message["state"]["stream"]["stream_state"]
        elif message["type"] == "TRACE" and message["trace"]["type"] == "STREAM_STATUS":
            status = message["trace"]["stream_status"]
            name = status["stream_descriptor"]["name"]
            if status["status"] == "STARTED":
                started[name] = at
            elif status["status"] in ("COMPLETE", "INCOMPLETE"):
                finished[name] = (at, status["status"])
    print(
        f"read      {sum(counts.values())} records in {total:.1f} s, paced at {DEFAULT_REQUESTS_PER_SECOND:g} requests/s as against the real API"
    )
    print("          (customer_subscriptions costs a request per customer, hence its time)\n")
    print(f"  {'stream':<26}{'records':>9}{'seconds':>9}  status")
    for name in sorted(finished):
        at, status = finished[name]
        print(f"  {name:<26}{counts.get(name, 0):>9}{at - started.get(name, 0):>9.2f}  {status}")
    if "activities" in states:
        print(f"\n  activities state for the next incremental sync: {json.dumps(states['activities'])}")
    if latest:
        print_mrr_movements(latest)


def print_mrr_movements(latest: dict) -> None:
    """Where the last whole month's MRR came from, for the account (mrr) and each segment (segment_mrr).

    The last entry is the month so far (the series ends today): the one before it is whole.
    """
    whole = {name: entries[0] for name, entries in latest.items()}
    date = next(iter(whole.values()))["date"]
    print(f"\n  MRR movements of the period ending {date}, in the account's currency (streams mrr and segment_mrr):")
    print(f"  {'':<24}{'MRR':>12}" + "".join(f"{key.removeprefix('mrr-'):>14}" for key in MOVEMENTS))
    for name, entry in whole.items():
        print(f"  {name:<24}{entry['mrr'] / 100:>12,.0f}" + "".join(f"{entry[key] / 100:>14,.0f}" for key in MOVEMENTS))


if __name__ == "__main__":
    main()
