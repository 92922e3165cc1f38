"""Each stream read a page at a time (`read_batches`, the connector's read) gives what the
CDK's `Stream.read` gives for the same stream read one record at a time: the same records and
the same states at the same places, against the sandbox's data.

The CDK's side reads a second instance of the stream whose `read_records` hands out the
records of each page one by one, which is what `Stream.read` is written for.
"""

import logging
from datetime import datetime, timezone

import pytest
from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, SyncMode
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from integration_tests.harness import config
from source_chartmogul.activities import Activities
from source_chartmogul.config import parse_config
from source_chartmogul.streams import ALL_STREAMS
from testing.messages import flat
from testing.streams import catalog

LOGGER = logging.getLogger("airbyte")
NOW = datetime.now(timezone.utc).replace(microsecond=0)  # one moment for both reads of activities


def configured(name: str, mode: SyncMode):
    incremental = (name,) if mode == SyncMode.incremental else ()
    return ConfiguredAirbyteCatalogSerializer.load(catalog((name,), incremental)).streams[0]


def new_stream(stream_class, settings):
    stream = stream_class(settings)
    if isinstance(stream, Activities):
        stream._now = NOW
    return stream


def read(stream, mode: SyncMode, state: dict, batches: bool) -> list:
    entry = configured(stream.name, mode)
    stream.state = state
    manager = ConnectorStateManager()
    if batches:
        return list(stream.read_batches(entry, LOGGER, DebugSliceLogger(), state, manager))
    pages = stream.read_records

    def one_by_one(**kwargs):
        for item in pages(**kwargs):
            yield from item if isinstance(item, list) else [item]

    stream.read_records = one_by_one
    return list(Stream.read(stream, entry, LOGGER, DebugSliceLogger(), state, manager, InternalConfig()))


CASES = [(stream_class, SyncMode.full_refresh, {}) for stream_class in ALL_STREAMS] + [
    (Activities, SyncMode.incremental, {}),
    (Activities, SyncMode.incremental, {"date": "2023-06-01T00:00:00+00:00"}),
    (Activities, SyncMode.full_refresh, {"date": "2023-06-01T00:00:00+00:00"}),
]


@pytest.mark.parametrize(
    "stream_class, mode, state", CASES, ids=[f"{c.__name__}-{m.value}-{bool(s)}" for c, m, s in CASES]
)
def test_read_batches_gives_what_stream_read_gives(sandbox, monkeypatch, stream_class, mode, state):
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", sandbox.url)
    monkeypatch.setenv("CHARTMOGUL_REQUESTS_PER_SECOND", "100000")
    settings = parse_config(config())

    batched = read(new_stream(stream_class, settings), mode, dict(state), batches=True)
    expected = flat(read(new_stream(stream_class, settings), mode, dict(state), batches=False))

    assert flat(batched) == expected
    assert any(isinstance(item, dict) and item.get("type") == "STATE" for item in expected)
    assert all(item for item in batched if isinstance(item, list))
