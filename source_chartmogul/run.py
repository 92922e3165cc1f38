"""The command-line entry point (`source-chartmogul` and main.py).

The CDK's entrypoint, with two changes:

* our config checks replace the CDK's jsonschema ones (`validate_connection`);
* `read` writes records from their batches (`record_lines`) instead of building, counting and
  serializing one `AirbyteMessage` each, which cost more than reading them from the API. Every
  other message, and every other command, goes the CDK's way.
"""

import ctypes
import logging
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER, is_platform_debug_log_enabled
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.sources.connector_state_manager import HashableStreamDescriptor
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.constants import ENV_REQUEST_CACHE_PATH
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import parse_config
from .source import SourceChartmogul
from .sync import Records, error_trace


def record_lines(records: Records) -> Iterator[str]:
    """The batch's RECORD messages as the CDK writes them (same keys, same order, no spaces).

    One difference: a field that is null arrives null; the CDK's serializer leaves it out.
    """
    head = b'{"type":"RECORD","record":{"stream":' + orjson.dumps(records.stream) + b',"data":'
    tail = b',"emitted_at":%d}}' % records.emitted_at
    for data in records.data:
        yield (head + orjson.dumps(data) + tail).decode()


class Entrypoint(AirbyteEntrypoint):
    source: SourceChartmogul

    @staticmethod
    def validate_connection(source_spec: Any, config: Mapping[str, Any]) -> None:
        """Our checks instead of the CDK's jsonschema ones, whose messages name a regex, not a fix.

        The CDK runs this before check, discover and read, whatever the source says.
        """
        parse_config(split_config(config)[0])

    def run(self, parsed_args) -> Iterator[str]:
        if parsed_args.command != "read":
            yield from super().run(parsed_args)
            return
        # What AirbyteEntrypoint.run does for `read`, but for how records are written.
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
                catalog = self.source.read_catalog(parsed_args.catalog)
                state = self.source.read_state(parsed_args.state)
                self.set_up_secret_filter(config, spec.connectionSpecification)
                yield from self._read(config, catalog, state)
        finally:
            yield from self._queued()

    def _read(self, config, catalog, state) -> Iterator[str]:
        # As AirbyteEntrypoint.read: each state message carries the records sent since the last one.
        counts: defaultdict = defaultdict(float)
        for item in self.source.read_batches(self.logger, config, catalog, state):
            if isinstance(item, Records):
                counts[HashableStreamDescriptor(name=item.stream)] += len(item.data)
                yield from record_lines(item)
            else:
                yield self.airbyte_message_to_string(self.handle_record_counts(item, counts))
            self._memory_monitor.check_memory_usage()

    def _queued(self) -> Iterator[str]:
        return map(self.airbyte_message_to_string, self._emit_queued_messages(self.source))


def launch(args: list[str]) -> None:
    """airbyte_cdk.entrypoint.launch, with our entrypoint."""
    entrypoint = Entrypoint(SourceChartmogul())
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        write = sys.stdout.write  # one call a message (print makes two: the text, then its end)
        for message in entrypoint.run(parsed_args):
            write(f"{message}\n")


# mallopt's parameter for the number of malloc arenas (glibc's malloc.h).
M_ARENA_MAX = -8


def fewer_malloc_arenas() -> None:
    """Two malloc arenas for the whole process instead of glibc's up to eight per core.

    Each thread that allocates while another does gets an arena of its own, and memory freed in
    one stays there: with a dozen reader threads the peak memory grew with the data (measured:
    156-181 MB for 300,000 activities, 131-138 MB with two arenas; 115-125 MB for 50,000). Left
    alone when MALLOC_ARENA_MAX is set, and where there is no glibc.
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
    another stream failed the sync, and unloading the CDK's thousand modules (a quarter of a
    second). An unexpected exception still takes Python's usual way out, traceback and all.
    """
    fewer_malloc_arenas()  # before any thread starts
    code: str | int | None = 0
    try:
        run()
    except SystemExit as done:
        code = done.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)  # a message: what Python would print on its way out
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run(args: list[str] | None = None) -> None:
    try:
        launch(sys.argv[1:] if args is None else args)
    except AirbyteTracedException as error:
        # An error we explained (a bad config, a rejected key, a failed stream): its message
        # says what to do. The CDK's hook would also log it with a Python traceback.
        message = orjson.dumps(AirbyteMessageSerializer.dump(error_trace(error))).decode()
        print(filter_secrets(message), flush=True)
        sys.exit(1)
