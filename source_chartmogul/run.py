"""The command-line entry point (`source-chartmogul` and main.py)."""

import sys
from typing import Any, Mapping

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.sources.utils.schema_helpers import split_config
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .config import parse_config
from .source import SourceChartmogul
from .sync import error_trace


class Entrypoint(AirbyteEntrypoint):
    @staticmethod
    def validate_connection(source_spec: Any, config: Mapping[str, Any]) -> None:
        """Our checks instead of the CDK's jsonschema ones, whose messages name a regex, not a fix.

        The CDK runs this before check, discover and read, whatever the source says.
        """
        parse_config(split_config(config)[0])


def launch(args: list[str]) -> None:
    """airbyte_cdk.entrypoint.launch, with our entrypoint."""
    entrypoint = Entrypoint(SourceChartmogul())
    parsed_args = entrypoint.parse_args(args)
    with PRINT_BUFFER:
        for message in entrypoint.run(parsed_args):
            print(f"{message}\n", end="")


def run(args: list[str] | None = None) -> None:
    try:
        launch(sys.argv[1:] if args is None else args)
    except AirbyteTracedException as error:
        # An error we explained (a bad config, a rejected key, a failed stream): its message
        # says what to do. The CDK's hook would also log it with a Python traceback.
        message = orjson.dumps(AirbyteMessageSerializer.dump(error_trace(error))).decode()
        print(filter_secrets(message), flush=True)
        sys.exit(1)
