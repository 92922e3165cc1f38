"""The wire: one HTTP/1.1 exchange on a kept-alive connection, sent with http.client directly.

Nearly every request of a sync is the same: a GET with a few headers and no body, to one host,
without a proxy. `ChartmogulAdapter` sends those through `Wire.open` instead of requests'
`HTTPAdapter.send` and urllib3's connection pool, whose general machinery (a pool queue and
retry object per request, header dicts, response wrappers) costs more than the exchange itself:
docs/architecture.md, "The wire", has the measurement. Anything else (a proxy, a body, an
encoding other than gzip or deflate offered) goes requests' way.

What it keeps from requests and urllib3:

* TLS as urllib3 sets it up (its context: TLS 1.2 at least, the host name checked), verified
  against the bundle requests would use (certifi's, or `verify`: REQUESTS_CA_BUNDLE...), with the
  client certificate `cert` if one is given.
* The connect timeout over the connection and the TLS handshake, the read timeout over each read,
  and the attempt's deadline over every read (`_DeadlineReader`).
* Kept-alive connections, at most `size` idle ones per origin. One with something to read (its
  end, or bytes the server sent unasked) is dropped before it is used. A kept connection the
  server closed as the request went fails before any byte of an answer: the request goes again,
  once, on a new connection.
* Interim answers (1xx) skipped to the answer, which http.client does for 100 only.
* A gzip or deflate body decoded as it is read, at most as many bytes out per step as the reader
  asks for (`transport.CHUNK_BYTES`), so that a bound on the decoded size holds before a bomb is
  inflated. A body in a coding not asked for is passed on as it came, as urllib3 passes it.
* requests' exceptions (ConnectTimeout, ReadTimeout, SSLError, ConnectionError,
  ChunkedEncodingError, ContentDecodingError) and its response (status, reason, headers with
  repeated ones joined, encoding, url, request, cookies), so the adapter, the retry policy and
  errors.py see what they would see from requests.
"""

import http.client
import io
import os
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_encoding_from_headers
from urllib3.util import create_urllib3_context
from urllib3.util.wait import wait_for_read

# What requests offers (its default Accept-Encoding) when neither brotli nor zstandard is
# installed: the codings decoded here. A request offering more goes requests' way.
ENCODINGS = "gzip, deflate"


class _Deadline(threading.local):
    """The end of the attempt the current thread is making (None: no deadline), and whether a
    socket read was cut short by it."""

    end: float | None = None
    reached: bool = False


deadline = _Deadline()


class _DeadlineReader(io.RawIOBase):
    """The socket reader http.client made (status line, headers, body), every read bounded by what
    is left of the current thread's attempt.

    It keeps that reader rather than the bare socket: while a reader is open the socket outlives
    the connection's close(), which http.client does before the body of a `Connection: close`
    answer is read.
    """

    def __init__(self, raw: io.RawIOBase, sock: socket.socket):
        self._raw = raw
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        end = deadline.end
        if end is None:
            return self._raw.readinto(buffer)
        remaining = end - time.monotonic()
        if remaining <= 0:
            deadline.reached = True
            raise TimeoutError("the attempt's deadline passed")
        timeout = self._sock.gettimeout()
        if timeout is not None and timeout <= remaining:
            return self._raw.readinto(buffer)
        self._sock.settimeout(remaining)
        try:
            return self._raw.readinto(buffer)
        except TimeoutError:
            deadline.reached = True
            raise
        finally:
            self._sock.settimeout(timeout)

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class DeadlineResponse(http.client.HTTPResponse):
    """An http.client response read through `_DeadlineReader`, interim answers skipped: urllib3's
    connections use it too."""

    def __init__(self, sock, *args, **kwargs):
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock))

    def _read_status(self) -> tuple[str, int, str]:
        """http.client's status line, past any interim answer (102 Processing, 103 Early Hints...).

        http.client skips 100 Continue only: it would take a 103 for the answer, with no body, and
        the real answer would stay unread on the connection, to be read as the next request's.
        A 101 (a switch of protocol nobody asked for) is the answer: the connection is not kept.
        """
        for _ in range(MAX_INTERIM_ANSWERS):
            version, status, reason = super()._read_status()  # type: ignore[misc]  # not in typeshed
            if not 101 < status < 200:
                return version, status, reason
            http.client.parse_headers(self.fp)  # its headers, bounded as the answer's are
        raise http.client.HTTPException(f"more than {MAX_INTERIM_ANSWERS} interim (1xx) answers in a row")


class _Connection(http.client.HTTPConnection):
    response_class = DeadlineResponse


class _TLSConnection(http.client.HTTPSConnection):
    response_class = DeadlineResponse


# Interim answers (1xx) skipped before an answer, at most: the attempt's deadline bounds their time.
MAX_INTERIM_ANSWERS = 10

# Errors of a kept connection that the server closed while it sat idle: nothing was answered.
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


class _Stale(Exception):
    """A kept connection failed before any byte of an answer: the request goes again, once."""


class Wire:
    """Kept-alive connections per origin and TLS settings, and the exchanges made on them."""

    def __init__(self, size: int):
        self._size = size
        self._idle: dict[tuple, list[http.client.HTTPConnection]] = {}
        self._contexts: dict[tuple, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self.generation = 0  # how many times close() ran: a connection opened before is not kept

    def open(
        self, request: requests.PreparedRequest, timeout: tuple[float, float | None], verify: Any, cert: Any
    ) -> requests.Response:
        """`request` sent, and its answer's status and headers read: a response whose body is
        read by `iter_content` (requests' `raw.stream`), which gives the connection back once the
        body is read to its end. A response left unread must be closed, as with requests."""
        url = urlsplit(str(request.url))
        scheme, host = url.scheme.lower(), url.hostname or ""
        port = url.port or (443 if scheme == "https" else 80)
        tls = (verify, cert) if scheme == "https" else (None, None)
        key = (scheme, host, port, *tls)
        connect_timeout, read_timeout = timeout
        conn = self._take(key)
        if conn is not None:
            try:
                return self._exchange(request, key, conn, read_timeout, kept=True)
            except _Stale:
                pass
        try:
            context = self._context(*tls) if scheme == "https" else None
        except ssl.SSLError as error:  # a bundle or certificate that is not PEM: requests' SSLError
            raise _mapped(error, key, request, requests.exceptions.ConnectTimeout) from None
        # A missing bundle or certificate file stays the OSError requests raises.
        try:
            if context is not None:
                conn = _TLSConnection(host, port, timeout=connect_timeout, context=context)
            else:
                conn = _Connection(host, port, timeout=connect_timeout)
            conn.connect()
        except (OSError, http.client.HTTPException) as error:
            raise _mapped(error, key, request, requests.exceptions.ConnectTimeout) from None
        return self._exchange(request, key, conn, read_timeout, kept=False)

    def _exchange(
        self,
        request: requests.PreparedRequest,
        key: tuple,
        conn: http.client.HTTPConnection,
        read_timeout: float | None,
        kept: bool,
    ) -> requests.Response:
        try:
            conn.sock.settimeout(read_timeout)  # connected: a kept connection or a new one
            conn.putrequest(str(request.method), request.path_url, skip_accept_encoding=True)
            for name, value in request.headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            answer = conn.getresponse()
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            if kept and isinstance(error, _STALE):
                raise _Stale() from None
            raise _mapped(error, key, request, requests.exceptions.ReadTimeout) from None
        return _response(request, _Body(self, key, conn, answer, request))

    def _context(self, verify: Any, cert: Any) -> ssl.SSLContext:
        """urllib3's TLS context for these settings, made once: loading a CA bundle takes about
        ten milliseconds. The bundle is found as requests finds it (`HTTPAdapter.cert_verify`)."""
        with self._lock:
            context = self._contexts.get((verify, cert))
        if context is not None:
            return context
        if verify:
            bundle = DEFAULT_CA_BUNDLE_PATH if verify is True else verify
            if not os.path.exists(bundle):
                raise OSError(f"Could not find a suitable TLS CA certificate bundle, invalid path: {bundle}")
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            if os.path.isdir(bundle):
                context.load_verify_locations(capath=bundle)
            else:
                context.load_verify_locations(cafile=bundle)
        else:
            context = create_urllib3_context(cert_reqs=ssl.CERT_NONE)
            context.check_hostname = False
        if cert:
            certificate, private_key = (cert, None) if isinstance(cert, str) else cert
            for what, path in (("certificate", certificate), ("key", private_key)):
                if path and not os.path.exists(path):
                    raise OSError(f"Could not find the TLS {what} file, invalid path: {path}")
            context.load_cert_chain(certificate, private_key)
        with self._lock:
            return self._contexts.setdefault((verify, cert), context)

    def _take(self, key: tuple) -> http.client.HTTPConnection | None:
        """A kept connection with nothing to read, as urllib3 takes one from its pool: bytes that
        wait on an idle connection (a 408 the server sent before closing it, an answer it should
        not have sent) or its end would be read as the next request's answer. Such a connection
        is closed instead; at most `size` are kept, so this ends."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                conn = idle.pop() if idle else None
            if conn is None or not wait_for_read(conn.sock, timeout=0.0):
                return conn
            conn.close()

    def give_back(self, key: tuple, conn: http.client.HTTPConnection, generation: int) -> None:
        """`conn`, its answer read to the end, kept for another request: unless `size` are kept
        already, or `close()` ran since it was taken (a body read to its end after the session
        closed, by a thread still busy with it)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._size and generation == self.generation:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
            self.generation += 1
        for conns in idle.values():
            for conn in conns:
                conn.close()


def _mapped(
    error: Exception, key: tuple, request, on_timeout: type[requests.RequestException]
) -> requests.RequestException:
    """The requests exception for an error of the socket, TLS, http.client or zlib, as requests
    raises them (a timeout is `on_timeout`: ConnectTimeout while connecting, ReadTimeout for the
    answer's head, ConnectionError within its body), naming where it happened."""
    scheme, host, port = key[:3]
    text = f"{scheme}://{host}:{port}: {type(error).__name__}: {error}"
    kind: type[requests.RequestException]
    if isinstance(error, zlib.error):
        kind = requests.exceptions.ContentDecodingError
    elif isinstance(error, TimeoutError):
        kind = on_timeout
    elif isinstance(error, ssl.SSLError | ssl.CertificateError):
        kind = requests.exceptions.SSLError
    elif on_timeout is requests.exceptions.ConnectionError:  # within the body
        kind = requests.exceptions.ChunkedEncodingError
    else:
        kind = requests.exceptions.ConnectionError
    return kind(text, request=request)


def _response(request: requests.PreparedRequest, body: "_Body") -> requests.Response:
    """The response as requests' `HTTPAdapter.build_response` makes it."""
    answer = body.answer
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    for name, value in answer.getheaders():
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    response = requests.Response()
    response.status_code = answer.status
    response.headers = headers
    response.encoding = get_encoding_from_headers(headers)
    response.raw = body
    response.reason = answer.reason
    response.url = request.url or ""
    response.request = request
    extract_cookies_to_jar(response.cookies, request, body)
    return response


class _Body:
    """What requests calls a response's `raw`: the body of one answer, decoded as it is read,
    and the connection it came on, given back once the body is read to its end."""

    def __init__(self, wire: Wire, key: tuple, conn: http.client.HTTPConnection, answer, request):
        self.answer = answer
        self._original_response = answer  # where requests reads the cookies from
        self._wire, self._key, self._conn, self._request = wire, key, conn, request
        self._generation = wire.generation
        self._done = False

    def stream(self, amount: int, decode_content: bool = True) -> Iterator[bytes]:
        try:
            yield from decoded(self._reads(amount), self.answer.getheader("Content-Encoding"), amount)
        except BaseException as error:  # GeneratorExit too: the body was not read to its end
            self.close()
            if isinstance(error, OSError | http.client.HTTPException | zlib.error):
                raise _mapped(error, self._key, self._request, requests.exceptions.ConnectionError) from None
            raise
        self._done = True
        if self.answer.will_close or self.answer.status < 200:  # a 101: no longer HTTP
            self._conn.close()
        else:
            self._wire.give_back(self._key, self._conn, self._generation)

    def _reads(self, amount: int) -> Iterator[bytes]:
        while data := self.answer.read(amount):
            yield data
        if self.answer.length:  # http.client ends a short body quietly, urllib3 does not
            raise http.client.IncompleteRead(b"", self.answer.length)

    def close(self) -> None:
        """Before the body's end: the connection cannot serve another request."""
        if not self._done:
            self._done = True
            self.answer.close()
            self._conn.close()

    def release_conn(self) -> None:
        self.close()


class Decoding:
    """urllib3's response as requests reads it (its `raw`), on requests' way (a proxy), with the
    body decoded by `decoded` instead of urllib3's decoders: urllib3 2.8, read a chunk at a time,
    loses or inflates without end a gzip body whose member ends where a chunk does (its decoder
    keeps feeding the finished member, whose unused data doubles at each call)."""

    def __init__(self, raw: Any):
        self._raw = raw
        self._original_response = getattr(raw, "_original_response", None)  # the cookies

    @classmethod
    def of(cls, raw: Any) -> Any:
        """`raw`, wrapped if its body is in a coding decoded here."""
        decodable = raw is not None and _coding(raw.headers.get("Content-Encoding")) in _DECODERS
        return cls(raw) if decodable else raw

    def stream(self, amount: int, decode_content: bool = True) -> Iterator[bytes]:
        try:
            yield from decoded(
                self._raw.stream(amount, decode_content=False), self._raw.headers["Content-Encoding"], amount
            )
        except zlib.error as error:  # urllib3's own errors requests maps as they pass
            raise requests.exceptions.ContentDecodingError(f"{type(error).__name__}: {error}") from None

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self._raw.read(*args, **kwargs)  # requests drains a redirect's body with it

    def close(self) -> None:
        self._raw.close()

    def release_conn(self) -> None:
        self._raw.release_conn()


def decoded(reads: Iterable[bytes], coding: str | None, amount: int) -> Iterator[bytes]:
    """The body that `reads` hands over, decoded for its Content-Encoding `coding` as it comes, at
    most `amount` bytes out per step, so that a bound on the decoded size holds before a bomb is
    inflated."""
    decoder = _decoder(_coding(coding))
    for data in reads:
        if decoder is None:
            yield data
            continue
        while True:  # until no input or output is pending
            piece = decoder.decompress(data, amount)
            rest = decoder.unconsumed_tail
            if piece:
                yield piece
            if not rest and len(piece) < amount:
                break
            if not piece and rest == data:
                raise zlib.error("the decoder stopped making progress")
            data = rest
    if decoder is not None and (tail := decoder.flush()):
        yield tail


def _coding(header: str | None) -> str:
    """A Content-Encoding header as `_DECODERS` names it."""
    return (header or "identity").strip().lower()


def _decoder(coding: str):
    """The decoder of a Content-Encoding; None for one not asked for (brotli, say): the body is
    passed on as it came, as urllib3 does, and the caller finds it is not JSON."""
    make = _DECODERS.get(coding)
    return make() if make is not None else None


class _Gzip:
    """A gzip body of one member or more, as urllib3 reads it: what follows a whole member is
    another member or, if it is not one, left out with all after it."""

    def __init__(self):
        self._inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._members = 1  # 0: past something that was not a member

    @property
    def unconsumed_tail(self) -> bytes:
        if not self._members:
            return b""
        if self._inner.eof:
            return self._inner.unused_data  # the start of the next member
        return self._inner.unconsumed_tail

    def decompress(self, data: bytes, limit: int) -> bytes:
        if not self._members:
            return b""
        if self._inner.eof:
            self._inner = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._members += 1
        try:
            return self._inner.decompress(data, limit)
        except zlib.error:
            if self._members == 1:
                raise
            self._members = 0
            return b""

    def flush(self) -> bytes:
        return self._inner.flush() if self._members else b""


class _Deflate:
    """A deflate body, zlib-wrapped as RFC 9110 says, or raw as some servers send it (as urllib3)."""

    def __init__(self):
        self._inner = zlib.decompressobj()
        self._first = True

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    def decompress(self, data: bytes, limit: int) -> bytes:
        if not self._first:
            return self._inner.decompress(data, limit)
        self._first = False
        try:
            return self._inner.decompress(data, limit)
        except zlib.error:
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            return self._inner.decompress(data, limit)

    def flush(self) -> bytes:
        return self._inner.flush()


# The codings decoded here (`ENCODINGS` offers them), and their decoders.
_DECODERS: dict[str, type[_Gzip] | type[_Deflate]] = {"gzip": _Gzip, "x-gzip": _Gzip, "deflate": _Deflate}
