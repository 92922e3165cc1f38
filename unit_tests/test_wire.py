"""wire.py: plain GETs sent with http.client directly, against real sockets.

The `api` fixture answers from under requests' HTTPAdapter.send and so turns the wire off: here a
scripted server on a local socket answers instead, and the same answer is compared, field for
field, with what requests' own way makes of it.
"""

import gzip
import logging
import socket
import ssl
import time
import tracemalloc
import zlib
from functools import partial

import pytest
import requests
from requests.adapters import HTTPAdapter

from sandbox.faults import gzip_bomb
from source_chartmogul import transport, wire
from source_chartmogul.transport import AnswerTooLarge, ChartmogulAdapter, RetriesExhausted, json_body
from unit_tests.conftest import LocalServer, fast_session

PONG = b'{"data": "pong!"}'


def answer(body: bytes = PONG, status: str = "200 OK", headers: tuple[str, ...] = (), length: bool = True) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Content-Type: application/json", *headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Close:
    """An answer after which the server closes the connection (None: closes without answering)."""

    def __init__(self, data: bytes | None = None):
        self.data = data


class Unasked:
    """An answer, then, a moment later, bytes nobody asked for, and the connection closed."""

    def __init__(self, data: bytes, unasked: bytes):
        self.data, self.unasked = data, unasked


class Server(LocalServer):
    """Answers the n-th request it reads with `answers[n]` (the last one for every later request)
    and keeps each request's head."""

    def __init__(self, *answers, tls: ssl.SSLContext | None = None):
        self.answers = answers
        self.heads: list[bytes] = []
        super().__init__(tls)
        self.url = f"{self.origin}/v1/customers?per_page=200&cursor=a%2Bb"

    def answer(self, conn: socket.socket) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            self.heads.append(head)
            reply = self.answers[min(len(self.heads), len(self.answers)) - 1]
            if isinstance(reply, Close):
                if reply.data:
                    conn.sendall(reply.data)
                return
            if isinstance(reply, Unasked):
                conn.sendall(reply.data)
                time.sleep(0.05)
                conn.sendall(reply.unasked)
                return
            conn.sendall(reply)


@pytest.fixture
def server(start_server):
    return partial(start_server, Server)


@pytest.fixture
def no_requests_way(monkeypatch):
    """Fails any request that goes by requests' HTTPAdapter.send instead of the wire."""

    def refuse(*args, **kwargs):
        raise AssertionError("went by HTTPAdapter.send")

    monkeypatch.setattr(HTTPAdapter, "send", refuse)


def both_ways(monkeypatch, url: str, **kwargs) -> tuple[requests.Response, requests.Response]:
    """The same request sent by the wire, then by requests' way, each on a new session."""
    direct = fast_session(max_attempts=1).get(url, **kwargs)
    monkeypatch.setattr(ChartmogulAdapter, "direct", False)
    by_requests = fast_session(max_attempts=1).get(url, **kwargs)
    monkeypatch.setattr(ChartmogulAdapter, "direct", True)
    return direct, by_requests


def fields(response: requests.Response) -> dict:
    return {
        "status": response.status_code,
        "reason": response.reason,
        "headers": dict(response.headers),
        "encoding": response.encoding,
        "url": response.url,
        "cookies": response.cookies.get_dict(),
        "content": response.content,
        "body": json_body(response),
    }


# --- the same request on the wire, the same response to the caller --------------------------------


def test_a_plain_get_goes_by_the_wire_as_requests_would_send_it(server, monkeypatch):
    served = server(answer())
    session = fast_session(max_attempts=1)
    session.auth = ("key", "")
    monkeypatch.setattr(HTTPAdapter, "send", lambda *args, **kwargs: pytest.fail("went by HTTPAdapter.send"))
    assert json_body(session.get(served.url)) == {"data": "pong!"}
    monkeypatch.undo()
    monkeypatch.setattr(ChartmogulAdapter, "direct", False)
    assert json_body(session.get(served.url)) == {"data": "pong!"}

    direct, by_requests = served.heads
    assert direct.split(b"\r\n")[0] == b"GET /v1/customers?per_page=200&cursor=a%2Bb HTTP/1.1"
    assert sorted(direct.split(b"\r\n")) == sorted(by_requests.split(b"\r\n"))
    assert b"Accept-Encoding: gzip, deflate" in direct and b"Authorization: Basic a2V5Og==" in direct


@pytest.mark.parametrize(
    "reply",
    [
        answer(headers=("Set-Cookie: a=1; Path=/", "Set-Cookie: b=2; Path=/", "X-Many: 1", "X-Many: 2")),
        answer(gzip.compress(PONG), headers=("Content-Encoding: gzip",)),
        answer(gzip.compress(PONG[:8]) + gzip.compress(PONG[8:]), headers=("Content-Encoding: gzip",)),
        answer(gzip.compress(PONG) + b"trailing garbage", headers=("Content-Encoding: gzip",)),
        answer(zlib.compress(PONG), headers=("Content-Encoding: deflate",)),
        answer(zlib.compress(PONG)[2:-4], headers=("Content-Encoding: deflate",)),  # raw deflate
        answer(b"11\r\n" + PONG + b"\r\n0\r\n\r\n", headers=("Transfer-Encoding: chunked",), length=False),
        answer(status="404 Not Found", headers=("Content-Type: application/json; charset=latin-1",)),
        Close(answer(length=False)),  # the body runs to the connection's end
    ],
    ids=[
        "repeated headers and cookies",
        "gzip",
        "gzip in two members",
        "gzip then garbage",
        "deflate",
        "raw deflate",
        "chunked",
        "404",
        "to the end",
    ],
)
def test_the_wire_s_response_is_requests_own_field_for_field(server, monkeypatch, reply):
    served = server(reply)

    direct, by_requests = both_ways(monkeypatch, served.url)

    assert fields(direct) == fields(by_requests)
    assert isinstance(direct.raw, wire._Body) and not isinstance(by_requests.raw, wire._Body)


def long_page(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    return b'{"data": "' + b"x" * (size - 12) + b'"}'


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


CHUNK = transport.CHUNK_BYTES
LONG = long_page(2 * CHUNK + 1000)


@pytest.mark.parametrize(
    "coding, encoded",
    [
        ("gzip", gzip.compress(LONG)),
        ("gzip", gzip.compress(LONG[:CHUNK]) + gzip.compress(LONG[CHUNK:])),
        ("gzip", b"".join(gzip.compress(LONG[start : start + 4096]) for start in range(0, len(LONG), 4096))),
        ("deflate", zlib.compress(LONG)),
        ("deflate", raw_deflate(LONG)),
    ],
    ids=["gzip", "gzip, a member ending where a chunk does", "gzip in members of 4 KiB", "deflate", "raw deflate"],
)
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_a_body_of_several_chunks_comes_whole_both_ways(server, monkeypatch, coding, encoded, framing):
    """On requests' way too the wire's decoders decode: urllib3 2.8, read a chunk at a time, lost
    the second half of a gzip body whose first member ended where a chunk did, or inflated it
    without end (its decoder kept feeding the finished member)."""
    if framing == "length":
        reply = answer(encoded, headers=(f"Content-Encoding: {coding}",))
    else:
        pieces = [encoded[start : start + 70000] for start in range(0, len(encoded), 70000)]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
        reply = answer(chunked, headers=(f"Content-Encoding: {coding}", "Transfer-Encoding: chunked"), length=False)
    served = server(reply)

    direct, by_requests = both_ways(monkeypatch, served.url)

    assert direct.content == LONG and by_requests.content == LONG
    assert isinstance(by_requests.raw, wire.Decoding)


def test_a_gzip_member_that_starts_in_a_later_read_is_decoded_too():
    decoder = wire._decoder("gzip")
    first, second = gzip.compress(b"[1,"), gzip.compress(b"2]")
    out = b""
    for data in (first, second[:5], second[5:]):  # as the socket might hand them over
        for _ in range(100):
            piece = decoder.decompress(data, 4)
            data = decoder.unconsumed_tail
            out += piece
            if not data and len(piece) < 4:
                break

    assert out + decoder.flush() == b"[1,2]"


def test_a_decoder_that_stops_making_progress_is_an_error_not_a_hang(server, monkeypatch, no_requests_way):
    class Stuck:
        calls = 0
        unconsumed_tail = b"never consumed"

        def decompress(self, data: bytes, limit: int) -> bytes:
            Stuck.calls += 1
            assert Stuck.calls < 1000, "looping"
            return b""

    monkeypatch.setattr(wire, "_decoder", lambda coding: Stuck())
    served = server(answer(gzip.compress(PONG), headers=("Content-Encoding: gzip",)))

    with pytest.raises(RetriesExhausted, match="ContentDecodingError: .*stopped making progress"):
        fast_session(max_attempts=1).get(served.url)
    assert Stuck.calls == 2  # the second call gave nothing and took nothing


@pytest.mark.parametrize("direct", [True, False], ids=["the wire", "requests' way"])
def test_cookies_a_server_sets_reach_the_session_as_with_requests(server, monkeypatch, direct):
    served = server(answer(gzip.compress(PONG), headers=("Set-Cookie: visit=1; Path=/", "Content-Encoding: gzip")))
    monkeypatch.setattr(ChartmogulAdapter, "direct", direct)
    session = fast_session(max_attempts=1)

    assert json_body(session.get(served.url)) == {"data": "pong!"}

    assert session.cookies.get_dict() == {"visit": "1"}


def test_a_proxied_request_goes_by_requests_and_its_proxy(server, monkeypatch):
    proxy = server(answer())
    monkeypatch.setattr(wire.Wire, "open", lambda *args, **kwargs: pytest.fail("went by the wire"))

    response = fast_session(max_attempts=1).get("http://chartmogul.invalid/v1/ping", proxies={"http": proxy.origin})

    assert json_body(response) == {"data": "pong!"}
    assert proxy.heads[0].startswith(b"GET http://chartmogul.invalid/v1/ping HTTP/1.1")


def test_a_request_offering_an_encoding_the_wire_does_not_decode_goes_by_requests(server, monkeypatch):
    served = server(answer())
    monkeypatch.setattr(wire.Wire, "open", lambda *args, **kwargs: pytest.fail("went by the wire"))

    response = fast_session(max_attempts=1).get(served.url, headers={"Accept-Encoding": "br, gzip"})

    assert json_body(response) == {"data": "pong!"}


# --- connections ----------------------------------------------------------------------------------


def test_a_connection_is_kept_alive_and_given_back_once_its_body_is_read(server, no_requests_way):
    served = server(answer())
    session = fast_session(max_attempts=1)

    for _ in range(3):
        assert json_body(session.get(served.url)) == {"data": "pong!"}

    assert served.connections == 1


def test_a_kept_connection_the_server_closed_is_replaced_at_once_without_a_retry(server, caplog, no_requests_way):
    served = server(Close(answer()))  # no "Connection: close": the client keeps it, then finds it closed
    session = fast_session(max_attempts=1)

    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            assert json_body(session.get(served.url)) == {"data": "pong!"}

    assert served.connections == 3 and len(served.heads) == 3
    assert not caplog.records


def test_a_new_connection_closed_without_an_answer_is_an_error_the_adapter_retries(server, no_requests_way):
    served = server(Close())
    session = fast_session(max_attempts=3)

    with pytest.raises(RetriesExhausted, match=r"failed 3 times, last with ConnectionError: http://127.0.0.1:\d+: "):
        session.get(served.url)

    assert served.connections == 3 and len(served.heads) == 3  # sent once per attempt, never again


def test_a_refused_connection_names_where(no_requests_way):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    with pytest.raises(RetriesExhausted, match=rf"ConnectionError: http://127.0.0.1:{port}: ConnectionRefusedError"):
        fast_session(max_attempts=2).get(f"http://127.0.0.1:{port}/v1/ping")


def test_a_body_cut_short_is_retried_on_a_new_connection(server, no_requests_way):
    served = server(Close(answer()[:-3]), answer())
    session = fast_session(max_attempts=2)

    assert json_body(session.get(served.url)) == {"data": "pong!"}
    assert served.connections == 2


def test_a_body_cut_short_every_time_ends_in_a_chunked_encoding_error(server, no_requests_way):
    served = server(Close(answer()[:-3]))

    with pytest.raises(RetriesExhausted, match="ChunkedEncodingError: .*IncompleteRead"):
        fast_session(max_attempts=2).get(served.url)


def test_idle_connections_are_bounded_and_closed_with_the_adapter(server):
    served = server(answer())
    pool = wire.Wire(size=2)
    request = requests.Request("GET", served.url).prepare()
    opened = [pool.open(request, (5.0, 5.0), True, None) for _ in range(3)]  # three at once
    for response in opened:
        assert b"".join(response.raw.stream(1024)) == PONG

    kept = [conn for conns in pool._idle.values() for conn in conns]
    assert served.connections == 3 and len(kept) == 2
    pool.close()
    assert all(conn.sock is None for conn in kept) and not pool._idle

    session = fast_session(max_attempts=1)
    session.get(served.url)
    adapter = session.get_adapter(served.url)
    assert adapter._wire._idle
    session.close()
    assert not adapter._wire._idle


def test_a_body_read_to_its_end_after_the_wire_closed_does_not_keep_its_connection(server):
    served = server(answer())
    pool = wire.Wire(size=2)
    response = pool.open(requests.Request("GET", served.url).prepare(), (5.0, 5.0), True, None)
    conn = response.raw._conn

    pool.close()  # as a session closes while another thread still reads a body
    assert b"".join(response.raw.stream(1024)) == PONG

    assert not any(pool._idle.values()) and conn.sock is None
    again = pool.open(requests.Request("GET", served.url).prepare(), (5.0, 5.0), True, None)
    assert b"".join(again.raw.stream(1024)) == PONG
    assert len(pool._idle[again.raw._key]) == 1  # a wire used after close keeps connections again


def test_a_body_in_a_coding_not_asked_for_comes_as_it_came_as_with_requests(server, monkeypatch):
    served = server(answer(b"\x00\x01 brotli?", status="404 Not Found", headers=("Content-Encoding: br",)))

    direct, by_requests = both_ways(monkeypatch, served.url)

    assert direct.status_code == by_requests.status_code == 404
    assert direct.content == by_requests.content == b"\x00\x01 brotli?"
    assert dict(direct.headers) == dict(by_requests.headers)


def test_a_page_in_a_coding_not_asked_for_is_not_json_as_with_requests(server, monkeypatch):
    served = server(answer(b"\x00\x01 brotli?", headers=("Content-Encoding: br",)))

    with pytest.raises(RetriesExhausted) as direct:
        fast_session(max_attempts=1).get(served.url)
    monkeypatch.setattr(ChartmogulAdapter, "direct", False)
    with pytest.raises(RetriesExhausted) as by_requests:
        fast_session(max_attempts=1).get(served.url)

    assert "HTTP 200 with a body that is not a JSON object" in str(direct.value)
    assert str(direct.value) == str(by_requests.value)


def test_an_idle_connection_with_bytes_nobody_asked_for_is_not_used(server, no_requests_way):
    """A server may send a 408 on a connection it is about to close, or stray bytes: read as the
    next request's answer, they would fail it or, worse, stand in for it."""
    stray = answer(b'{"page": "stale"}')
    timeout = answer(b"", status="408 Request Timeout", headers=("Connection: close",))
    served = server(Unasked(answer(b'{"page": 1}'), stray), Unasked(answer(b'{"page": 2}'), timeout), answer())
    session = fast_session(max_attempts=1)

    pages = []
    for _ in range(3):
        pages.append(json_body(session.get(served.url)))
        time.sleep(0.2)  # the unasked bytes arrive while the connection sits idle

    assert pages == [{"page": 1}, {"page": 2}, {"data": "pong!"}]
    assert served.connections == 3 and len(served.heads) == 3


def test_interim_answers_are_skipped_to_the_answer(server, no_requests_way):
    """http.client skips 100 Continue only: a 103 would be taken for the answer, and the real one
    read as the next request's."""
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
    processing = b"HTTP/1.1 102 Processing\r\n\r\n"
    served = server(hints + processing + hints + answer(b'{"page": 1}'), answer(b'{"page": 2}'))
    session = fast_session(max_attempts=1)

    first, second = session.get(served.url), session.get(served.url)

    assert (first.status_code, json_body(first)) == (200, {"page": 1})
    assert (second.status_code, json_body(second)) == (200, {"page": 2})
    assert served.connections == 1


def test_endless_interim_answers_are_an_error(server, no_requests_way):
    served = server(b"HTTP/1.1 103 Early Hints\r\n\r\n" * (wire.MAX_INTERIM_ANSWERS + 1) + answer())

    with pytest.raises(RetriesExhausted, match="more than 10 interim"):
        fast_session(max_attempts=1).get(served.url)


def test_a_connection_switched_to_another_protocol_is_not_kept(server):
    served = server(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n\r\n")
    pool = wire.Wire(size=2)
    response = pool.open(requests.Request("GET", served.url).prepare(), (5.0, 5.0), True, None)

    assert response.status_code == 101 and b"".join(response.raw.stream(1024)) == b""
    assert not any(pool._idle.values())


def test_a_body_that_is_not_what_its_encoding_says_is_a_decoding_error(server, no_requests_way):
    served = server(answer(b"not gzip at all", headers=("Content-Encoding: gzip",)))

    with pytest.raises(RetriesExhausted, match="ContentDecodingError: .*error"):
        fast_session(max_attempts=1).get(served.url)


@pytest.mark.parametrize("status", ["200 OK", "500 Internal Server Error"])
def test_a_gzip_bomb_on_the_wire_is_refused_without_inflating_it(server, no_requests_way, status):
    bomb = gzip_bomb(64)
    served = server(answer(bomb, status=status, headers=("Content-Encoding: gzip",)), answer())
    session = fast_session(max_attempts=2)

    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLarge, match="is larger than the 16 MiB allowed"):
            session.get(served.url)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert peak < 3 * transport.MAX_ANSWER_BYTES, peak
    assert json_body(session.get(served.url)) == {"data": "pong!"}
    assert served.connections == 2  # the bomb's connection was not read to its end: not kept


# --- TLS ------------------------------------------------------------------------------------------


@pytest.fixture
def tls_server(server, tls_certificate):
    certificate, key = tls_certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return server(answer(), tls=context)


def test_tls_is_verified_against_the_bundle_given(tls_server, tls_certificate, no_requests_way):
    session = fast_session(max_attempts=1)

    assert json_body(session.get(tls_server.url, verify=tls_certificate[0])) == {"data": "pong!"}
    assert json_body(session.get(tls_server.url, verify=tls_certificate[0])) == {"data": "pong!"}
    assert tls_server.connections == 1


def test_a_certificate_the_default_bundle_does_not_trust_is_refused(tls_server, no_requests_way):
    with pytest.raises(RetriesExhausted, match="SSLError: .*CERTIFICATE_VERIFY_FAILED"):
        fast_session(max_attempts=1).get(tls_server.url)


def test_verify_false_skips_the_check_as_with_requests(tls_server, no_requests_way):
    assert json_body(fast_session(max_attempts=1).get(tls_server.url, verify=False)) == {"data": "pong!"}


@pytest.mark.parametrize("setting", ["verify", "cert"])
def test_a_bundle_or_certificate_that_is_not_pem_is_requests_ssl_error(tls_server, tmp_path, setting):
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate")
    settings = {"verify": True, "cert": None, setting: str(not_pem)}
    request = requests.Request("GET", tls_server.url).prepare()

    with pytest.raises(requests.exceptions.SSLError, match=r"https://127.0.0.1:\d+: SSLError: "):
        wire.Wire(size=1).open(request, (5.0, 5.0), settings["verify"], settings["cert"])
    assert tls_server.connections == 0


@pytest.mark.parametrize("cert", ["{missing}", ("{missing}", None), ("{certificate}", "{missing}")])
def test_a_missing_client_certificate_or_key_is_requests_own_error(tls_server, tls_certificate, tmp_path, cert):
    names = {"missing": str(tmp_path / "nowhere.pem"), "certificate": tls_certificate[0]}
    cert = cert.format(**names) if isinstance(cert, str) else tuple(part and part.format(**names) for part in cert)
    request = requests.Request("GET", tls_server.url).prepare()
    with pytest.raises(OSError) as direct:
        wire.Wire(size=1).open(request, (5.0, 5.0), True, cert)
    with pytest.raises(OSError) as by_requests:
        requests.Session().get(tls_server.url, cert=cert, timeout=5)

    assert str(direct.value) == str(by_requests.value)
    assert tls_server.connections == 0


def test_a_missing_ca_bundle_is_requests_own_error(tls_server, tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(OSError) as direct:
        fast_session(max_attempts=1).get(tls_server.url, verify=missing)
    monkeypatch.setattr(ChartmogulAdapter, "direct", False)
    with pytest.raises(OSError) as by_requests:
        fast_session(max_attempts=1).get(tls_server.url, verify=missing)

    assert str(direct.value) == str(by_requests.value)
    assert tls_server.connections == 0
