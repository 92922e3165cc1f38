"""The command-line entry point (`source-chartmogul` and main.py).

The CDK's entrypoint, with these changes:

* our config checks replace the CDK's jsonschema ones (`validate_connection`), and a --config
  file that cannot be read fails `check` with a FAILED status, as any other config mistake;
* `read` writes records a batch at a time (`record_lines`) instead of building, counting,
  serializing and writing one `AirbyteMessage` each, which cost more than reading them from the API;
* everything printed goes through `Output`, which never leaves half a line: on SIGTERM (how
  the platform cancels a sync) or SIGINT the process finishes the line it is writing and
  leaves within seconds; when stdout is closed (`| head -1`) it leaves quietly.

Every other message, and every other command, goes the CDK's way.
"""

import ctypes
import gc
import io
import logging
import os
import select
import signal
import stat
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any, TextIO

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER, is_platform_debug_log_enabled
from airbyte_cdk.models import AirbyteMessageSerializer, FailureType
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.constants import ENV_REQUEST_CACHE_PATH
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import cdk
from .config import parse_config
from .source import SourceChartmogul
from .sync import Records, error_trace

# How long a stop may take at most: the line being written is finished within it unless the
# reader stops reading altogether, and then the process leaves anyway.
STOP_GRACE_SECONDS = 3.0
# Exit codes as a shell gives them for a command a signal ended: 128 + the signal's number
# (SIGPIPE is 13; Windows has no such signal).
STDOUT_CLOSED = 128 + 13
# What a pipe takes whole (POSIX: at least 512; Linux: 4096). Windows has no such constant.
PIPE_BUF = getattr(select, "PIPE_BUF", 512)
RECORD_PREFIX = '{"type":"RECORD"'
STDOUT_FD = 1


class Stopped(BaseException):
    """Leave now, quietly, with `code`: a stop signal came, or nobody reads stdout any more.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` on its way takes
    it for a failure of the read.
    """

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Output:
    """Whatever the process prints on stdout (messages, records, logs, print()), whole lines only.

    It takes the place of the CDK's PRINT_BUFFER. Lines are buffered and written 64 KiB or
    0.1 s at a time, and at once for anything but a record (a state, a log, an error), so
    that those reach the reader when they happen.

    Each write is whole lines that the write end takes all or nothing: on a pipe, as many as
    fit in its free space (`room`), and at least PIPE_BUF bytes of them, which the kernel
    takes whole even when the pipe is full (or one longer line). Whatever the reader does, the
    pipe holds whole lines only, but for a line longer than PIPE_BUF cut by a reader that
    stopped reading. After a stop (`interrupt`), no new line starts; a line that went out in
    part is finished first.
    """

    FLUSH_CHARS = 64 * 1024
    FLUSH_SECONDS = 0.1

    def __init__(
        self,
        write: Callable[[memoryview], int],
        room: Callable[[], int] = lambda: PIPE_BUF,
        grace: float | None = None,
        leave: Callable[[int], Any] | None = None,
    ):
        self._write = write
        self._room = room
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._size = 0
        self._flushed_at = time.monotonic()
        self._writer: int | None = None  # the thread in _send
        self.stop_code: int | None = None
        self._stopped = threading.Event()
        if grace is not None:
            # Started now, not by the signal handler: a thread started there could wait forever
            # on a lock the interrupted main thread holds (threading's own, while it starts one).
            threading.Thread(target=self._leave_after, args=(grace, leave), name="stop-bound", daemon=True).start()

    @classmethod
    def to_stream(cls, stream: TextIO) -> "Output":
        """An Output on a text stream (sys.stdout under pytest's capsys): no bound, no grace."""

        def write(data: memoryview) -> int:
            stream.write(str(data, "utf-8"))
            stream.flush()
            return len(data)

        return cls(write, room=lambda: sys.maxsize)

    def write(self, text: str) -> int:
        with self._lock:
            if self.stop_code is None:
                self._parts.append(text)
                self._size += len(text)
                if (
                    self._size >= self.FLUSH_CHARS
                    or not text.startswith(RECORD_PREFIX)
                    or time.monotonic() - self._flushed_at >= self.FLUSH_SECONDS
                ):
                    self._flush()
            if self.stop_code is not None and threading.current_thread() is threading.main_thread():
                raise Stopped(self.stop_code)
        return len(text)  # other threads' lines are dropped once stopped: the main thread leaves

    def flush(self) -> None:
        with self._lock:
            if self.stop_code is None:
                self._flush()

    def close(self) -> None:
        """Writes the rest, an unfinished last line too; nothing once stopped."""
        with self._lock:
            if self.stop_code is None:
                self._flush(final=True)

    def fileno(self) -> int:
        raise io.UnsupportedOperation("the connector's stdout has no file descriptor of its own")

    def isatty(self) -> bool:
        return False

    def interrupt(self, signum: int, frame: Any = None) -> None:
        """The SIGTERM and SIGINT handler (Python runs it in the main thread)."""
        first = self.stop_code is None
        self._stop(128 + signum)
        # In the middle of a write, _send finishes the line and write() raises; anywhere else
        # the main thread leaves from where it is, which ends the read (its threads stop).
        if first and self._writer != threading.get_ident():
            raise Stopped(128 + signum)

    def _stop(self, code: int) -> None:
        if self.stop_code is None:
            self.stop_code = code
            self._stopped.set()

    def _leave_after(self, grace: float, leave: Callable[[int], Any] | None) -> None:
        """The bound of a stop, whatever the reader does: a write it never takes blocks forever."""
        self._stopped.wait()
        time.sleep(grace)
        (leave or os._exit)(self.stop_code or 1)

    def _flush(self, final: bool = False) -> None:
        text = "".join(self._parts)
        end = len(text) if final else text.rfind("\n") + 1
        self._parts = [text[end:]] if end < len(text) else []
        self._size = len(text) - end
        self._flushed_at = time.monotonic()
        if end:
            self._send(text[:end].encode())

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        sent = 0
        self._writer = threading.get_ident()
        try:
            while sent < len(data):
                if data[sent - 1 : sent] in (b"", b"\n"):  # at the start of a line
                    if self.stop_code is not None:
                        return  # stopped: nothing new starts
                    end = self._whole_lines(data, sent)
                else:  # a write went through in part: the rest of its line, and no more
                    end = _line_end(data, sent)
                sent += self._write(view[sent:end])
        except BrokenPipeError:
            self._stop(STDOUT_CLOSED)  # the reader is gone: nothing more can be said to it
        finally:
            self._writer = None

    def _whole_lines(self, data: bytes, start: int) -> int:
        """Where the next write ends: the whole lines that the write end takes whole now, or the one line."""
        most = max(self._room(), PIPE_BUF)
        if len(data) - start <= most:
            return len(data)
        last = data.rfind(b"\n", start, start + most)
        return last + 1 if last >= 0 else _line_end(data, start)

    @contextmanager
    def installed(self) -> Iterator["Output"]:
        """sys.stdout and the CDK's log handler write here for the time of the block."""
        handlers = [
            handler
            for handler in logging.getLogger().handlers
            if isinstance(handler, logging.StreamHandler) and handler.stream is PRINT_BUFFER
        ]
        stdout = sys.stdout
        sys.stdout = self
        for handler in handlers:
            handler.setStream(self)
        try:
            yield self
        finally:
            sys.stdout = stdout
            for handler in handlers:
                handler.setStream(PRINT_BUFFER)


def room_of(fd: int) -> Callable[[], int]:
    """How many bytes a write to `fd` takes whole at once: on a pipe (Linux), its free space
    less two pages; anything for a file or a terminal; PIPE_BUF where that cannot be known.

    Linux keeps a pipe's bytes in pages: every page is full but the one the reader is in and the
    one written last, so the pages free hold at least capacity - unread - 2 pages (and a write
    fills pages as it goes). Only this process writes, and the reader only empties the pipe, so
    the room can only grow until the write. Writing as much as fits, rather than PIPE_BUF at a
    time, makes an eighth of the writes (6,454 against 54,373 for a read of 310,000 records,
    counted with strace), and each write lets every other thread take the interpreter: to a
    file, where the same change applies, alternating runs took 8.98 against 9.95 s (medians of
    4); through a pipe to `cat` the difference was within the noise of a busy machine.
    """
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return lambda: sys.maxsize
        import fcntl  # POSIX only: here, not at the top, so that the module imports anywhere
        import termios

        capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) - 2 * os.sysconf("SC_PAGE_SIZE")

        def room() -> int:
            unread = int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), sys.byteorder, signed=True)
            return capacity - unread

        room()
        return room
    except (OSError, AttributeError, ValueError, ImportError):  # not Linux: no F_GETPIPE_SZ, no FIONREAD on a pipe
        return lambda: PIPE_BUF


def _line_end(data: bytes, start: int) -> int:
    newline = data.find(b"\n", start)
    return len(data) if newline < 0 else newline + 1


def record_lines(records: Records) -> str:
    """The batch's RECORD messages as the CDK writes them (same keys, same order, no spaces), one a
    line, with no newline after the last: written in one piece.

    One difference: a field that is null arrives null; the CDK's serializer leaves it out.
    """
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(records.stream) + b',"data":'
    tail = b',"emitted_at":%d}}' % records.emitted_at
    return b"\n".join([head + orjson.dumps(data) + tail for data in records.data]).decode()


class Entrypoint(AirbyteEntrypoint):
    source: SourceChartmogul

    @staticmethod
    def validate_connection(source_spec: Any, config: Mapping[str, Any]) -> None:
        """Our checks instead of the CDK's jsonschema ones, whose messages name a regex, not a fix.

        The CDK runs this before check, discover and read, whatever the source says.
        """
        parse_config(split_config(config)[0])

    def run(self, parsed_args) -> Generator[str, None, None]:
        """The CDK's interface (its test wrapper reads through it): one message a string."""
        for text in self.run_text(parsed_args):
            yield from text.split("\n")  # a message never holds a raw newline: JSON escapes it

    def run_text(self, parsed_args) -> Generator[str, None, None]:
        """What the command prints: each string one message or more, a line each, with no newline
        after the last; the records of a batch come as one string."""
        if parsed_args.command == "check":
            yield from self._check(parsed_args)
            return
        if parsed_args.command != "read":
            yield from super().run(parsed_args)
            return
        # What AirbyteEntrypoint.run does for `read`, but for how records are written (a copy:
        # cdk.problems() says when the CDK's changes).
        if getattr(parsed_args, "debug", False) or is_platform_debug_log_enabled():
            self.logger.setLevel(logging.DEBUG)
            logging.getLogger("airbyte").setLevel(logging.DEBUG)  # the CDK's own logger: request logs
            self.logger.debug("Debug logs enabled")
        else:
            self.logger.setLevel(logging.INFO)
        spec = self.source.spec(self.logger)
        try:
            with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as temp_dir:
                os.environ[ENV_REQUEST_CACHE_PATH] = temp_dir
                config = self.source.configure(self.source.read_config(parsed_args.config), temp_dir)
                yield from self._queued()
                # The config's mistakes before the catalog's and the state's, and its key known
                # to the secret filter before any message that might quote a file.
                self.source.settings(config)
                self.set_up_secret_filter(config, spec.connectionSpecification)
                catalog = self.source.read_catalog(parsed_args.catalog)
                state = self.source.read_state(parsed_args.state)
                yield from self._read(config, catalog, state)
        finally:
            yield from self._queued()

    def _check(self, parsed_args) -> Iterator[str]:
        try:
            yield from super().run(parsed_args)
        except AirbyteTracedException as error:
            # Only reading the --config file raises a config error this far: answer it as the
            # CDK answers every other config mistake in `check`, with a FAILED status.
            if error.failure_type != FailureType.config_error:
                raise
            yield self.airbyte_message_to_string(error.as_connection_status_message())  # type: ignore[arg-type]

    def _read(self, config, catalog, state) -> Iterator[str]:
        # As AirbyteEntrypoint.read: each state message carries the records sent since the last one.
        counts: defaultdict = defaultdict(float)
        for item in self.source.read_batches(self.logger, config, catalog, state):
            if isinstance(item, Records):
                if item.data:
                    counts[HashableStreamDescriptor(name=item.stream)] += len(item.data)
                    yield record_lines(item)
            else:
                yield self.airbyte_message_to_string(self.handle_record_counts(item, counts))
            cdk.check_memory(self)

    def _queued(self) -> Iterator[str]:
        return map(self.airbyte_message_to_string, cdk.queued_messages(self))


def launch(args: list[str], output: Output) -> None:
    """airbyte_cdk.entrypoint.launch, with our entrypoint and output."""
    entrypoint = Entrypoint(SourceChartmogul())
    parsed_args = entrypoint.parse_args(args)
    if not parsed_args.command:
        print("Give a command: spec, check, discover or read (--help says more).", file=sys.stderr)
        raise SystemExit(2)
    messages = entrypoint.run_text(parsed_args)
    try:
        for message in messages:
            output.write(f"{message}\n")
    finally:
        try:
            messages.close()  # on a stop: its `with` blocks end (the temporary directory goes)
        except RuntimeError:
            pass  # it had queued messages to print on its way out, and no one is left to take them


# mallopt's parameter for the number of malloc arenas (glibc's malloc.h).
M_ARENA_MAX = -8


def fewer_malloc_arenas() -> None:
    """Two malloc arenas for the whole process instead of glibc's up to eight per core.

    Each thread that allocates while another does gets an arena of its own, and memory freed in
    one stays there: with a dozen reader threads that raised the peak (figures in
    docs/architecture.md, `make measure`). Left alone when MALLOC_ARENA_MAX is set, and where
    there is no glibc.
    """
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):
        pass


def main() -> None:
    """main.py and the `source-chartmogul` command: `run`, then leave at once.

    All output is flushed first. Leaving through os._exit skips what Python does at exit that
    only costs time here: joining stream threads that may still sleep before a retry when
    another stream failed the sync, and unloading the CDK's thousand modules (docs/architecture.md
    has the figure). A stop signal or a closed stdout leaves without a traceback, ended by that
    signal (`leave`).
    """
    fewer_malloc_arenas()  # before any thread starts
    # What is alive now (the CDK's thousand modules) lives as long as the process: out of the
    # collector's sight, a full collection in the middle of a read no longer pauses every thread
    # to walk it (about 0.2 s at a time, docs/benchmark.md).
    gc.freeze()
    output = Output(partial(os.write, STDOUT_FD), room_of(STDOUT_FD), grace=STOP_GRACE_SECONDS, leave=leave)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, output.interrupt)
    code: str | int | None = 0
    try:
        run(output=output)
    except SystemExit as done:
        code = done.code
    except Stopped as stopped:
        code = stopped.code
    if output.stop_code is not None:
        code = output.stop_code
    elif code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # a message: what Python would print on its way out
        code = 1
    sys.stderr.flush()
    leave(code)


def leave(code: int) -> None:
    """Ends the process at once with `code`; a stop (128 + a signal's number: 143 for SIGTERM, 130
    for SIGINT, 141 for a closed stdout) ends by that signal, as a program that does not catch it.

    A shell shows the same status either way; a parent process sees the signal (Python's
    subprocess: -15), not an exit status of 143. PyAirbyte stops a connector with SIGTERM once it
    has what it asked for (after `spec`, say), and takes any end but 0 or death by SIGTERM for a
    failure. From another thread than the main one (the stop's bound, when the reader stopped
    reading) the signal's handler cannot be reset: the status is the code.
    """
    signum = code - 128
    if signum in _STOP_SIGNALS and threading.current_thread() is threading.main_thread():
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    os._exit(code)


# The signals a stop ends by; Windows has no SIGPIPE, and no default action to end by.
_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGPIPE} if os.name == "posix" else set()


def run(args: list[str] | None = None, output: Output | None = None) -> None:
    """The command, its messages written to `output` (by default one on sys.stdout)."""
    output = output or Output.to_stream(sys.stdout)
    with output.installed():
        try:
            launch(sys.argv[1:] if args is None else args, output)
        except AirbyteTracedException as error:
            # An error we explained (a bad config, a rejected key, a failed stream): its message
            # says what to do. The CDK's hook would also log it with a Python traceback.
            _write_error(output, error)
            sys.exit(1)
        except Exception as error:
            # A bug: reported as the CDK's hook would, a FATAL log with the traceback and an
            # error trace, but through `output`, which main flushes before leaving.
            logging.getLogger("airbyte").fatal(error, exc_info=error)
            _write_error(output, AirbyteTracedException.from_exception(error))
            sys.exit(1)
        finally:
            output.close()


def _write_error(output: Output, error: AirbyteTracedException) -> None:
    message = orjson.dumps(AirbyteMessageSerializer.dump(error_trace(error))).decode()
    output.write(filter_secrets(message) + "\n")
