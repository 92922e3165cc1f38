"""Shared fixtures: a fake ChartMogul behind the connector's own transport, fast pacing and retries.

`requests_mock.Mocker()` used the usual way swaps every session's adapter for its own, which
would skip `ChartmogulAdapter` (pacing, retries, timeouts, the JSON check). The `api` fixture
instead answers from under it: `HTTPAdapter.send`, which the connector's adapter calls for
each attempt once its direct wire is off, is routed to the Mocker's adapter, so every test
exercises the real transport above the socket. The wire itself (transport's `wire`) is tested
against real sockets, in test_wire.py and by the integration tests.

The keys, the config and the records the fake API serves come from the package testing/ at the
repository's root, which the integration tests share.
"""

import ipaddress
import logging
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import orjson
import pytest
import requests
import requests_mock
from airbyte_cdk.models import AirbyteMessageSerializer, ConfiguredAirbyteCatalogSerializer, SyncMode
from requests.adapters import HTTPAdapter

from source_chartmogul import base as base_module
from source_chartmogul import source as source_module
from source_chartmogul import transport
from source_chartmogul.config import parse_config
from source_chartmogul.source import SourceChartmogul
from testing import streams
from testing.configs import API_KEY, BASE_URL, CONFIG, key_forms
from testing.configs import OTHER_API_KEY as OTHER_API_KEY  # still importable from here, as before
from testing.configs import START_DATE as START_DATE

PING = BASE_URL + "/v1/ping"
FAST_POLICY = transport.RetryPolicy(base_delay=0.01, max_delay=0.02, max_retry_after=0.05, max_total=10.0)
FAST_CHECK_POLICY = transport.RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02, max_retry_after=0.05)
REAL_CHECK_RETRIES = source_module.CHECK_RETRIES  # read before fast_and_isolated replaces it


def basic_auth(api_key: str = API_KEY) -> str:
    return "Basic " + key_forms(api_key)[1]


def page(entries: list, cursor: str | None = None, has_more: bool = False, envelope: str = "entries", **extra) -> dict:
    return {envelope: entries, "cursor": cursor, "has_more": has_more, **extra}


def settings(**overrides):
    return parse_config({**CONFIG, **overrides})


def catalog(*names: str, sync_mode: SyncMode = SyncMode.full_refresh):
    incremental = names if sync_mode == SyncMode.incremental else ()
    return ConfiguredAirbyteCatalogSerializer.load(streams.catalog(names, incremental))


def records_of(output, stream: str | None = None) -> list:
    return [m.record.data for m in output.records if stream is None or m.record.stream == stream]


def all_text(output) -> str:
    """Every message of a run, serialized, for searching leaks."""
    return "\n".join(orjson.dumps(AirbyteMessageSerializer.dump(m)).decode() for m in output.get_message_iterator())


def query(request) -> dict:
    """The query of a recorded request as sent, one value per key."""
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))


@pytest.fixture(autouse=True)
def restore_log_levels():
    """`--debug` (which entrypoint_wrapper.discover always passes) lowers the CDK's loggers to
    DEBUG for good; put them back so later tests do not print every request."""
    levels = {name: logging.getLogger(name).level for name in ["", *logging.root.manager.loggerDict]}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture(autouse=True)
def fast_and_isolated(monkeypatch):
    """Point at the fake host, never wait real backoff, never pace at the production rate."""
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", BASE_URL)
    pacers: dict = {}
    monkeypatch.delenv("CHARTMOGUL_REQUESTS_PER_SECOND", raising=False)
    monkeypatch.setattr(
        transport,
        "pacer_for",
        lambda key, *args, **kwargs: pacers.setdefault(key, transport.Pacer(rate=100000.0, max_parallel=16)),
    )
    real_mount = transport.mount

    def fast_mount(session, pacer, policy=None):
        return real_mount(session, pacer, policy or FAST_POLICY)

    monkeypatch.setattr(transport, "mount", fast_mount)
    monkeypatch.setattr(source_module, "CHECK_RETRIES", FAST_CHECK_POLICY)


@pytest.fixture
def api(monkeypatch):
    """A requests-mock registry answering every request below the connector's transport adapter."""
    mocker = requests_mock.Mocker(case_sensitive=True)
    # Registered first, so any test's own registration wins: an unexpected request fails at once
    # (418 is final, never retried) instead of raising NoMockAddress, a ConnectionError that the
    # transport would retry.
    mocker.register_uri(
        requests_mock.ANY, requests_mock.ANY, status_code=418, json={"message": "no mock for this request"}
    )

    def send(adapter_self, request, **kwargs):
        return mocker._adapter.send(request, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", send)
    monkeypatch.setattr(transport.ChartmogulAdapter, "direct", False)  # every request by HTTPAdapter.send
    yield mocker
    # A read that failed or was left early may leave readers and prefetches behind, each still
    # in its request: let them finish, or their requests would land in the next test's mock.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        base_module._senders.busy() or any(thread.name in LINGERING for thread in threading.enumerate())
    ):
        time.sleep(0.01)


LINGERING = ("partition",)  # the threads of parallel.ordered; sync.read's streams end with their read


@pytest.fixture
def key_is_secret():
    """What the CDK's secret filter knows in a real run: `settings()` registers the key's forms."""
    SourceChartmogul().settings(CONFIG)


def fast_session(**policy) -> requests.Session:
    """A session through the connector's transport, unpaced, retrying after hundredths of a second
    unless `policy` says otherwise."""
    policy = {"base_delay": 0.01, "max_delay": 0.02, **policy}
    return transport.mount(requests.Session(), transport.Pacer(rate=100000.0), transport.RetryPolicy(**policy))


def by_path(api, path: str) -> list:
    return [r for r in api.request_history if r.path == path]


def statuses(output, stream: str) -> list:
    return [s.name for s in output.get_stream_statuses(stream)]


class Gauge:
    """How many callers are inside at once, and the most there ever were.

    `inside(until=n)` keeps each caller in until n of them have been in together, so that
    overlap does not hang on how threads happen to be scheduled; then `linger` seconds more,
    in which one caller too many would show if a limit let it in."""

    def __init__(self):
        self.now = 0
        self.highest = 0
        self._changed = threading.Condition()

    @contextmanager
    def inside(self, until: int, timeout: float = 3.0, linger: float = 0.02):
        with self._changed:
            self.now += 1
            self.highest = max(self.highest, self.now)
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.highest >= until, timeout)
        try:
            yield
            time.sleep(linger)
        finally:
            with self._changed:
                self.now -= 1


class FakeClock:
    """For `transport.time`: the clock stands still but for sleeps, which move it on at once."""

    def __init__(self):
        self.start = self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


@pytest.fixture(scope="session")
def tls_certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (PEM files: certificate, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


class LocalServer:
    """A raw HTTP server on a local socket (TLS if `tls` is given): each connection is answered
    in a thread of its own by the subclass's `answer(conn)`; `connections` counts them."""

    def __init__(self, tls: ssl.SSLContext | None = None):
        self.tls = tls
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self.origin = f"{'https' if tls else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"
        self.url = f"{self.origin}/v1/customers?per_page=200"

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._connection, args=(conn,), daemon=True).start()

    def _connection(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            self.answer(conn)
        except OSError:
            return  # the client gave up, or its TLS handshake failed
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._listener.close()


@pytest.fixture
def start_server():
    """start_server(LocalServerSubclass, *args, **kwargs): a server, closed after the test."""
    started: list[LocalServer] = []

    def start(kind, *args, **kwargs):
        started.append(kind(*args, **kwargs))
        return started[-1]

    yield start
    for server in started:
        server.close()
