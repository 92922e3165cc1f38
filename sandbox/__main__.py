"""`python -m sandbox --port 8123 ...`: serve the sandbox until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading

from .data import build_dataset
from .faults import PAGING_FAULTS, Faults
from .server import DEFAULT_API_KEY, Sandbox


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123, help="0 picks a free port (printed)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--activities", type=int, default=3000)
    parser.add_argument("--latency-ms", type=float, default=0)
    parser.add_argument("--rate-limit-rps", type=float, default=None)
    parser.add_argument("--max-connections", type=int, default=None)
    parser.add_argument("--rate-429", type=float, default=0, help="probability of a random 429")
    parser.add_argument("--error-rate", type=float, default=0)
    parser.add_argument("--truncate-rate", type=float, default=0)
    parser.add_argument("--drop-rate", type=float, default=0)
    parser.add_argument("--invalid-json-rate", type=float, default=0)
    parser.add_argument("--trickle-rate", type=float, default=0, help="probability of a body that trickles")
    parser.add_argument("--trickle-bytes-per-second", type=float, default=1.0)
    parser.add_argument("--gzip-bomb-rate", type=float, default=0, help="probability of a gzip bomb")
    parser.add_argument("--gzip-bomb-mib", type=int, default=1024, help="its size inflated")
    parser.add_argument("--echo-key-rate", type=float, default=0, help="probability of an error echoing the key")
    parser.add_argument("--echo-key-status", type=int, default=401)
    parser.add_argument("--echo-key-at", type=int, default=0, help="where the key starts in the message")
    parser.add_argument("--retry-after-date", action="store_true", help="429s give Retry-After as an HTTP date")
    parser.add_argument("--fault-seed", type=int, default=1)
    parser.add_argument("--paging-fault", choices=PAGING_FAULTS, default=None, help="lists that page wrongly")
    parser.add_argument("--paging-fault-path", default=r"/v1/.+", help="the list paths it affects (a regex)")
    args = parser.parse_args(argv)

    faults = Faults(
        seed=args.fault_seed,
        latency_ms=args.latency_ms,
        rate_limit_rps=args.rate_limit_rps,
        max_connections=args.max_connections,
        rate_429=args.rate_429,
        error_rate=args.error_rate,
        truncate_rate=args.truncate_rate,
        drop_rate=args.drop_rate,
        invalid_json_rate=args.invalid_json_rate,
        paging=args.paging_fault,
        paging_path=args.paging_fault_path,
        trickle_rate=args.trickle_rate,
        trickle_bytes_per_second=args.trickle_bytes_per_second,
        gzip_bomb_rate=args.gzip_bomb_rate,
        gzip_bomb_mib=args.gzip_bomb_mib,
        echo_key_rate=args.echo_key_rate,
        echo_key_status=args.echo_key_status,
        echo_key_at=args.echo_key_at,
        retry_after_date=args.retry_after_date,
    )
    dataset = build_dataset(seed=args.seed, customers=args.customers, activities=args.activities)
    sandbox = Sandbox(dataset, api_key=args.api_key, faults=faults, host=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        url = sandbox.start()
    except OSError as error:  # a busy port above all: one line that says what to do, no traceback
        if error.errno == errno.EADDRINUSE:
            fix = "something listens there already (another sandbox?): stop it, or give another --port"
        else:
            fix = f"{error.strerror}: check --host and --port"
        print(
            f"python -m sandbox: cannot listen on {args.host}:{args.port}: {fix} (0 picks a free port).",
            file=sys.stderr,
        )
        return 1
    print(f"sandbox listening on {url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
