"""HTTP transport: pacing, retries and timeouts for every request to ChartMogul.

Everything between "a stream wants a page" and "a complete JSON answer or a final error"
lives in `ChartmogulAdapter`, a requests transport adapter mounted on each stream's session:

* Pacing. ChartMogul allows 40 requests/s per account (429 beyond) and 20 parallel
  connections (503 beyond) (https://dev.chartmogul.com/docs/rate-limits). One `Pacer` per
  API key, shared by every stream and thread of the process, keeps under both.
* Retries. 429, 500, 502, 503, 504, 520, 524, dropped connections, timeouts and bodies cut
  short are retried with exponential backoff and full jitter, `Retry-After` honoured up to a
  bound, within a bounded total time. They are done here rather than by the CDK because the
  CDK adds a second to every wait it is given and cannot see a body that is cut short, which
  requests only reads after the adapter returns.
* Timeouts: every request has a connect and a read timeout.
* Auth: `connect` sets a session up (the key as basic auth, the adapter on the key's pacer);
  the streams and the connection check both go through it.

What is left when retries are exhausted is reported by `errors.py`.
"""

import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth

logger = logging.getLogger("airbyte")

# The documented limit is 20 parallel connections; stay a little under it so that a second
# process on the same key does not tip us over. The rate is in config.py.
MAX_PARALLEL_REQUESTS = 16
TIMEOUT = (10.0, 120.0)  # (connect, read) seconds
# The official Python client retries these (STATUS_FORCELIST in chartmogul/retry_request.py).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 524})
RETRY_EXCEPTIONS = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class RetriesExhausted(requests.exceptions.RequestException):
    """The last attempt still failed with a network error or a body that is not JSON."""


class Pacer:
    """Spaces requests evenly under a rate and caps how many are in flight at once.

    Even spacing alone is not enough: a thread whose turn has come may send late (it waits for
    the GIL while others parse pages), and then together with the next one. So each request
    also waits, at the moment it goes, until the last `window` seconds hold fewer than
    rate * window + 1 requests: however threads are scheduled, no second sends more.
    """

    def __init__(self, rate: float, max_parallel: int = MAX_PARALLEL_REQUESTS, window: float = 1.0):
        self.max_parallel = max_parallel
        self._interval = 1.0 / rate
        self._next_start = 0.0
        self._window = window
        self._window_cap = int(rate * window) + 1
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_parallel)

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start)
                self._next_start = start + self._interval
            if start > now:
                time.sleep(start - now)
            self._enter_window()
            yield

    def _enter_window(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._sent and self._sent[0] <= now - self._window:
                    self._sent.popleft()
                if len(self._sent) < self._window_cap:
                    self._sent.append(now)
                    return
                wait = self._sent[0] + self._window - now
            time.sleep(wait)

    def hold(self, seconds: float) -> None:
        """After a 429 every thread waits, not only the one that drew it."""
        with self._lock:
            self._next_start = max(self._next_start, time.monotonic() + seconds)


_pacers: dict[str, Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(api_key: str, rate: float) -> Pacer:
    """One pacer per API key and process: ChartMogul counts its limits per account."""
    digest = hashlib.sha256(f"{api_key}\n{rate}".encode()).hexdigest()
    with _pacers_lock:
        if digest not in _pacers:
            _pacers[digest] = Pacer(rate)
        return _pacers[digest]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 60.0
    max_total: float = 300.0

    def delay(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = _retry_after(response)
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Full jitter: parallel workers that failed together do not retry together.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date or garbage: fall back to our own backoff


def describe_request(request: requests.PreparedRequest) -> str:
    return f"{request.method} {request.path_url}"


def json_body(response: requests.Response):
    """The parsed body: parsed once, by the adapter that checked it."""
    body = getattr(response, "chartmogul_json", None)
    if body is None:
        body = orjson.loads(response.content)
    return body


class ChartmogulAdapter(HTTPAdapter):
    def __init__(self, pacer: Pacer, policy: RetryPolicy, timeout=TIMEOUT):
        self._pacer = pacer
        self._policy = policy
        self._timeout = timeout
        super().__init__(pool_connections=1, pool_maxsize=pacer.max_parallel)

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        timeout = timeout or self._timeout
        deadline = time.monotonic() + self._policy.max_total
        attempt = 0
        while True:
            attempt += 1
            response, problem = self._attempt(request, timeout, verify, cert, proxies)
            if problem is None:
                return response
            delay = self._policy.delay(attempt, response)
            if attempt >= self._policy.max_attempts or time.monotonic() + delay > deadline:
                what = f"{describe_request(request)} failed {attempt} times, last with {problem}"
                if response is not None and response.status_code in RETRY_STATUSES:
                    response.chartmogul_attempts = attempt
                    return response  # errors.py turns the status into the final message
                raise RetriesExhausted(what, request=request, response=response)
            logger.warning(
                f"{describe_request(request)}: {problem}; retry {attempt} of "
                f"{self._policy.max_attempts - 1} in {delay:.1f} s"
            )
            if response is not None and response.status_code == 429:
                self._pacer.hold(delay)
            time.sleep(delay)

    def _attempt(self, request, timeout, verify, cert, proxies):
        try:
            with self._pacer.slot():
                response = super().send(
                    request, stream=False, timeout=timeout, verify=verify, cert=cert, proxies=proxies
                )
                # Read the body inside the slot: a body cut short raises here, where it is retried.
                content = response.content
        except RETRY_EXCEPTIONS as error:
            return None, f"{type(error).__name__}: {error}"
        if response.status_code in RETRY_STATUSES:
            return response, f"HTTP {response.status_code}"
        if response.ok:
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                return response, f"HTTP {response.status_code} with a body that is not a JSON object"
            response.chartmogul_json = body
        return response, None


DEFAULT_RETRIES = RetryPolicy()


def mount(session: requests.Session, pacer: Pacer, policy: RetryPolicy | None = None) -> requests.Session:
    adapter = ChartmogulAdapter(pacer, policy or DEFAULT_RETRIES)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def connect(
    session: requests.Session, api_key: str, requests_per_second: float, policy: RetryPolicy | None = None
) -> requests.Session:
    """The session as every request to ChartMogul goes: the key's pacer, retries, timeouts, and
    the key as HTTP basic auth user name with an empty password."""
    mount(session, pacer_for(api_key, requests_per_second), policy)
    session.auth = HTTPBasicAuth(api_key, "")
    return session
