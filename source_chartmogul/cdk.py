"""Every use of the CDK's private members, in one place.

The connector leans on a few names the CDK does not promise to keep (airbyte-cdk 7.39.1):

* `HttpStream._http_client._session`: the requests session the CDK builds for a stream, on
  which transport.py mounts its adapter (auth, pacing, retries, timeouts).
* `HttpStream._fetch_next_page(stream_slice, stream_state, next_page_token)`: the one call
  through which `HttpStream.read_records` gets every page, in both of its paging loops
  (`_read_pages`, and `_read_single_page` for resumable full refresh). `PageHook` routes it to
  a public method, so that a stream can answer with a page it prefetched (base.py).

Should a CDK upgrade move any of them, `problems()` says what moved, in plain words; the unit
test `unit_tests/test_cdk.py` fails with that message.
"""

import inspect
from abc import ABC
from collections.abc import Mapping
from typing import Any

import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.types import StreamSlice

FETCH_PARAMETERS = ["self", "stream_slice", "stream_state", "next_page_token"]

Page = tuple[requests.PreparedRequest, requests.Response]


def session(stream: HttpStream) -> requests.Session:
    """The session every request of `stream` goes through."""
    return stream._http_client._session


def fetch_now(
    stream: HttpStream,
    stream_slice: Mapping[str, Any] | None,
    stream_state: Mapping[str, Any] | None,
    next_page_token: Mapping[str, Any] | None,
) -> Page:
    """The page the CDK itself would send for, sent now (whatever `PageHook.fetch_page` does)."""
    return HttpStream._fetch_next_page(stream, stream_slice, stream_state, next_page_token)


class PageHook(HttpStream, ABC):
    """An HttpStream whose every page is fetched by `fetch_page`, which a subclass may override."""

    def _fetch_next_page(
        self,
        stream_slice: Mapping[str, Any] | None = None,
        stream_state: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
    ) -> Page:
        return self.fetch_page(stream_slice, stream_state, next_page_token)

    def fetch_page(
        self,
        stream_slice: Mapping[str, Any] | None,
        stream_state: Mapping[str, Any] | None,
        next_page_token: Mapping[str, Any] | None,
    ) -> Page:
        return fetch_now(self, stream_slice, stream_state, next_page_token)


# --- what the CDK must still offer --------------------------------------------------------------


class _Probe(PageHook):
    """A stream of two pages that never touches the network: every page comes from `fetch_page`."""

    url_base = "https://cdk-probe.invalid/"
    primary_key = None

    def __init__(self) -> None:
        super().__init__()
        self.asked: list = []

    def path(self, **kwargs) -> str:
        return "probe"

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return {"page": 2} if response.url.endswith("1") else None

    def parse_response(self, response: requests.Response, **kwargs) -> list:
        return [{"url": response.url}]

    def fetch_page(self, stream_slice, stream_state, next_page_token) -> Page:
        self.asked.append(next_page_token)
        response = requests.Response()
        response.status_code = 200
        response.url = f"{self.url_base}probe/{(next_page_token or {}).get('page', 1)}"
        return requests.PreparedRequest(), response


class _ProbeAllPages(_Probe):
    """Incremental-like: `read_records` walks every page in one call (`_read_pages`)."""

    cursor_field = "url"


def problems() -> list[str]:
    """What moved in the CDK that this module relies on; empty when nothing did."""
    found = []
    fetch = getattr(HttpStream, "_fetch_next_page", None)
    if fetch is None:
        found.append("HttpStream._fetch_next_page is gone: base.py can no longer hand a chain its prefetched page.")
    elif list(inspect.signature(fetch).parameters) != FETCH_PARAMETERS:
        found.append(
            f"HttpStream._fetch_next_page now takes {list(inspect.signature(fetch).parameters)}, "
            f"not {FETCH_PARAMETERS}: PageHook and fetch_now must follow."
        )
    try:
        probe = _Probe()
    except Exception as error:  # the probe cannot even be built: say so rather than crash
        return [*found, f"An HttpStream can no longer be built as cdk._Probe is: {error!r}"]
    if not isinstance(getattr(getattr(probe, "_http_client", None), "_session", None), requests.Session):
        found.append(
            "HttpStream._http_client._session is no longer the stream's requests.Session: transport.py mounts on it."
        )
    if fetch is None:
        return found
    cases: list[tuple[str, _Probe, list[StreamSlice | None]]] = [
        (
            "one page a call (resumable full refresh, _read_single_page)",
            _Probe(),
            [None, StreamSlice(partition={}, cursor_slice={"page": 2})],
        ),
        ("every page in one call (_read_pages)", _ProbeAllPages(), [None]),
    ]
    for name, stream, slices in cases:
        try:
            for stream_slice in slices:
                list(stream.read_records(SyncMode.full_refresh, stream_slice=stream_slice))
        except Exception as error:
            found.append(f"HttpStream.read_records, {name}, failed on the probe: {error!r}")
            continue
        if stream.asked != [None, {"page": 2}]:
            found.append(
                f"HttpStream.read_records, {name}, no longer fetches each page through "
                f"_fetch_next_page (asked {stream.asked}, expected [None, {{'page': 2}}]): a "
                "prefetched page would be requested twice."
            )
    return found
