"""SourceChartmogul: wires the config into the streams, the connection check and the read."""

import base64
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import requests
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalog,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets, update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import sync, transport
from .config import Settings, config_error, parse_config
from .errors import resolve
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

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        """The per-stream state messages; the legacy forms too, which the CDK 7 no longer reads.

        Legacy: one object keyed by stream name, or messages of type LEGACY carrying it in `data`.
        """
        raw = cls._read_json_file(state_path) if state_path else None
        if not raw:
            return []
        if isinstance(raw, dict):
            raw = [{"type": "LEGACY", "data": raw}]
        try:
            messages = []
            for item in raw:
                if item.get("type") == "LEGACY" or ("data" in item and "stream" not in item):
                    messages += [_stream_state(name, value) for name, value in item["data"].items()]
                else:
                    messages.append(AirbyteStateMessageSerializer.load(item))
            return messages
        except Exception as error:  # whatever the shape, the fix is the same
            raise config_error(
                f"The state file is not an Airbyte state ({type(error).__name__}: {error}). Give the "
                "state messages of a previous sync, or no state to sync from the start."
            ) from None

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
        outcome: requests.Response | Exception
        try:
            outcome = session.get(f"{settings.base_url}/v1/ping")
        except requests.RequestException as error:
            outcome = error
        resolution = resolve(outcome)
        if resolution.error_message:
            return False, resolution.error_message
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
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
        streams = {stream.name: stream for stream in self.streams(config)}
        return sync.read(logger, streams, catalog, state)


def _stream_state(name: str, value: Any) -> AirbyteStateMessage:
    return AirbyteStateMessageSerializer.load(
        {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": value}}
    )


def _basic_auth_forms(api_key: str) -> list[str]:
    # ChartMogul takes the key as user name with an empty password or the key again (§1).
    return [base64.b64encode(f"{api_key}:{password}".encode()).decode() for password in ("", api_key)]
