"""The command-line entry point (`source-chartmogul` and main.py)."""

import sys

import orjson
from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import AirbyteMessageSerializer
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from .source import SourceChartmogul
from .sync import error_trace


def run(args: list[str] | None = None) -> None:
    try:
        launch(SourceChartmogul(), sys.argv[1:] if args is None else args)
    except AirbyteTracedException as error:
        # An error we explained (a bad config, a rejected key, a failed stream): its message
        # says what to do. The CDK's hook would also log it with a Python traceback.
        message = orjson.dumps(AirbyteMessageSerializer.dump(error_trace(error))).decode()
        print(filter_secrets(message), flush=True)
        sys.exit(1)
