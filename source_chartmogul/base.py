"""The stream machinery: one base for HTTP, one class per paging style.

* `ChartmogulStream`: base URL, auth, transport, error handling, envelopes.
* `CursorStream`: list endpoints paged by `cursor` and `has_more` (chartmogul-api.md §4).
* `UnpagedStream`, `ObjectStream`: a list or a single object in one answer.
* `MetricsStream`: /v1/metrics/* time series for a date range and interval (§7).
* `FanOutStream`: one request chain per parent record, read in parallel.

A stream in `streams.py` is a declaration on top of one of these.
"""

from abc import ABC
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime, timezone
from functools import cache
from typing import Any

import requests
from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.sources.streams.http import HttpStream
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import parallel, transport
from .config import Settings
from .errors import ChartmogulErrorHandler, skipped
from .transport import describe_request, json_body

PAGE_SIZE = 200  # the API's maximum; larger values are clamped to it (§4.1)
PARTITION_WORKERS = 8


@cache
def _schema(name: str) -> Mapping[str, Any]:
    return ResourceSchemaLoader("source_chartmogul").get_schema(name)


def unexpected_answer(response: requests.Response, what: str) -> AirbyteTracedException:
    message = f"ChartMogul answered {describe_request(response.request)} with {what}; the API may have changed."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


class ChartmogulStream(HttpStream, ABC):
    envelope = "entries"
    primary_key: str | list[str] | None = "uuid"
    ignore_not_found = False

    def __init__(self, settings: Settings):
        self.settings = settings
        super().__init__()
        # The CDK builds the session; the transport (auth, pacing, retries, timeouts) is ours.
        transport.connect(self._http_client._session, settings.api_key, settings.requests_per_second)

    @property
    def url_base(self) -> str:
        return f"{self.settings.base_url}/v1/"

    def get_json_schema(self) -> Mapping[str, Any]:  # type: ignore[override]  # the CDK's is an lru_cache
        return _schema(self.name)

    def get_error_handler(self) -> ChartmogulErrorHandler:
        return ChartmogulErrorHandler(ignore_not_found=self.ignore_not_found)

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        return None

    def parse_response(self, response: requests.Response, **kwargs) -> Iterable[Mapping[str, Any]]:
        if response.status_code == 404:  # only reaches here when ignore_not_found
            self.logger.warning(skipped(response))
            return []
        return self.records_of(response)

    def records_of(self, response: requests.Response) -> list:
        records = json_body(response).get(self.envelope)
        if not isinstance(records, list):
            raise unexpected_answer(response, f"JSON that has no '{self.envelope}' list")
        return records


class ObjectStream(ChartmogulStream, ABC):
    """An endpoint that answers one object, which is the record."""

    primary_key = None

    def records_of(self, response: requests.Response) -> list:
        return [json_body(response)]


class UnpagedStream(ChartmogulStream, ABC):
    """A list served whole, e.g. /v1/data_sources (§5.2)."""


class CursorStream(ChartmogulStream, ABC):
    """Cursor paging: send `cursor` back until `has_more` is false.

    Stop on `has_more`, never on the cursor: the last page still carries one, and an empty
    result has `cursor: null` (§4.2). The deprecated `page` parameter is never sent.
    """

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        return {"per_page": PAGE_SIZE, **(next_page_token or {})}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        if response.status_code != 200:
            return None
        body = json_body(response)
        if not body.get("has_more"):
            return None
        if not body.get("cursor"):
            raise unexpected_answer(response, "has_more true but no cursor to ask for the next page")
        return {"cursor": body["cursor"]}


class MetricsStream(ChartmogulStream, ABC):
    """A metrics time series from the start date to today (UTC), one entry per period (§7)."""

    primary_key = "date"
    interval: str | None = None  # None: the configured interval

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        # Dates only: the metrics API takes YYYY-MM-DD, not a date-time (§7).
        return {
            "start-date": self.settings.start_day.isoformat(),
            "end-date": datetime.now(timezone.utc).date().isoformat(),
            "interval": self.interval or self.settings.interval,
        }


class FanOutStream(CursorStream, ABC):
    """One cursor-paged request chain per parent record, up to PARTITION_WORKERS at once.

    Each record gains the parent's key under `parent_key_name`. Records come out parent by
    parent, in the parent's order, one page of parents at a time. The state after each page of
    parents is the parent stream's cursor to the next page: an interrupted sync resumes there
    (resumable full refresh, through the CDK's own reader, one page of parents a slice).
    """

    parent_key_name: str
    parent_key = "uuid"

    def parent_stream(self) -> CursorStream:
        raise NotImplementedError

    def read_records(self, sync_mode, cursor_field=None, stream_slice=None, stream_state=None):
        def read_one(parent_key: str):
            return HttpStream.read_records(self, SyncMode.full_refresh, stream_slice={self.parent_key_name: parent_key})

        parent = self.parent_stream()
        # The slice is this stream's state: the parent's page cursor, or nothing at the start.
        page = StreamSlice(partition={}, cursor_slice=dict(stream_slice or {}))
        parents = list(parent.read_records(SyncMode.full_refresh, stream_slice=page))  # one page
        yield from parallel.ordered([p[self.parent_key] for p in parents], read_one, PARTITION_WORKERS)
        self._state = parent.state  # the next page's cursor, or that the parents are done

    @property
    def state(self) -> MutableMapping[str, Any]:
        return getattr(self, "_state", {})

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._state = value

    def parse_response(self, response, stream_slice=None, **kwargs):
        key = stream_slice[self.parent_key_name]
        for record in super().parse_response(response, **kwargs):
            yield {**record, self.parent_key_name: key}
