"""PyAirbyte runs the installed connector and gets every customer and activity of the sandbox.

Opt-in: PyAirbyte (the `airbyte` package) weighs about 780 MB, so it lives in a venv of its own.
`make pyairbyte` creates .venv-pyairbyte with it and the connector, and runs this module there.
"""

import importlib.util
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from testing.configs import UNPACED
from testing.streams import PRIMARY_KEYS

from .harness import config, expected_records

pytestmark = pytest.mark.skipif(
    os.environ.get("RUN_PYAIRBYTE") != "1" or importlib.util.find_spec("airbyte") is None,
    reason="opt-in, needs PyAirbyte (`airbyte`) installed: run `make pyairbyte`",
)

STREAMS = ("customers", "activities")


@pytest.fixture(scope="module")
def airbyte_module(sandbox, tmp_path_factory):
    """PyAirbyte, offline, with its files in a temporary folder and the connector pointed at the sandbox."""
    with pytest.MonkeyPatch.context() as patch:
        # PyAirbyte reads these when it is first imported.
        patch.setenv("AIRBYTE_OFFLINE_MODE", "1")
        patch.setenv("AIRBYTE_PROJECT_DIR", str(tmp_path_factory.mktemp("pyairbyte")))
        # `local_executable` is looked up on PATH: the console script beside this interpreter.
        patch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        patch.setenv("CHARTMOGUL_BASE_URL", sandbox.url)
        patch.setenv("CHARTMOGUL_REQUESTS_PER_SECOND", UNPACED)
        import airbyte
        import airbyte.constants

        assert airbyte.constants.AIRBYTE_OFFLINE_MODE, "airbyte was imported before AIRBYTE_OFFLINE_MODE was set"
        yield airbyte


@pytest.fixture(scope="module")
def source(airbyte_module, sandbox):
    source = airbyte_module.get_source("source-chartmogul", local_executable="source-chartmogul", config=config())
    source.select_streams(list(STREAMS))
    return source


@pytest.fixture
def cache(airbyte_module, tmp_path):
    """A DuckDB cache of the test's own: PyAirbyte keeps the streams' state in its cache."""
    return airbyte_module.new_local_cache(cache_dir=tmp_path)


def expected(dataset, stream: str) -> list:
    # PyAirbyte reads a stream incrementally where it can: activities up to now, not the scheduled ones.
    until = datetime.now(timezone.utc) if stream == "activities" else None
    return expected_records(dataset, stream, config(), until=until)


def keys_in_cache(result, stream: str) -> list:
    (key,) = PRIMARY_KEYS[stream]
    return sorted(result[stream].to_pandas()[key].tolist())


def test_check_succeeds(source):
    source.check()  # raises if the connection status is FAILED


def test_read_caches_every_customer_and_activity(source, cache, dataset):
    result = source.read(cache=cache)
    for stream in STREAMS:
        want = expected(dataset, stream)
        (key,) = PRIMARY_KEYS[stream]
        assert len(result[stream]) == len(want), stream
        assert keys_in_cache(result, stream) == sorted(record[key] for record in want), stream
    assert result.processed_records == sum(len(expected(dataset, stream)) for stream in STREAMS)


def test_a_second_read_needs_force_full_refresh(source, cache, dataset):
    source.read(cache=cache)
    # PyAirbyte hands back the state of the last read: customers, a resumable full refresh
    # marked complete, reads nothing; activities resumes from its cursor (minus the lookback).
    again = source.read(cache=cache)
    assert again.processed_records < len(expected(dataset, "activities"))
    result = source.read(cache=cache, force_full_refresh=True)
    # PyAirbyte (0.71) reads every stream as a full refresh then, and a full refresh of
    # activities has the scheduled (future-dated) ones too.
    full = {stream: expected_records(dataset, stream, config()) for stream in STREAMS}
    assert len(full["activities"]) > len(expected(dataset, "activities"))  # the sandbox schedules some
    assert result.processed_records == sum(len(records) for records in full.values())
    for stream in STREAMS:
        assert len(result[stream]) == len(full[stream]), stream
