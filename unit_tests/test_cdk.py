"""cdk.py: what the connector takes from the CDK's private members is still there, and the CDK
code the connector copies (run.py, transport.py, base.py) is as it was copied.

When a CDK upgrade moves or changes one of them, the first test fails with a message naming
what (cdk.problems()); the others check that the message does name it.
"""

import logging

import pytest
import requests
from airbyte_cdk import entrypoint as cdk_entrypoint
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.models import (
    AirbyteStream,
    ConfiguredAirbyteStream,
    DestinationSyncMode,
    SyncMode,
)
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.http_client import HttpClient
from airbyte_cdk.sources.utils.schema_helpers import InternalConfig
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from source_chartmogul import cdk
from testing.messages import flat


def test_the_cdk_still_offers_what_cdk_py_relies_on():
    problems = cdk.problems()
    assert not problems, "The CDK moved what source_chartmogul/cdk.py relies on:\n" + "\n".join(problems)


def test_a_fetch_next_page_that_is_gone_is_named(monkeypatch):
    monkeypatch.delattr(HttpStream, "_fetch_next_page")

    assert cdk.problems() == [
        "HttpStream._fetch_next_page is gone: base.py can no longer hand a chain its prefetched page.",
        "HttpStream._fetch_next_page is gone from airbyte_cdk.sources.streams.http.http: re-check "
        "base.ChartmogulStream._request, which asks the stream for the same parts of the request.",
    ]


def test_a_fetch_next_page_with_other_parameters_is_named(monkeypatch):
    def fetch(self, stream_slice=None, next_page_token=None):
        raise AssertionError("not called by the check")

    monkeypatch.setattr(HttpStream, "_fetch_next_page", fetch)

    assert any("now takes ['self', 'stream_slice', 'next_page_token']" in p for p in cdk.problems())


def test_paging_loops_that_no_longer_fetch_through_fetch_next_page_are_named(monkeypatch):
    real = HttpStream._read_pages

    def read_pages(self, records_generator_fn, stream_slice=None, stream_state=None):
        # A CDK that fetched its pages some other way: the hook would never see them.
        self._fetch_next_page = lambda *args: cdk.fetch_now(self, *args)
        return real(self, records_generator_fn, stream_slice, stream_state)

    monkeypatch.setattr(HttpStream, "_read_pages", read_pages)
    monkeypatch.setattr(cdk, "fetch_now", lambda *args: (_ for _ in ()).throw(requests.ConnectionError("no network")))

    problems = cdk.problems()
    assert len(problems) == 1
    assert "every page in one call (_read_pages)" in problems[0]


def test_a_session_that_moved_is_named(monkeypatch):
    real_init = HttpStream.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self._http_client = object()

    monkeypatch.setattr(HttpStream, "__init__", init)

    assert any("HttpStream._http_client._session" in p for p in cdk.problems())


def test_a_memory_monitor_that_moved_is_named(monkeypatch):
    real_init = AirbyteEntrypoint.__init__

    def init(self, source):
        real_init(self, source)
        del self._memory_monitor

    monkeypatch.setattr(AirbyteEntrypoint, "__init__", init)

    assert cdk.problems() == [
        "AirbyteEntrypoint._memory_monitor.check_memory_usage() is gone or wants arguments: "
        "run.Entrypoint can no longer make the CDK's memory check (cdk.check_memory)."
    ]


def test_queued_messages_that_moved_are_named(monkeypatch):
    monkeypatch.delattr(AirbyteEntrypoint, "_emit_queued_messages")

    problems = cdk.problems()
    assert len(problems) == 1
    assert problems[0].startswith("AirbyteEntrypoint._emit_queued_messages(source) no longer hands out")
    assert "AttributeError" in problems[0]


def test_a_changed_entrypoint_run_is_named_with_what_copies_it(monkeypatch):
    def run(self, parsed_args):  # a CDK whose read branch does something else
        yield from ()

    monkeypatch.setattr(AirbyteEntrypoint, "run", run)

    problems = cdk.problems()
    assert len(problems) == 1
    assert problems[0].startswith(
        "AirbyteEntrypoint.run changed: re-check run.Entrypoint.run_text, which copies its read branch."
    )
    assert cdk.fingerprint(run) in problems[0]  # what to record once run.py follows


def test_a_launch_that_is_gone_is_named(monkeypatch):
    monkeypatch.delattr(cdk_entrypoint, "launch")

    assert cdk.problems() == ["launch is gone from airbyte_cdk.entrypoint: re-check run.launch, which copies it."]


# --- read_batches: Stream.read, a page at a time ---------------------------------------------------


class Paged(Stream):
    """Records in lists of the given sizes; the state moves to each list's last record once the
    list is out, as the activities' does (and, `by_slice`, one slice per list, as resumable full
    refresh reads)."""

    primary_key = None

    cursor_field = "n"

    def __init__(self, sizes: list[int], interval: int | None):
        self.sizes = sizes
        self.interval = interval
        self._state: dict = {}

    @property
    def state_checkpoint_interval(self) -> int | None:
        return self.interval

    def get_json_schema(self) -> dict:
        return {}

    @property
    def state(self):
        return self._state

    @state.setter
    def state(self, value):
        self._state = dict(value or {})

    def read_records(self, sync_mode, cursor_field=None, stream_slice=None, stream_state=None):
        n = self._state.get("n", 0)
        for size in self.sizes:
            page = [{"n": n + i + 1} for i in range(size)]
            yield page
            n += size
            self._state = {"n": n}


def one_by_one(stream: Paged) -> Paged:
    pages = stream.read_records

    def records(**kwargs):
        for page in pages(**kwargs):
            yield from page

    stream.read_records = records  # type: ignore[method-assign]
    return stream


def configured(mode: SyncMode) -> ConfiguredAirbyteStream:
    return ConfiguredAirbyteStream(
        stream=AirbyteStream(name="paged", json_schema={}, supported_sync_modes=[mode]),
        sync_mode=mode,
        destination_sync_mode=DestinationSyncMode.append,
        cursor_field=["n"] if mode == SyncMode.incremental else None,
    )


@pytest.mark.parametrize(
    "sizes, interval",
    [
        ([200, 200, 200], 200),  # pages of the checkpoint interval
        ([7, 450, 3, 0, 199, 1, 200, 401], 200),  # checkpoints inside lists, twice in one, none in some
        ([5, 5, 5], 5),
        ([], 200),
        ([3, 4, 5], None),  # no interval: a checkpoint per slice only
        ([1000], 1),
    ],
)
@pytest.mark.parametrize("mode", [SyncMode.incremental, SyncMode.full_refresh])
def test_read_batches_gives_what_stream_read_gives_for_the_same_records(sizes, interval, mode):
    def read(stream: Paged, batches: bool) -> list:
        state = {"n": 0} if mode == SyncMode.incremental else {}
        manager = ConnectorStateManager()
        logger = logging.getLogger("airbyte")
        if batches:
            return list(cdk.read_batches(stream, configured(mode), logger, DebugSliceLogger(), state, manager))
        return list(Stream.read(stream, configured(mode), logger, DebugSliceLogger(), state, manager, InternalConfig()))

    batched = read(Paged(sizes, interval), batches=True)
    expected = flat(read(one_by_one(Paged(sizes, interval)), batches=False))

    assert flat(batched) == expected
    assert len([item for item in expected if isinstance(item, dict) and item.get("type") == "STATE"]) >= 1
    assert sum(len(item) for item in batched if isinstance(item, list)) == sum(sizes)
    assert all(item for item in batched if isinstance(item, list))  # no empty list goes out


def test_read_batches_refuses_a_stream_that_keeps_its_state_by_get_updated_state():
    class Legacy(Paged):
        def get_updated_state(self, current_stream_state, latest_record):
            return {"n": latest_record["n"]}

    with pytest.raises(TypeError, match="overrides get_updated_state"):
        next(
            iter(
                cdk.read_batches(
                    Legacy([1], 1), configured(SyncMode.incremental), logging.getLogger(), DebugSliceLogger(), {}, None
                )
            )
        )


def test_a_changed_stream_read_is_named_with_what_copies_it(monkeypatch):
    def read(self, *args):  # a CDK whose Stream.read checkpoints otherwise
        yield from ()

    monkeypatch.setattr(Stream, "read", read)

    problems = cdk.problems()
    assert len(problems) == 1
    assert problems[0].startswith("Stream.read changed: re-check cdk.read_batches, which copies it.")


def test_a_changed_send_path_is_named_with_what_copies_it(monkeypatch):
    def send(self, request, request_kwargs, log_formatter=None, exit_on_rate_limit=False):  # a CDK that sends otherwise
        return self._session.send(request, **request_kwargs)

    monkeypatch.setattr(HttpClient, "_send", send)

    problems = cdk.problems()
    assert len(problems) == 1
    assert problems[0].startswith(
        "HttpClient._send changed: re-check transport.fetch, which copies its debug logs and asks the error "
        "handler the same way."
    )
    assert cdk.fingerprint(send) in problems[0]
