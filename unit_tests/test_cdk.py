"""cdk.py: what the connector takes from the CDK's private members is still there, and the CDK
code the connector copies (run.py, transport.py, base.py) is as it was copied.

When a CDK upgrade moves or changes one of them, the first test fails with a message naming
what (cdk.problems()); the others check that the message does name it.
"""

import requests
from airbyte_cdk import entrypoint as cdk_entrypoint
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.streams.http.http_client import HttpClient

from source_chartmogul import cdk


def test_the_cdk_still_offers_what_cdk_py_relies_on():
    problems = cdk.problems()
    assert not problems, "The CDK moved what source_chartmogul/cdk.py relies on:\n" + "\n".join(problems)


def test_a_fetch_next_page_that_is_gone_is_named(monkeypatch):
    monkeypatch.delattr(HttpStream, "_fetch_next_page")

    assert cdk.problems() == [
        "HttpStream._fetch_next_page is gone: base.py can no longer hand a chain its prefetched page.",
        "HttpStream._fetch_next_page is gone from airbyte_cdk.sources.streams.http.http: re-check "
        "base.ChartmogulStream._send, which asks the stream for the same parts of the request.",
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
