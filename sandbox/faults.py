"""Fault injection: the ways the real API (and the network to it) misbehaves.

Load-shaped faults follow the documented limits (§2.1 of docs/api-notes.md): a per-key request rate
(429) and a cap on parallel connections (503). Random faults (429, 5xx, truncated body, dropped
connection, HTML instead of JSON) are decided by hashing the request and how many times that same
request was already seen, so a run is reproducible whatever the thread scheduling, and a request
repeated `GIVE_UP_AFTER` times always goes through: a client that retries is never stuck.

Paging faults (`PagingFault`) are not random: a list that pages wrongly does so on every chain of
pages it serves, and a client must cope every time.

Hostile faults, decided the same way, are what a broken proxy or a hostile stand-in could send: a
body that trickles, a gzip bomb (small on the wire, huge inflated), an error whose message echoes
the API key. `retry_after_date` makes every 429 give `Retry-After` as an HTTP date.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import re
import threading
import time
import zlib
from dataclasses import dataclass

GIVE_UP_AFTER = 3  # the n-th sighting of a request (0-based) from here on is never faulted

# 5xx statuses the official Python client retries (§2.2) and the plain-text bodies the proxy sends (§3).
SERVER_ERRORS = (
    (500, "500 Internal Server Error"),
    (502, "502 Bad Gateway"),
    (504, "504 Gateway Timeout Error"),
    (520, "520 Unknown Error"),
    (524, "524 A Timeout Occurred"),
)
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n"
)

# Random fault kinds in the order their probability bands are laid out on [0, 1). New kinds go
# last, so that the bands of the older ones, and the runs their seeds give, stay as they were.
RANDOM_KINDS = ("rate_429", "error", "truncate", "drop", "invalid_json", "trickle", "gzip_bomb", "echo_key")
PAGING_FAULTS = ("repeat_cursor", "cursor_cycle", "endless_empty", "empty_middle")


@dataclass
class Faults:
    """What to inject. All rates are probabilities per request (first `GIVE_UP_AFTER` sightings)."""

    seed: int = 1
    latency_ms: float = 0
    rate_limit_rps: float | None = None
    max_connections: int | None = None
    rate_429: float = 0
    error_rate: float = 0
    truncate_rate: float = 0
    drop_rate: float = 0
    invalid_json_rate: float = 0
    paging: str | None = None  # one of PAGING_FAULTS: how the lists page wrongly
    paging_path: str = r"/v1/.+"  # which lists do (a regular expression matching the whole path)
    trickle_rate: float = 0  # a success whose body comes `trickle_bytes_per_second`
    gzip_bomb_rate: float = 0  # a success as a gzip bomb of `gzip_bomb_mib` inflated
    echo_key_rate: float = 0  # an `echo_key_status` error whose message quotes the key at `echo_key_at`
    trickle_bytes_per_second: float = 1.0
    gzip_bomb_mib: int = 1024  # about 1 MB on the wire per GiB inflated
    echo_key_status: int = 401
    echo_key_at: int = 0  # where the key starts in the message (at least after its first words)
    retry_after_date: bool = False  # 429s say when to come back as an HTTP date, not in seconds

    def __post_init__(self) -> None:
        if self.paging is not None and self.paging not in PAGING_FAULTS:
            raise ValueError(f"unknown paging fault {self.paging!r}; one of {', '.join(PAGING_FAULTS)}")

    def rates(self) -> tuple[float, ...]:
        return (
            self.rate_429,
            self.error_rate,
            self.truncate_rate,
            self.drop_rate,
            self.invalid_json_rate,
            self.trickle_rate,
            self.gzip_bomb_rate,
            self.echo_key_rate,
        )


@dataclass(frozen=True)
class Decision:
    kind: str  # one of RANDOM_KINDS
    status: int = 0
    body: str = ""


class FaultState:
    """Per-sandbox bookkeeping behind `Faults`: sliding windows, sightings, and counters."""

    def __init__(self, faults: Faults):
        self.faults = faults
        self.paging = PagingFault(faults.paging, faults.paging_path) if faults.paging else None
        self._lock = threading.Lock()
        self._windows: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._sightings: collections.Counter[str] = collections.Counter()
        self.injected: collections.Counter[str] = collections.Counter()

    def count(self, kind: str) -> None:
        with self._lock:
            self.injected[kind] += 1

    def over_rate_limit(self, api_key: str) -> bool:
        """A real sliding one-second window per key (§2.1: 40 req/s per account). Refused requests
        do not count, so a client that backs off gets through."""
        limit = self.faults.rate_limit_rps
        if limit is None:
            return False
        now = time.monotonic()
        with self._lock:
            window = self._windows[api_key]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                return True
            window.append(now)
            return False

    def decide(self, method: str, path: str, query: dict[str, str]) -> Decision | None:
        """The random fault for this request, if any; a pure function of (seed, request, sighting)."""
        rates = self.faults.rates()
        if not any(rates):
            return None
        request = f"{method} {path}?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()))
        with self._lock:
            sighting = self._sightings[request]
            self._sightings[request] += 1
        if sighting >= GIVE_UP_AFTER:
            return None
        digest = hashlib.sha256(f"{self.faults.seed}|{request}|{sighting}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2**64
        for kind, rate in zip(RANDOM_KINDS, rates):
            if draw < rate:
                if kind == "error":
                    status, body = SERVER_ERRORS[digest[8] % len(SERVER_ERRORS)]
                    return Decision(kind, status, body)
                return Decision(kind)
            draw -= rate
        return None


class PagingFault:
    """Lists that page wrongly (`Faults.paging`), on the paths `Faults.paging_path` matches.

    The modes, each on every chain of pages (pages asked for with `cursor`):
    * repeat_cursor: a page asked for with a cursor hands back that same cursor, has_more true.
    * cursor_cycle: the second page (asked for with the first page's cursor A) says has_more
      true and hands its own cursor B; every later page hands A again: A -> B -> A.
    * endless_empty: where a list would end it says has_more true, then serves empty pages with
      fresh cursors, forever.
    * empty_middle: an empty page that says has_more true comes before every page asked for with
      a cursor; its cursor leads on to that page, so every record is still served once.

    The fake cursors start with "sandbox-"; the sandbox answers them itself.
    """

    _BEFORE = "sandbox-before-"
    _EMPTY = "sandbox-empty-"

    def __init__(self, mode: str, path: str):
        self.mode = mode
        self._path = re.compile(path)
        self._lock = threading.Lock()
        self._first_cursor: dict[str, str] = {}  # cursor_cycle: per chain, the cursor its first page handed

    def applies(self, path: str) -> bool:
        return self._path.fullmatch(path) is not None

    def before(self, query: dict[str, str]) -> dict[str, str]:
        """The query to serve: a fake cursor stands for a real one, or for the first page."""
        cursor = query.get("cursor", "")
        if cursor.startswith(self._BEFORE):
            return {**query, "cursor": cursor[len(self._BEFORE) :]}
        if cursor.startswith(self._EMPTY):
            return {name: value for name, value in query.items() if name != "cursor"}
        return query

    def after(self, path: str, query: dict[str, str], body: dict) -> dict | None:
        """The page to send instead of `body` (as served for `before(query)`), or None to send it."""
        cursor = query.get("cursor")
        envelope = next(name for name, value in body.items() if isinstance(value, list))
        if self.mode == "empty_middle":
            if cursor is None or cursor.startswith(self._BEFORE):
                return None
            return {envelope: [], "cursor": self._BEFORE + cursor, "has_more": True}
        if self.mode == "endless_empty":
            if cursor is not None and cursor.startswith(self._EMPTY):
                number = cursor[len(self._EMPTY) :]
                following = int(number) + 1 if number.isdigit() else 1
                return {envelope: [], "cursor": f"{self._EMPTY}{following}", "has_more": True}
            return None if body["has_more"] else {**body, "cursor": f"{self._EMPTY}1", "has_more": True}
        chain = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items()) if k != "cursor")
        if cursor is None:
            if self.mode == "cursor_cycle" and body["has_more"]:
                with self._lock:
                    self._first_cursor[chain] = body["cursor"]
            return None
        if self.mode == "repeat_cursor":
            return {**body, "cursor": cursor, "has_more": True}
        with self._lock:  # cursor_cycle
            first = self._first_cursor.setdefault(chain, cursor)
        if cursor == first:
            return {**body, "has_more": True}
        return {**body, "cursor": first, "has_more": True}


ECHO_LEAD = "No valid API key provided: "


def echo_message(api_key: str, at: int) -> str:
    """An error message quoting the key, starting at character `at` (or right after ECHO_LEAD)."""
    return "." * max(0, at - len(ECHO_LEAD)) + ECHO_LEAD + api_key


@functools.cache
def gzip_bomb(mib: int) -> bytes:
    """A JSON object of `mib` MiB, nearly all whitespace, gzipped: about 1,000 times smaller."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    blank = b" " * 2**20
    parts = [packer.compress(b'{"entries": [')]
    parts += [packer.compress(blank) for _ in range(mib)]
    parts += [packer.compress(b"]}"), packer.flush()]
    return b"".join(parts)
