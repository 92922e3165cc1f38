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
* Bounds. Every request has a connect and a read timeout, and each attempt an overall deadline
  (capped by what is left of the retry budget) that holds for every socket read, headers
  included: the read timeout alone applies per read, so a server sending a byte a second would
  hold a request for ever. An answer larger than `MAX_ANSWER_BYTES` once decompressed, or with
  more than `MAX_ENTRIES` entries in a list, is refused without reading further, and not retried.
* Secrets. Text a server sent (error bodies, exception texts, request paths carrying its
  cursors) is shown through `quote`: the key masked first, then cut, so that a cut never leaves
  part of the key where the output filter no longer recognises it.
* Auth: `connect` sets a session up (the key as basic auth, the adapter on the key's pacer);
  the streams and the connection check both go through it.
* The wire. A plain GET (no body, no proxy) is sent by `wire`, http.client directly on kept-alive
  connections, rather than by requests' HTTPAdapter.send and urllib3's pool (docs/architecture.md,
  "The wire"); anything else goes requests' way. Both read the answer under the same deadline,
  and both decode it with `wire.decoded` (urllib3 2.8's gzip decoder loses data read a chunk at
  a time: `wire.Decoding`).
* A stream's page: `fetch` builds the request the CDK would (`prepare`), sends it once and acts
  on the error handler's verdict, in place of the CDK's `HttpClient.send_request`, whose retry,
  rate-limit and token layers cost a page about 0.15 ms of CPU and do nothing here
  (docs/architecture.md, "Sending a page").

What is left when retries are exhausted is reported by `errors.py`.
"""

import email.utils
import hashlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlparse, urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler, ResponseAction
from airbyte_cdk.sources.streams.http.exceptions import RequestBodyException
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase, HTTPBasicAuth
from requests.cookies import RequestsCookieJar
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from source_chartmogul import wire

logger = logging.getLogger("airbyte")

# The documented limit is 20 parallel connections; stay a little under it so that a second
# process on the same key does not tip us over. The rate is in config.py.
MAX_PARALLEL_REQUESTS = 16
TIMEOUT = (10.0, 120.0)  # (connect, read) seconds
# Far above any real answer (a page of 200 records, or a daily metrics series since 1970), and a
# cap on what one answer can cost in memory: the figures are in docs/benchmark.md#answer-bounds.
MAX_ANSWER_BYTES = 16 * 2**20  # once decompressed
MAX_ENTRIES = 50_000  # in any list of an answer
# Read, and decompressed, this much at a time: a page of 200 activities (about 115 KB) in one
# read, where 64 KiB took three, at about 30 µs more CPU a page (of about 550: fetch_page in a
# loop against the sandbox, medians of 5). Past MAX_ANSWER_BYTES, at most this much more is held.
CHUNK_BYTES = 256 * 2**10
QUOTE_CHARS = 300  # of a server's text in a message
MAX_LOGGED_CHARS = 2000  # of a failed answer's body in the error log
OUT_OF_TIME = "no time left"  # how an attempt that could not start in time says so
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


class AnswerTooLarge(requests.exceptions.RequestException):
    """An answer beyond `MAX_ANSWER_BYTES` or `MAX_ENTRIES`: refused at once, never retried.

    `what` completes "the answer ...": what it holds beyond which bound. errors.py words the message.
    """

    def __init__(self, what: str, request: requests.PreparedRequest):
        self.what = what
        super().__init__(f"{describe_request(request)}: the answer {what}", request=request)


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """A server's text, fit to show: secrets masked first, then cut to `limit` characters.

    The other order leaks: the output filter masks whole secrets only, so a key cut in two
    by the limit would pass it with its first characters.
    """
    text = filter_secrets(text)
    return text if len(text) <= limit else text[:limit] + "..."


class Pacer:
    """Spaces requests evenly under a rate and caps how many are in flight at once.

    Even spacing alone is not enough: a thread whose turn has come may send late (it waits for
    the GIL while others parse pages), and then together with the next one. So each request
    also waits, at the moment it goes, until the last `window` seconds hold fewer than
    rate * window + 1 requests: however threads are scheduled, no second sends more.

    An urgent request (`urgent()`: the next page of a list that only one chain can read, such as
    customers) goes at once, without queueing behind the spaced requests of the chains that read
    in parallel (activities windows, one customer's subscriptions), so the one chain that bounds
    a sync goes at the pace of its round trips. It borrows its place: the next spaced request
    whose turn comes gives its turn up and queues again. So the spacing still holds on average
    and no burst builds up against the window (ChartMogul's window is its own, and a client's
    request times drift on the way there).
    """

    def __init__(self, rate: float, max_parallel: int = MAX_PARALLEL_REQUESTS, window: float = 1.0):
        self.max_parallel = max_parallel
        self._interval = 1.0 / rate
        self._next_start = 0.0
        self._borrowed = 0  # turns urgent requests took, which spaced ones give back
        self._window = window
        self._window_cap = int(rate * window) + 1
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_parallel)

    @contextmanager
    def slot(self, urgent: bool = False) -> Iterator[None]:
        with self._slots:
            if urgent:
                with self._lock:
                    self._borrowed += 1
            else:
                self._wait_for_turn()
            self._enter_window()
            yield

    def _wait_for_turn(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start)
                self._next_start = start + self._interval
            if start > now:
                time.sleep(start - now)
            with self._lock:
                if not self._borrowed:
                    return
                self._borrowed -= 1  # an urgent request went in this turn's place

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


class _Urgency(threading.local):
    active = False


_urgency = _Urgency()


@contextmanager
def urgent(active: bool = True) -> Iterator[None]:
    """The requests this thread sends inside are urgent for the pacer (see `Pacer`)."""
    before, _urgency.active = _urgency.active, active
    try:
        yield
    finally:
        _urgency.active = before


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
    max_total: float = 300.0  # for all attempts of a request, the waits between them included
    max_attempt_time: float = 180.0  # for one attempt to bring the whole answer

    def delay(self, attempt: int, response: requests.Response | None) -> float:
        retry_after = _retry_after(response)
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        # Full jitter: parallel workers that failed together do not retry together.
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def _retry_after(response: requests.Response | None) -> float | None:
    """Seconds to wait, from `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    if response is None:
        return None
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # garbage: fall back to our own backoff
    if when.tzinfo is None:  # "-0000": UTC, says RFC 5322
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def describe_request(request: requests.PreparedRequest) -> str:
    # The path carries the cursors a server sent back: quoted like any of its text.
    return quote(f"{request.method} {request.path_url}")


class Answer(requests.Response):
    """A response as the adapter returns it, with what the adapter learned getting it.

    * `body`: a 2xx answer's JSON object, parsed once and checked against the bounds (`json_body`
      hands it on); None for any other answer.
    * `attempts`: how many attempts it took (errors.py says so when the retries ran out).

    Every response the adapter returns is one, made in one place (`Answer.of`, in `_attempt`)
    whatever answered below the adapter (a socket, or a test's requests-mock); a response from
    anywhere else is a plain `requests.Response`.
    """

    body: dict[str, Any] | None
    attempts: int

    @classmethod
    def of(cls, response: requests.Response, attempts: int) -> "Answer":
        """`response` itself, re-classed rather than copied: Answer adds fields, no behaviour."""
        response.__class__ = cls
        answer = cast(Answer, response)
        answer.body = None
        answer.attempts = attempts
        return answer


def json_body(response: requests.Response) -> Any:
    """The parsed body: parsed once, by the adapter that checked it (`Answer.body`)."""
    if isinstance(response, Answer) and response.body is not None:
        return response.body
    return orjson.loads(response.content)


class _HTTPConnection(HTTPConnection):
    response_class = wire.DeadlineResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = wire.DeadlineResponse


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class ChartmogulAdapter(HTTPAdapter):
    # A plain GET (no body, no proxy, no encoding but gzip or deflate offered) goes by `wire`;
    # False: every request goes by requests' HTTPAdapter.send and urllib3's pool.
    direct = True

    def __init__(self, pacer: Pacer, policy: RetryPolicy, timeout=TIMEOUT):
        self._pacer = pacer
        self._policy = policy
        self._timeout = timeout
        self._wire = wire.Wire(pacer.max_parallel)
        super().__init__(pool_connections=1, pool_maxsize=pacer.max_parallel)

    def close(self) -> None:
        self._wire.close()
        super().close()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # A SOCKS proxy has connection classes of its own: there only the read timeout holds.
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        timeout = timeout or self._timeout
        deadline = time.monotonic() + self._policy.max_total
        attempt = 0
        previous: tuple[requests.Response | None, str] | None = None
        while True:
            attempt += 1
            response, problem = self._attempt(request, timeout, verify, cert, proxies, deadline, attempt)
            if problem is None:
                return response
            out_of_time = problem.startswith(OUT_OF_TIME)
            if out_of_time and previous is not None:
                # Waiting for a slot used up the budget: no attempt was made, the last one's
                # answer is the one to report (a 5xx stays a 5xx, not a network error).
                attempt -= 1
                response, problem = previous
            previous = (response, problem)
            delay = self._policy.delay(attempt, response)
            if out_of_time or attempt >= self._policy.max_attempts or time.monotonic() + delay > deadline:
                times = "once" if attempt == 1 else f"{attempt} times"
                what = f"{describe_request(request)} failed {times}, last with {problem}"
                if response is not None and response.status_code in RETRY_STATUSES:
                    return response  # errors.py turns the status into the final message
                raise RetriesExhausted(what, request=request, response=response)
            logger.warning(
                f"{describe_request(request)}: {problem}; retry {attempt} of "
                f"{self._policy.max_attempts - 1} in {delay:.1f} s"
            )
            if response is not None and response.status_code == 429:
                self._pacer.hold(delay)
            time.sleep(delay)

    def _attempt(
        self, request, timeout, verify, cert, proxies, deadline: float, attempt: int
    ) -> tuple[Answer | None, str | None]:
        policy = self._policy
        try:
            with self._pacer.slot(urgent=_urgency.active):
                began = time.monotonic()
                end = min(began + policy.max_attempt_time, deadline)
                if end <= began:  # the waits for a slot used up what was left
                    return None, f"{OUT_OF_TIME} of the {policy.max_total:g} s for all attempts"
                wire.deadline.end, wire.deadline.reached = end, False
                try:
                    response = self._open(request, _capped(timeout, end - began), verify, cert, proxies)
                    # Read the body inside the slot: a body cut short raises here, where it is retried.
                    content = _read_body(response, request)
                finally:
                    wire.deadline.end = None
        except RETRY_EXCEPTIONS as error:
            if not wire.deadline.reached:
                return None, f"{type(error).__name__}: {quote(str(error))}"
            if end < began + policy.max_attempt_time:
                return None, f"no complete answer before the {policy.max_total:g} s for all attempts ran out"
            return None, f"no complete answer within {policy.max_attempt_time:g} s"
        answer = Answer.of(response, attempt)
        if answer.status_code in RETRY_STATUSES:
            return answer, f"HTTP {answer.status_code}"
        if answer.ok:
            try:
                body = orjson.loads(content)
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                return answer, f"HTTP {answer.status_code} with a body that is not a JSON object"
            for key, value in body.items():
                if isinstance(value, list) and len(value) > MAX_ENTRIES:
                    raise AnswerTooLarge(
                        f"holds {len(value):,} entries in '{quote(key, 40)}', more than the {MAX_ENTRIES:,} allowed",
                        request,
                    )
            answer.body = body
        return answer, None

    def _open(self, request, timeout: tuple, verify, cert, proxies) -> requests.Response:
        """The request sent, its answer's head read: by `wire` if the request is plain."""
        if (
            self.direct
            and request.method == "GET"
            and request.body is None
            and request.headers.get("Accept-Encoding") == wire.ENCODINGS
            and not (proxies and select_proxy(request.url, proxies))
        ):
            response = self._wire.open(request, timeout, verify, cert)
            response.connection = self
            return response
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        response.raw = wire.Decoding.of(response.raw)  # decoded as on the wire, not by urllib3
        return response


def _capped(timeout, seconds: float) -> tuple:
    """The connect timeout cut to what is left of the attempt (reads are bounded as they go)."""
    if isinstance(timeout, tuple):
        connect, read = timeout
        return (min(connect, seconds) if connect is not None else seconds, read)
    return (min(timeout, seconds) if timeout is not None else seconds, timeout)


def _read_body(response: requests.Response, request: requests.PreparedRequest) -> bytes:
    """The whole body, decompressed a chunk at a time, refused as soon as it passes the bound."""
    chunks, size = [], 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            response.close()  # not read to its end: the connection cannot serve another request
            raise AnswerTooLarge(
                f"(HTTP {response.status_code}) is larger than the {MAX_ANSWER_BYTES // 2**20} MiB allowed, "
                "once decompressed",
                request,
            )
        chunks.append(chunk)
    response._content = b"".join(chunks)
    return response._content


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
    read_environment_once(session)
    return session


def read_environment_once(session: requests.Session) -> None:
    """The proxy and CA bundle variables (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...) as
    requests reads them for `session.get`, read once per host instead of at every request.

    * Once: requests walks the whole environment twice per request, about a tenth of what a page
      costs the connector (docs/architecture.md). A sync does not change its own environment.
    * As for `session.get`: the CDK asks with no proxies at all (None), for which requests leaves
      the environment's proxies out, so the streams would ignore HTTPS_PROXY while the connection
      check honoured it.

    Proxies given with a request are merged as requests does, uncached.
    """
    merge = session.merge_environment_settings
    merged: dict[tuple, dict] = {}
    lock = threading.Lock()

    def merge_once(url, proxies, stream, verify, cert):
        if proxies:
            return merge(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        with lock:
            settings = merged.get(key)
            if settings is None:
                settings = merged[key] = merge(url, {}, stream, verify, cert)
        return {**settings, "proxies": dict(settings["proxies"])}  # the caller may change its copy

    session.merge_environment_settings = merge_once  # type: ignore[method-assign]


# --- sending a page: what the CDK's HttpClient.send_request does for these streams, in one step --


def fetch(
    session: requests.Session,
    handler: ErrorHandler,
    logger: logging.Logger,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Mapping[str, Any] | None = None,
    data: str | Mapping[str, Any] | None = None,
    request_kwargs: Mapping[str, Any] | None = None,
) -> tuple[requests.PreparedRequest, requests.Response]:
    """The request the CDK's `HttpClient.send_request` would send, sent once, and its answer as
    `handler` judges it.

    What the CDK's send path adds on top of `session.send` is retries (the adapter's here: the
    handler allows none), rate limiting (the pacer's here), OAuth refresh and token rotation (an
    API key has neither), and a Connector Builder log (a classic stream has none). What stays, the
    same as there: the request (`prepare`), the proxies and CA bundle of the environment, the
    DEBUG logs of the request and the answer, and the handler's verdict: FAIL raises its message
    as an AirbyteTracedException, IGNORE logs it and hands the answer on (fan-out streams skip a
    404), SUCCESS hands the answer on.
    """
    request_kwargs = request_kwargs or {}
    request = prepare(session, method, url, params=params, headers=headers, json=json, data=data)
    environment = session.merge_environment_settings(
        url=request.url,
        proxies=request_kwargs.get("proxies", {}),
        stream=request_kwargs.get("stream"),
        verify=request_kwargs.get("verify"),
        cert=request_kwargs.get("cert"),
    )
    logger.debug(
        "Making outbound API request",
        extra={"headers": request.headers, "url": request.url, "request_body": request.body},
    )
    response: requests.Response | None = None
    error: requests.RequestException | None = None
    try:
        response = session.send(request, **{**request_kwargs, **environment})
    except requests.RequestException as raised:
        error = raised
    resolution = handler.interpret_response(response if response is not None else error)
    if response is not None and logger.isEnabledFor(logging.DEBUG):
        logger.debug(
            "Receiving response",
            extra={"headers": response.headers, "status": response.status_code, "body": response.text},
        )
    action = resolution.response_action
    if action == ResponseAction.SUCCESS and response is not None:
        return request, response
    where = f"'{request.method}' request to '{request.url}'"
    if action == ResponseAction.IGNORE and response is not None:
        logger.info(resolution.error_message or f"Ignoring response for {where} with code '{response.status_code}'")
        return request, response
    if response is not None:
        internal = (
            f"{where} failed with status code '{response.status_code}'. Response (body): "
            f"'{quote(response.text, MAX_LOGGED_CHARS)}'. Response (headers): '{response.headers}'."
        )
    else:
        internal = f"{where} failed with exception: '{quote(str(error), MAX_LOGGED_CHARS)}'"
    if action != ResponseAction.FAIL:  # the handler is ours: it answers SUCCESS, IGNORE or FAIL
        internal += f" The error handler answered {action}, which transport.fetch does not know."
    logger.error(filter_secrets(internal))
    raise AirbyteTracedException(
        internal_message=filter_secrets(internal),
        message=resolution.error_message or filter_secrets(internal),
        failure_type=resolution.failure_type or FailureType.system_error,
    )


def prepare(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    json: Mapping[str, Any] | None = None,
    data: str | Mapping[str, Any] | None = None,
) -> requests.PreparedRequest:
    """The request `HttpClient.send_request` builds for these arguments (`dedupe_query_params`, as
    `HttpStream` asks), the same to the byte.

    The CDK builds it with `session.prepare_request`, which costs about 70-130 µs a page, most of
    it merging settings these sessions do not have (session params, cookies, hooks) and encoding
    the query through generic mapping checks. A page of these streams is a GET with a query of
    strings and integers and no header of its own: that request is built here with requests' own
    `prepare_*` steps, in about 30 µs. Anything else (a body, a header, a query already in the URL,
    a cookie the server set, a list or None among the parameters...) goes the CDK's way.
    unit_tests/test_send.py compares both ways, request by request.
    """
    method = method.upper()
    if (
        method != "GET"
        or json
        or data
        or headers
        or "?" in url
        or "#" in url
        or not url.lower().startswith(("http://", "https://"))
        or not isinstance(session.auth, AuthBase)
        or session.params
        or session.cookies
        or session.hooks.get("response") != []
        or not all(type(value) in _PLAIN for value in (params or {}).values())
    ):
        return _prepare_as_the_cdk(session, method, url, params, headers, json, data)
    request = requests.PreparedRequest()
    request.prepare_method(method)
    request.prepare_url(url, None)
    if params:
        request.url = f"{request.url}?{urlencode(list(params.items()))}"
    request.prepare_headers({name: value for name, value in session.headers.items() if value is not None})
    request.prepare_cookies(RequestsCookieJar())  # the session has none: no Cookie header
    request.prepare_body(None, None)
    request.prepare_auth(session.auth)
    return request


# Parameter values whose encoding `urlencode` shares with requests' `_encode_params` (a str
# quoted as UTF-8, an int or a bool as its str).
_PLAIN = (str, int, bool)


def _prepare_as_the_cdk(session, method, url, params, headers, json, data) -> requests.PreparedRequest:
    # HttpClient._dedupe_query_params and _create_prepared_request (cdk.COPIED).
    params = params or {}
    if "?" in url:
        query = {name: values[0] for name, values in parse_qs(urlparse(url).query).items()}
        same = {name for name in query if str(params.get(name)) == str(query[name])}
        params = {name: value for name, value in params.items() if name not in same}
    args: dict[str, Any] = {"method": method, "url": url, "headers": headers, "params": params}
    if method in ("GET", "POST", "PUT", "PATCH"):
        if json and data:
            raise RequestBodyException(
                "At the same time only one of the 'request_body_data' and 'request_body_json' functions can return data"
            )
        if json:
            args["json"] = json
        elif data:
            args["data"] = data
    return session.prepare_request(requests.Request(**args))
