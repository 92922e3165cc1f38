"""transport.py: pacing, retries, timeouts and the JSON check, below the CDK."""

import email.utils
import io
import logging
import socket
import ssl
import threading
import time
import tracemalloc
from bisect import bisect_left
from collections import deque
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
import requests

from sandbox.faults import gzip_bomb
from source_chartmogul import transport
from source_chartmogul.transport import (
    TIMEOUT,
    Answer,
    AnswerTooLarge,
    ChartmogulAdapter,
    Pacer,
    RetriesExhausted,
    RetryPolicy,
    json_body,
    mount,
    quote,
)
from source_chartmogul.transport import pacer_for as real_pacer_for  # conftest replaces the module's
from testing.configs import API_KEY, BASE_URL, OTHER_API_KEY, leaks
from unit_tests.conftest import REAL_CHECK_RETRIES, FakeClock, Gauge, LocalServer, fast_session, settings

URL = f"{BASE_URL}/v1/customers?per_page=200"
PONG = {"data": "pong!"}
RETRY_STATUSES = [429, 500, 502, 503, 504, 520, 524]
# Timing bounds: a lower bound is what the code guarantees, to the float's last digits; an upper
# bound leaves five to ten times what the work takes, for a loaded 2-core machine.
EPSILON = 1e-6


def run_in_threads(target, count: int) -> None:
    """`count` threads running `target` at once; returns when all are done (or 10 s each passed)."""
    threads = [threading.Thread(target=target) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def session(max_attempts=4, **policy) -> requests.Session:
    return fast_session(max_attempts=max_attempts, **policy)


# --- Pacer -------------------------------------------------------------------------------------


def test_pacer_keeps_to_its_rate_from_one_thread():
    rate = 200.0  # a slot every 5 ms
    pacer = Pacer(rate=rate, max_parallel=4)
    entries = []
    begin = time.monotonic()
    for _ in range(20):
        with pacer.slot():
            entries.append(time.monotonic())

    for k, entry in enumerate(entries):
        assert entry - begin >= k / rate - EPSILON, (k, entry - begin)
    assert entries[-1] - begin < 19 / rate + 1.0


def test_late_senders_never_put_more_than_rate_plus_one_requests_in_a_window():
    """Threads that send late (waiting for the GIL) and then all at once are held back at the
    moment they go: no window holds more than rate * window + 1 requests.

    The moments are the pacer's own (what it appends to its window, under its lock): a time the
    test took after the fact would drift on a loaded machine and prove nothing either way."""
    pacer = Pacer(rate=50.0, window=0.2)  # at most 11 in any 0.2 s
    sent: list[float] = []

    class Recorded(deque):
        def append(self, moment):
            sent.append(moment)
            super().append(moment)

    pacer._sent = Recorded()

    def late_sender():
        pacer._enter_window()  # the moment of sending, as slot() reaches it after a late wake-up

    run_in_threads(late_sender, 30)

    sent.sort()
    assert len(sent) == 30
    most = max(sum(1 for other in sent[i:] if other < moment + 0.2) for i, moment in enumerate(sent))
    assert most <= 11  # without the window, all 30 would go at once


def test_pacer_keeps_to_its_rate_across_threads():
    rate = 200.0
    pacer = Pacer(rate=rate, max_parallel=8)
    entries = []
    lock = threading.Lock()
    begin = time.monotonic()

    def worker():
        for _ in range(5):
            with pacer.slot():
                with lock:
                    entries.append(time.monotonic())

    run_in_threads(worker, 4)

    entries.sort()
    assert len(entries) == 20
    for k, entry in enumerate(entries):
        assert entry - begin >= k / rate - EPSILON, (k, entry - begin)
    assert entries[-1] - begin < 19 / rate + 1.0


def test_an_urgent_request_does_not_queue_behind_spaced_ones():
    pacer = Pacer(rate=10.0)  # spaced 0.1 s apart
    entered: dict[str, float] = {}
    begin = time.monotonic()

    def spaced(n: int) -> None:
        with pacer.slot():
            entered[f"spaced {n}"] = time.monotonic() - begin

    threads = [threading.Thread(target=spaced, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    while pacer._next_start < begin + 0.45:  # the five have taken the next half second
        time.sleep(0.001)
    with pacer.slot(urgent=True):
        entered["urgent"] = time.monotonic() - begin
    for thread in threads:
        thread.join()

    assert max(at for name, at in entered.items() if name.startswith("spaced")) >= 0.39  # spaced, they wait
    assert entered["urgent"] < 0.3  # ...but not for it (0.5 s behind them without the flag)


def test_an_urgent_request_still_keeps_to_the_window():
    pacer = Pacer(rate=10.0, window=0.5)  # at most 6 in any 0.5 s
    begin = time.monotonic()
    for _ in range(6):
        with pacer.slot(urgent=True):
            pass
    assert time.monotonic() - begin < 0.4  # not spaced
    with pacer.slot(urgent=True):
        assert time.monotonic() - begin >= 0.49  # the window is full: it waits, urgent or not


def test_urgent_requests_borrow_their_turns_so_the_pace_holds_on_average():
    rate = 50.0  # a turn every 20 ms
    pacer = Pacer(rate=rate, max_parallel=8)
    sent: list[float] = []
    lock = threading.Lock()

    def spaced() -> None:
        for _ in range(10):
            with pacer.slot():
                with lock:
                    sent.append(time.monotonic())

    def urgent() -> None:
        for _ in range(10):
            with pacer.slot(urgent=True):
                with lock:
                    sent.append(time.monotonic())
            time.sleep(0.01)

    threads = [threading.Thread(target=spaced) for _ in range(3)] + [threading.Thread(target=urgent)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    sent.sort()
    assert len(sent) == 40
    # 40 requests at 50/s take at least 39 turns: without giving borrowed turns back, the 30
    # spaced ones would be done in 29 turns with the 10 urgent ones on top.
    assert sent[-1] - sent[0] >= (40 - 2) / rate


def test_requests_sent_inside_urgent_are_urgent_for_the_pacer(api):
    api.get(URL, json=PONG)
    pacer = Pacer(rate=100000.0)
    seen = []
    original = pacer.slot
    pacer.slot = lambda urgent=False: (seen.append(urgent), original(urgent))[1]
    mounted = mount(requests.Session(), pacer)

    mounted.get(URL)
    with transport.urgent():
        mounted.get(URL)
    mounted.get(URL)

    assert seen == [False, True, False]


def test_pacer_never_lets_more_than_max_parallel_run_at_once():
    pacer = Pacer(rate=100000.0, max_parallel=3)
    gauge = Gauge()

    def worker():
        with pacer.slot(), gauge.inside(until=3):
            pass

    run_in_threads(worker, 12)

    assert gauge.highest == 3
    assert gauge.now == 0


def test_pacer_hold_delays_the_next_slot():
    pacer = Pacer(rate=100000.0)
    with pacer.slot():
        pass
    begin = time.monotonic()
    pacer.hold(0.1)
    with pacer.slot():
        waited = time.monotonic() - begin
    assert 0.1 - EPSILON <= waited < 1.0


def test_one_pacer_per_api_key_and_the_key_is_not_kept_in_clear(monkeypatch):
    monkeypatch.setattr(transport, "_pacers", {})
    first = real_pacer_for(API_KEY, 35.0)

    assert real_pacer_for(API_KEY, 35.0) is first
    assert real_pacer_for(OTHER_API_KEY, 35.0) is not first
    assert all(API_KEY not in key for key in transport._pacers)


def test_the_production_pace_stays_under_chartmogul_s_limits(monkeypatch):
    """40 requests/s and 20 parallel connections per account (docs/api-notes.md §2.1): the pacer a
    sync gets by default never sends 40 in any second, nor holds 20 connections."""
    monkeypatch.setattr(transport, "_pacers", {})
    pacer = real_pacer_for(API_KEY, settings().requests_per_second)
    clock = FakeClock()
    monkeypatch.setattr(transport, "time", clock)
    sent = []

    for _ in range(300):
        with pacer.slot():
            sent.append(clock.now)

    most_in_a_second = max(bisect_left(sent, moment + 1.0) - index for index, moment in enumerate(sent))
    assert most_in_a_second < 40
    assert pacer.max_parallel < 20


# --- RetryPolicy -------------------------------------------------------------------------------


def response_with(headers=None, status=429) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    "header,expected",
    [("2", 2.0), ("0.5", 0.5), ("0", 0.0), ("-3", 0.0), ("60", 60.0), ("61", 60.0), ("3600", 60.0)],
)
def test_delay_honours_retry_after_capped(header, expected):
    policy = RetryPolicy(max_retry_after=60.0)
    assert policy.delay(1, response_with({"Retry-After": header})) == expected
    assert policy.delay(7, response_with({"Retry-After": header})) == expected


def http_date(seconds_from_now: float, zone: str = "GMT") -> str:
    """Made when the test runs, not when it is collected: minutes can pass in between."""
    date = email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)
    return date.replace("GMT", zone)


@pytest.mark.parametrize(
    "seconds,zone,low,high",
    [
        (30, "GMT", 28.5, 30.0),  # whole seconds: up to one less than asked
        (30, "-0000", 28.5, 30.0),  # a date without a zone: UTC
        (3600, "GMT", 60.0, 60.0),  # capped
        (-3600, "GMT", 0.0, 0.0),  # past: at once
    ],
)
def test_delay_honours_retry_after_as_an_http_date_capped(seconds, zone, low, high):
    """RFC 9110 allows `Retry-After: <HTTP date>`; it used to fall back to our own backoff."""
    policy = RetryPolicy(max_retry_after=60.0)
    assert low <= policy.delay(1, response_with({"Retry-After": http_date(seconds, zone)})) <= high
    assert low <= policy.delay(7, response_with({"Retry-After": http_date(seconds, zone)})) <= high


@pytest.mark.parametrize(
    "response", [None, response_with(), response_with({"Retry-After": "soon"}), response_with({"Retry-After": ""})]
)
def test_delay_without_usable_retry_after_is_full_jitter_under_the_exponential_bound(response):
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0)
    for attempt in range(1, 10):
        bound = min(30.0, 1.0 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt, response) for _ in range(200)]
        assert all(0 <= delay <= bound for delay in delays), (attempt, max(delays))
        assert max(delays) > bound / 2  # jitter spans the range, not a constant
        assert len(set(delays)) > 1


# --- ChartmogulAdapter -------------------------------------------------------------------------


@pytest.mark.parametrize("status", RETRY_STATUSES)
def test_retryable_status_is_retried_then_succeeds(api, status):
    api.get(
        URL, [{"status_code": status, "text": f"{status} Error"}, {"status_code": status, "json": {}}, {"json": PONG}]
    )

    response = session().get(URL)

    assert response.status_code == 200
    assert json_body(response) == PONG
    assert api.call_count == 3


def test_an_answer_carries_its_body_parsed_once_and_its_attempts(api):
    api.get(URL, [{"status_code": 503}, {"json": PONG}])

    response = session().get(URL)

    assert isinstance(response, Answer)
    assert response.attempts == 2
    assert json_body(response) is response.body  # the adapter's parse, not a second one
    assert response.body == PONG


@pytest.mark.parametrize("status", RETRY_STATUSES)
def test_gives_up_after_max_attempts_with_the_last_response(api, status):
    api.get(URL, [{"status_code": status, "text": "first"}] + [{"status_code": status, "text": "last"}])

    response = session(max_attempts=4).get(URL)

    assert api.call_count == 4
    assert response.status_code == status
    assert response.text == "last"
    assert response.attempts == 4


def test_gives_up_when_the_total_time_is_spent(api):
    """Not sooner than a wait before the end of `max_total` (the next wait would pass it), and
    long before `max_attempts`."""
    api.get(URL, status_code=500, text="down")
    begin = time.monotonic()

    response = fast_session(max_attempts=1000, base_delay=0.05, max_delay=0.05, max_total=0.5).get(URL)

    assert response.status_code == 500
    assert 2 <= api.call_count < 1000
    assert response.attempts == api.call_count
    assert 0.5 - 0.05 - EPSILON <= time.monotonic() - begin < 5.0


def test_a_budget_spent_waiting_for_a_slot_reports_the_last_answer(api):
    """The retry's slot came after the budget's end: no attempt was made, and the last one's
    5xx is the final answer, not a network error of an attempt that never was."""
    api.get(URL, status_code=500, text="down")

    class SlowSecondSlot(Pacer):
        calls = 0

        @contextmanager
        def slot(self, urgent=False):
            SlowSecondSlot.calls += 1
            if SlowSecondSlot.calls == 2:
                time.sleep(0.3)  # other threads held every slot past the budget
            yield

    policy = RetryPolicy(max_attempts=10, base_delay=0.01, max_delay=0.01, max_total=0.2)
    response = mount(requests.Session(), SlowSecondSlot(rate=100000.0), policy).get(URL)

    assert response.status_code == 500
    assert api.call_count == 1
    assert response.attempts == 1


def test_retry_after_is_honoured_between_attempts(api):
    api.get(URL, [{"status_code": 429, "headers": {"Retry-After": "0.15"}}, {"json": PONG}])
    begin = time.monotonic()

    response = session(max_retry_after=1.0).get(URL)

    assert response.status_code == 200
    assert 0.15 - EPSILON <= time.monotonic() - begin < 1.5


def test_retry_after_beyond_the_cap_is_capped(api):
    api.get(URL, [{"status_code": 503, "headers": {"Retry-After": "3600"}}, {"json": PONG}])
    begin = time.monotonic()

    response = session(max_retry_after=0.05).get(URL)

    assert response.status_code == 200
    assert 0.05 - EPSILON <= time.monotonic() - begin < 2.0  # the cap, not the hour asked for


def test_a_429_holds_the_shared_pacer(api):
    pacer = Pacer(rate=100000.0)
    holds = []
    original_hold = pacer.hold
    pacer.hold = lambda seconds: (holds.append(seconds), original_hold(seconds))
    api.get(URL, [{"status_code": 429, "headers": {"Retry-After": "0.02"}}, {"status_code": 500}, {"json": PONG}])

    mount(requests.Session(), pacer, RetryPolicy(base_delay=0.01, max_retry_after=1.0)).get(URL)

    assert holds == [0.02]


def test_retries_are_logged_with_the_request(api, caplog):
    api.get(URL, [{"status_code": 502, "text": "Bad Gateway"}, {"json": PONG}])

    with caplog.at_level(logging.WARNING, logger="airbyte"):
        session(max_attempts=4).get(URL)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("GET /v1/customers?per_page=200" in w and "HTTP 502" in w and "retry 1 of 3" in w for w in warnings)


NETWORK_ERRORS = [
    requests.exceptions.ConnectionError,
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ReadTimeout,
    requests.exceptions.ChunkedEncodingError,
]


@pytest.mark.parametrize("error", NETWORK_ERRORS, ids=lambda e: e.__name__)
def test_network_errors_are_retried_then_succeed(api, error):
    api.get(URL, [{"exc": error}, {"exc": error}, {"json": PONG}])

    response = session().get(URL)

    assert response.status_code == 200
    assert json_body(response) == PONG
    assert api.call_count == 3


@pytest.mark.parametrize("error", NETWORK_ERRORS, ids=lambda e: e.__name__)
def test_network_errors_end_in_retries_exhausted_naming_the_request(api, error):
    api.get(URL, exc=error("connection reset by peer"))

    with pytest.raises(RetriesExhausted) as caught:
        session(max_attempts=3).get(URL)

    assert api.call_count == 3
    message = str(caught.value)
    assert "GET /v1/customers?per_page=200" in message
    assert "3 times" in message
    assert error.__name__ in message
    assert caught.value.request is not None


BAD_BODIES = {
    "html": "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
    "truncated_json": '{"entries": [{"id": 1, "uuid": "cus_1"}, {"id": 2, "uu',
    "json_list": '[{"id": 1}]',
    "json_string": '"pong!"',
    "empty": "",
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_200_that_is_not_a_json_object_is_retried_then_succeeds(api, body):
    api.get(URL, [{"status_code": 200, "text": body}, {"json": PONG}])

    response = session().get(URL)

    assert json_body(response) == PONG
    assert api.call_count == 2


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_200_that_is_never_a_json_object_ends_in_retries_exhausted(api, body):
    api.get(URL, status_code=200, text=body)

    with pytest.raises(RetriesExhausted) as caught:
        session(max_attempts=3).get(URL)

    assert api.call_count == 3
    assert "GET /v1/customers?per_page=200" in str(caught.value)
    assert "not a JSON object" in str(caught.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_final_client_errors_are_not_retried(api, status):
    body = {"code": status, "message": "No valid API key provided", "param": None}
    api.get(URL, [{"status_code": status, "json": body}, {"json": PONG}])

    response = session().get(URL)

    assert api.call_count == 1
    assert response.status_code == status
    assert response.json() == body
    assert response.attempts == 1


def test_every_request_has_a_default_connect_and_read_timeout(api):
    """The values: test_the_user_guide_states_the_bounds_in_force."""
    api.get(URL, json=PONG)

    session().get(URL)

    connect, read = api.request_history[0].timeout
    assert connect > 0 and read > 0


def test_an_explicit_timeout_is_kept(api):
    api.get(URL, json=PONG)

    session().get(URL, timeout=(1.0, 2.0))

    assert api.request_history[0].timeout == (1.0, 2.0)


def test_mount_covers_http_and_https():
    mounted = mount(requests.Session(), Pacer(rate=10.0))
    assert isinstance(mounted.get_adapter("https://api.chartmogul.com/v1/ping"), ChartmogulAdapter)
    assert isinstance(mounted.get_adapter("http://localhost:8080/v1/ping"), ChartmogulAdapter)


# --- Deadlines: per attempt, and within the retry budget ------------------------------------------


class SlowServer(LocalServer):
    """Answers every request on a connection as slowly as a test says: `head` and `body` are sent
    `pause` seconds apart per `step` bytes, from where `slow_from` says."""

    def __init__(
        self, head, body, pause: float, slow_from: str = "body", step: int = 1, tls: ssl.SSLContext | None = None
    ):
        self.head, self.body, self.pause, self.slow_from, self.step = head, body, pause, slow_from, step
        super().__init__(tls)

    def answer(self, conn: socket.socket) -> None:
        while True:  # keep-alive: answer every request on the connection the same way
            if not conn.recv(65536):
                return
            fast, slow = (b"", self.head + self.body) if self.slow_from == "head" else (self.head, self.body)
            conn.sendall(fast)
            for index in range(0, len(slow), self.step):
                if self._stop.wait(self.pause):
                    return
                conn.sendall(slow[index : index + self.step])


@pytest.fixture
def slow_server(start_server):
    return partial(start_server, SlowServer)


PONG_BODY = b'{"data": "pong!"}' + b" " * 83  # 100 bytes


def json_head(body: bytes = PONG_BODY) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)


@pytest.mark.parametrize("slow_from", ["body", "head"])
def test_an_answer_that_trickles_is_cut_at_the_attempt_deadline_then_retried(slow_server, slow_from):
    """A byte every 50 ms never trips a read timeout (it applies per read): the whole answer, headers
    included, must come within `max_attempt_time`. Here that is 0.3 s; the answer needs 5 s or more."""
    server = slow_server(json_head(), PONG_BODY, pause=0.05, slow_from=slow_from)
    begin = time.monotonic()

    with pytest.raises(RetriesExhausted) as caught:
        fast_session(max_attempts=2, max_delay=0.01, max_attempt_time=0.3).get(server.url)

    assert 2 * 0.3 - EPSILON <= time.monotonic() - begin < 3.0
    assert server.connections == 2
    assert "GET /v1/customers?per_page=200 failed 2 times, last with no complete answer within 0.3 s" in str(
        caught.value
    )


def test_an_attempt_is_cut_by_what_is_left_of_the_budget_too(slow_server):
    """`max_total` used to be checked only before a wait: an attempt could outlast it."""
    server = slow_server(json_head(), PONG_BODY, pause=0.05)  # 5 s for the body
    begin = time.monotonic()

    with pytest.raises(RetriesExhausted) as caught:
        fast_session(max_attempts=5, max_delay=0.01, max_attempt_time=60.0, max_total=0.4).get(server.url)

    assert 0.4 - EPSILON <= time.monotonic() - begin < 2.0
    assert "failed once, last with no complete answer before the 0.4 s for all attempts ran out" in str(caught.value)


def test_a_slow_answer_within_the_deadline_is_read_whole_and_the_connection_serves_again(slow_server):
    server = slow_server(json_head(), PONG_BODY, pause=0.01, step=20)  # 50 ms for the body
    session = fast_session(max_attempts=1, max_attempt_time=5.0)

    first, second = session.get(server.url), session.get(server.url)

    assert json_body(first) == json_body(second) == PONG
    assert server.connections == 1  # kept alive: the socket's own timeout was put back


def test_the_deadline_holds_over_tls_as_chartmogul_is_reached(slow_server, tls_certificate):
    certificate, key = tls_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    quick = slow_server(json_head(), PONG_BODY, pause=0.0, step=100, tls=context)
    trickle = slow_server(json_head(), PONG_BODY, pause=0.05, tls=context)  # 5 s for the body
    session = fast_session(max_attempts=1, max_attempt_time=0.3)

    assert json_body(session.get(quick.url, verify=certificate)) == PONG
    begin = time.monotonic()
    with pytest.raises(RetriesExhausted, match="no complete answer within 0.3 s"):
        session.get(trickle.url, verify=certificate)
    assert 0.3 - EPSILON <= time.monotonic() - begin < 1.5


def test_an_answer_that_closes_the_connection_is_read_whole(slow_server):
    """http.client closes the connection before such a body is read: the socket must outlive that."""
    head = json_head().replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    server = slow_server(head, PONG_BODY, pause=0.01, step=20)
    session = fast_session(max_attempts=1, max_attempt_time=5.0)

    assert json_body(session.get(server.url)) == json_body(session.get(server.url)) == PONG
    assert server.connections == 2


def test_the_deadline_is_the_current_thread_s_only(slow_server):
    """Threads share the adapter and its pool: a deadline is the attempt's, not the adapter's."""
    trickle = slow_server(json_head(), PONG_BODY, pause=0.02)
    quick = slow_server(json_head(), PONG_BODY, pause=0.0, step=100)
    session = fast_session(max_attempts=1, max_attempt_time=0.3)
    outcomes = {}

    def slow():
        try:
            session.get(trickle.url)
        except RetriesExhausted as error:
            outcomes["slow"] = str(error)

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.1)
    outcomes["quick"] = json_body(session.get(quick.url))
    thread.join(5)

    assert outcomes["quick"] == PONG
    assert "no complete answer within 0.3 s" in outcomes["slow"]


# --- Bounds on what one answer may hold ----------------------------------------------------------


class Spaces(io.RawIOBase):
    """`size` bytes of JSON (an object padded with spaces), made as they are read; counts what was read."""

    def __init__(self, size: int, head: bytes = b'{"entries": []'):
        self._data, self._size, self.served = head, size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self._size - self.served)
        chunk = self._data[self.served : self.served + count] if self.served < len(self._data) else b""
        chunk = (chunk + b" " * count)[:count]
        if self.served + count == self._size:
            chunk = chunk[:-1] + b"}"
        buffer[:count] = chunk
        self.served += count
        return count


def test_an_answer_at_the_byte_bound_is_read_one_byte_more_is_refused_unread_and_not_retried(api):
    api.get(URL, [{"body": Spaces(transport.MAX_ANSWER_BYTES)}, {"body": Spaces(transport.MAX_ANSWER_BYTES + 1)}])
    session = fast_session()

    assert json_body(session.get(URL)) == {"entries": []}
    huge = Spaces(transport.MAX_ANSWER_BYTES * 4)
    api.get(URL, body=huge)
    with pytest.raises(AnswerTooLarge) as caught:
        session.get(URL)

    assert api.call_count == 2  # not retried
    assert huge.served <= transport.MAX_ANSWER_BYTES + 2 * transport.CHUNK_BYTES  # reading stopped at the bound
    assert str(caught.value) == (
        "GET /v1/customers?per_page=200: the answer (HTTP 200) is larger than the 16 MiB allowed, once decompressed"
    )


@pytest.mark.parametrize("status", [200, 401, 500])
def test_a_gzip_bomb_is_refused_without_inflating_it(api, status):
    """1 GB inflated from 1 MB used to take 3 GB of memory, and again on every retry. Here 64 MiB
    inflated from 64 KB: memory stays near the 16 MiB bound, whatever the status."""
    bomb = gzip_bomb(64)
    api.get(URL, status_code=status, content=bomb, headers={"Content-Encoding": "gzip"})
    session = fast_session()

    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLarge) as caught:
            session.get(URL)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert len(bomb) < 2**17 and api.call_count == 1
    assert f"(HTTP {status}) is larger than the 16 MiB allowed" in str(caught.value)
    assert peak < 3 * transport.MAX_ANSWER_BYTES, peak


def test_a_list_of_more_entries_than_the_bound_is_refused_not_retried(api):
    most = {"entries": [{}] * transport.MAX_ENTRIES, "has_more": False}
    too_many = {"data_sources": [0] * (transport.MAX_ENTRIES + 1)}
    api.get(URL, [{"json": most}, {"json": too_many}, {"json": PONG}])
    session = fast_session()

    assert len(json_body(session.get(URL))["entries"]) == transport.MAX_ENTRIES == 50_000
    with pytest.raises(AnswerTooLarge) as caught:
        session.get(URL)

    assert api.call_count == 2
    assert str(caught.value) == (
        "GET /v1/customers?per_page=200: the answer holds 50,001 entries in 'data_sources', more than the 50,000 allowed"
    )


# --- Secrets in what the transport says ----------------------------------------------------------


@pytest.mark.parametrize("at", [0, transport.QUOTE_CHARS - 10], ids=["whole", "straddling_the_cut"])
def test_quote_masks_the_key_before_cutting(key_is_secret, at):
    text = "x" * at + API_KEY + " and more" * 100

    quoted = quote(text)

    assert not leaks(quoted, API_KEY)
    assert quoted.startswith("x" * at + "****") and quoted.endswith("...")
    assert len(quoted) == transport.QUOTE_CHARS + 3


@pytest.mark.parametrize("at", [0, transport.QUOTE_CHARS - 10], ids=["whole", "straddling_the_cut"])
def test_retry_warnings_and_the_final_error_never_show_the_key(api, caplog, key_is_secret, at):
    """Exception texts can carry what a server sent (a status line, a header); paths carry its cursors."""
    url = f"{BASE_URL}/v1/customers?cursor={API_KEY}"
    api.get(url, exc=requests.exceptions.ConnectionError("x" * at + API_KEY + " reset" * 100))

    with caplog.at_level(logging.WARNING, logger="airbyte"), pytest.raises(RetriesExhausted) as caught:
        session(max_attempts=3).get(url)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    for text in [*warnings, str(caught.value)]:
        assert "GET /v1/customers?cursor=****" in text and "ConnectionError: " in text
        assert not leaks(text, API_KEY), text


def test_the_user_guide_states_the_bounds_in_force():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "chartmogul.md").read_text()
    policy, check = transport.DEFAULT_RETRIES, REAL_CHECK_RETRIES
    for phrase in [
        f"retried up to {policy.max_attempts} times",
        f"honoured up to {policy.max_retry_after:g} s",
        f"Connecting may take {TIMEOUT[0]:g} s, and the answer may pause {TIMEOUT[1]:g} s between two bytes",
        f"within {policy.max_attempt_time / 60:g} minutes",
        f"`no complete answer within {policy.max_attempt_time:g} s`",
        f"stay within {policy.max_total / 60:g} minutes",
        f"{check.max_attempts} attempts within {check.max_total:g} seconds",
        f"larger than **{transport.MAX_ANSWER_BYTES // 2**20} MiB** once decompressed",
        f"more than the {transport.MAX_ENTRIES:,} allowed",
        f"than **{transport.MAX_ENTRIES:,} entries** in one list",
        f"quoted up to {transport.QUOTE_CHARS} characters",
    ]:
        assert phrase in guide, phrase


def test_the_environment_is_read_once_per_host_and_its_proxies_apply_to_requests_without_any(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = transport.connect(requests.Session(), "key-of-twenty-chars-0", 40)

    # The CDK asks with proxies=None, for which plain requests would leave the environment's out.
    first = session.merge_environment_settings("https://api.chartmogul.com/v1/customers", None, None, None, None)
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:3128")
    again = session.merge_environment_settings("https://api.chartmogul.com/v1/plans?x=1", None, None, None, None)
    elsewhere = session.merge_environment_settings("https://other.chartmogul.com/v1/plans", None, None, None, None)
    given = session.merge_environment_settings(
        "https://api.chartmogul.com/v1/plans", {"https": "http://given.example:1"}, None, None, None
    )

    assert first["proxies"]["https"] == "http://proxy.example:3128"
    assert again == first  # read once for this host
    assert elsewhere["proxies"]["https"] == "http://other.example:3128"  # another host reads it anew
    assert given["proxies"]["https"] == "http://given.example:1"
    again["proxies"]["https"] = "changed by the caller"
    assert session.merge_environment_settings("https://api.chartmogul.com/", None, None, None, None) == first
