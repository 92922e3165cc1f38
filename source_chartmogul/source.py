"""SourceChartmogul: wires the config into the streams, the connection check and the read."""

import base64
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    ConfiguredAirbyteCatalogSerializer,
    DestinationSyncMode,
    Status,
    SyncMode,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import sync, transport
from .base import ChartmogulStream
from .config import Settings, config_error, parse_config
from .errors import ChartmogulErrorHandler, SegmentErrorHandler
from .streams import ALL_STREAMS

# A check should answer in seconds, not retry for minutes like a sync.
CHECK_RETRIES = transport.RetryPolicy(max_attempts=3, max_total=20.0)


class SourceChartmogul(AbstractSource):
    # parse_config checks every field with messages that say what to do; the CDK's check
    # against the spec would answer first, with a jsonschema message naming a regex.
    check_config_against_spec = False

    def settings(self, config: Mapping[str, Any]) -> Settings:
        settings = parse_config(config)
        # The key travels base64-encoded in the Authorization header, which the CDK logs
        # with --debug: mask that form too, not only the key itself.
        update_secrets([settings.api_key, *_basic_auth_forms(settings.api_key)])
        return settings

    # The files named on the command line. The CDK's readers answer a missing file, a file that
    # is not JSON or JSON of the wrong shape with a Python traceback; these name the option, the
    # file, what is wrong and what to do, as a config_error. No message quotes a file's content:
    # a config holds the API key, and these errors come before the secret filter knows it.

    @staticmethod
    def read_config(config_path: str) -> dict[str, Any]:
        config = read_json_file(config_path, "--config")
        if not isinstance(config, dict):
            raise config_error(
                f"The --config file '{config_path}' holds {json_type(config)}, not a JSON object. {CONFIG_HELP}"
            )
        return config

    @classmethod
    def read_catalog(cls, catalog_path: str) -> ConfiguredAirbyteCatalog:
        raw = read_json_file(catalog_path, "--catalog")
        problem = catalog_problem(raw)
        if problem is None:
            try:
                return ConfiguredAirbyteCatalogSerializer.load(raw)
            except Exception as error:  # the serializer's own words name the missing field's path
                problem = f"is not a configured catalog ({str(error).strip()})"
        raise config_error(f"The --catalog file '{catalog_path}' {problem}. {CATALOG_HELP}")

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        """The per-stream state messages; the legacy forms too, which the CDK 7 no longer reads.

        Legacy: one object keyed by stream name, or messages of type LEGACY carrying it in `data`.
        Whether the streams are this connector's is `sync.check_inputs`' concern.
        """
        raw = read_json_file(state_path, "--state") if state_path else None
        if not raw:
            return []  # [], {} or null: no state, a sync from the start
        if isinstance(raw, dict):
            raw = [{"type": "LEGACY", "data": raw}]
        problem = state_problem(raw)
        if problem is None:
            try:
                return [message for item in raw for message in _state_messages(item)]
            except Exception as error:  # a shape state_problem does not know: the serializer's words
                problem = f"is not an Airbyte state ({str(error).strip()})"
        raise config_error(f"The --state file '{state_path}' {problem}. {STATE_HELP}")

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        succeeded, message = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=message)

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, str | None]:
        succeeded, message = self._check_connection(config)
        # The CDK masks secrets in logs and traces but not in the connection status it prints.
        return succeeded, filter_secrets(message) if message else message

    def _check_connection(self, config: Mapping[str, Any]) -> tuple[bool, str | None]:
        try:
            settings = self.settings(config)
        except AirbyteTracedException as error:
            return False, error.message
        session = transport.connect(requests.Session(), settings.api_key, settings.requests_per_second, CHECK_RETRIES)
        # The key first, then each segment once: a plan, country or filter that ChartMogul rejects
        # fails the check, not the first sync. A segment costs one request for one day's count.
        today = datetime.now(timezone.utc).date().isoformat()
        metrics = {"start-date": today, "end-date": today, "interval": "day"}
        segment_errors = SegmentErrorHandler(settings.segments)
        asks: list[tuple[str, dict[str, str], ChartmogulErrorHandler]] = [
            (f"{settings.base_url}/v1/ping", {}, ChartmogulErrorHandler())
        ]
        asks += [
            (f"{settings.base_url}/v1/metrics/customer-count", {**metrics, **segment.params()}, segment_errors)
            for segment in settings.segments
        ]
        for url, params, handler in asks:
            outcome: requests.Response | Exception
            try:
                outcome = session.get(url, params=params)
            except requests.RequestException as error:
                outcome = error
            resolution = handler.interpret_response(outcome)
            if resolution.error_message:
                return False, resolution.error_message
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        return list(self.chartmogul_streams(config))

    def chartmogul_streams(self, config: Mapping[str, Any]) -> list[ChartmogulStream]:
        settings = self.settings(config)
        return [stream_class(settings) for stream_class in ALL_STREAMS]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """The CDK's interface (its standard tests, anything that runs the source in-process)."""
        for item in self.read_batches(logger, config, catalog, state):
            if isinstance(item, sync.Records):
                yield from item.messages()
            else:
                yield item

    def read_batches(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage | sync.Records]:
        """The read itself; records in batches, which the command line writes without messages."""
        streams = {stream.name: stream for stream in self.chartmogul_streams(config)}
        return sync.read(logger, streams, catalog, state)


CONFIG_HELP = (
    "Give a JSON object such as "
    '{"api_key": "<read-only key>", "start_date": "2017-01-25T00:00:00Z", "interval": "month"}.'
)
CATALOG_HELP = (
    "Give a configured catalog: `make catalog` writes one from `discover` (see the README), with each "
    "stream's sync_mode and destination_sync_mode."
)
STATE_HELP = (
    "Give the state messages of a previous sync of this connector (a JSON list), `[]`, or leave out "
    "--state to sync from the start."
)
FILE_HELP = {"--config": CONFIG_HELP, "--catalog": CATALOG_HELP, "--state": STATE_HELP}


def read_json_file(path: str, option: str) -> Any:
    """The JSON of a file named on the command line, or a config_error naming the option and file."""
    where = f"The {option} file '{path}'"
    try:
        with open(path, "rb") as file:
            content = file.read()
    except FileNotFoundError:
        raise config_error(f"{where} does not exist. Check the path. {FILE_HELP[option]}") from None
    except IsADirectoryError:
        raise config_error(f"{where} is a directory. Give the path of a JSON file. {FILE_HELP[option]}") from None
    except OSError as error:
        raise config_error(f"{where} cannot be read ({error.strerror}). {FILE_HELP[option]}") from None
    if not content.strip():
        raise config_error(f"{where} is empty. {FILE_HELP[option]}")
    try:
        return json.loads(content)
    except UnicodeDecodeError:
        raise config_error(f"{where} is not UTF-8 text. {FILE_HELP[option]}") from None
    except json.JSONDecodeError as error:  # its message gives a place, never the content
        raise config_error(
            f"{where} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}). {FILE_HELP[option]}"
        ) from None


def json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return "a number"


def catalog_problem(raw: Any) -> str | None:
    """What makes `raw` not a configured catalog, in words, for the fields people get wrong."""
    if not isinstance(raw, dict):
        return f"holds {json_type(raw)}, not a JSON object"
    if raw.get("type") == "CATALOG":
        return "holds the CATALOG message that `discover` prints, not a configured catalog"
    if not isinstance(raw.get("streams"), list):
        return "has no 'streams' list"
    for number, entry in enumerate(raw["streams"], start=1):
        stream = entry.get("stream") if isinstance(entry, dict) else None
        if not isinstance(stream, dict) or not isinstance(stream.get("name"), str):
            if isinstance(entry, dict) and "json_schema" in entry:
                return f"lists, as stream {number}, a stream of `discover`'s catalog, not a configured stream"
            return f"has a stream {number} without a 'stream' object with a 'name'"
        for field, modes in (("sync_mode", SyncMode), ("destination_sync_mode", DestinationSyncMode)):
            allowed = [mode.value for mode in modes]
            if entry.get(field) not in allowed:
                given = f"the {field} {entry[field]!r}" if field in entry else f"no {field}"
                return f"gives the stream '{stream['name']}' {given}; it must be one of {', '.join(allowed)}"
    return None


def state_problem(raw: Any) -> str | None:
    """What makes `raw` (a list) not a state, in words; never quoting a value, which may be a key."""
    if not isinstance(raw, list):
        return f"holds {json_type(raw)}"
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            return f"has {json_type(item)} as entry {number}, not a state message"
        if _is_legacy(item):
            data = item.get("data")
            if not isinstance(data, dict):
                return f"has a legacy state (entry {number}) without a 'data' object"
            states = list(data.items())
        elif item.get("type") == "STREAM":
            stream = item.get("stream")
            descriptor = stream.get("stream_descriptor") if isinstance(stream, dict) else None
            name = descriptor.get("name") if isinstance(descriptor, dict) else None
            if not isinstance(name, str):
                return f"has a STREAM state (entry {number}) without stream.stream_descriptor.name"
            states = [(name, stream.get("stream_state") or {})]  # type: ignore[union-attr]  # a dict: name is set
        else:
            continue  # GLOBAL and the rest: the serializer's, then sync.check_inputs'
        for name, value in states:
            if not isinstance(value, dict):
                return f"gives the stream '{name}' {json_type(value)} as its state; a stream's state is an object"
    return None


def _is_legacy(item: Mapping[str, Any]) -> bool:
    return item.get("type") == "LEGACY" or ("data" in item and "stream" not in item)


def _state_messages(item: Mapping[str, Any]) -> list[AirbyteStateMessage]:
    if _is_legacy(item):
        return [_stream_state(name, value) for name, value in item["data"].items()]
    return [AirbyteStateMessageSerializer.load(item)]


def _stream_state(name: str, value: Any) -> AirbyteStateMessage:
    return AirbyteStateMessageSerializer.load(
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": value}}
    )


def _basic_auth_forms(api_key: str) -> list[str]:
    # ChartMogul takes the key as user name with an empty password or the key again (§1).
    return [base64.b64encode(f"{api_key}:{password}".encode()).decode() for password in ("", api_key)]
