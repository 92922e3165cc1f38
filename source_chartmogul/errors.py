"""What a final ChartMogul answer means: the one place where errors are decided.

By the time a response gets here `transport.py` has already retried what can be retried,
so anything but success is final. Each failure gets a message that names the request,
quotes ChartMogul's own words and says what to do. Whatever a server sent is quoted through
`transport.quote`: the API key masked first, then cut.
"""

from collections.abc import Sequence
from urllib.parse import parse_qsl, urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler, ErrorResolution, ResponseAction

from .config import API_KEYS_HELP, Segment
from .transport import Answer, AnswerTooLarge, RetriesExhausted, describe_request, quote

SUCCESS = ErrorResolution(response_action=ResponseAction.SUCCESS)


def api_message(response: requests.Response) -> str:
    """ChartMogul's own error text, quoted (masked, then cut); its bodies vary by layer (§3)."""
    return quote(_said(response))


def _said(response: requests.Response) -> str:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text.strip()
    if not isinstance(body, dict):
        return str(body)
    if body.get("message"):
        param = f" (parameter '{body['param']}')" if body.get("param") else ""
        return f"{body['message']}{param}"
    if body.get("error"):
        return str(body["error"])
    if isinstance(body.get("errors"), dict):
        return "; ".join(f"{key}: {value}" for key, value in body["errors"].items())
    if isinstance(body.get("error_details"), list):
        return "; ".join(
            f"{item.get('param')}: {item.get('message')}" for item in body["error_details"] if isinstance(item, dict)
        )
    return orjson.dumps(body).decode()


def skipped(response: requests.Response) -> str:
    """Why a 404 of a record listed moments before is skipped rather than failed."""
    return (
        f"Skipped {describe_request(response.request)}: ChartMogul answered 404 "
        f"({api_message(response)}); the record was deleted during the sync."
    )


def resolve(response_or_error: requests.Response | Exception | None) -> ErrorResolution:
    if isinstance(response_or_error, requests.Response):
        return _resolve_response(response_or_error)
    request = getattr(response_or_error, "request", None)
    where = describe_request(request) if request is not None else "a request to ChartMogul"
    if isinstance(response_or_error, AnswerTooLarge):
        return _fail(
            FailureType.system_error,
            f"Refused ChartMogul's answer to {where}: it {response_or_error.what}. A real answer is far smaller (a "
            "page holds at most 200 records; the metrics series by day since 1970 about 20,500 entries). If "
            "CHARTMOGUL_BASE_URL is set, check that it points at ChartMogul; for the metrics streams, a later "
            "'start_date' or a longer 'interval' shortens the series. Otherwise report it to ChartMogul support.",
        )
    said = str(response_or_error) if isinstance(response_or_error, RetriesExhausted) else quote(str(response_or_error))
    return _fail(
        FailureType.transient_error,
        f"Could not get a complete answer from ChartMogul for {where}: {said}. "
        "Check that this machine can reach the API; the sync can be retried.",
    )


def _resolve_response(response: requests.Response) -> ErrorResolution:
    status = response.status_code
    if response.ok:
        return SUCCESS
    where = describe_request(response.request)
    said = api_message(response)
    if status == 401:
        return _fail(
            FailureType.config_error,
            f"ChartMogul rejected the API key (HTTP 401: {said}). Check the 'api_key' field. {API_KEYS_HELP}",
        )
    if status == 403:
        return _fail(
            FailureType.config_error,
            f"ChartMogul refused {where} with this API key (HTTP 403: {said}). The key lacks access "
            "or the account's trial has expired; use a key of an active account.",
        )
    if status == 429 or status >= 500:
        attempts = response.attempts if isinstance(response, Answer) else 1
        return _fail(
            FailureType.transient_error,
            f"ChartMogul kept answering HTTP {status} ({said}) to {where}, {attempts} attempts in a row. "
            "This is usually temporary: run the sync again later.",
        )
    return _fail(FailureType.system_error, f"ChartMogul rejected {where} (HTTP {status}): {said}")


def _fail(failure_type: FailureType, message: str) -> ErrorResolution:
    return ErrorResolution(response_action=ResponseAction.FAIL, failure_type=failure_type, error_message=message)


class ChartmogulErrorHandler(ErrorHandler):
    """Retries are the transport's; this only decides what a final answer means."""

    def __init__(self, ignore_not_found: bool = False):
        self._ignore_not_found = ignore_not_found

    @property
    def max_retries(self) -> int | None:
        return 0

    @property
    def max_time(self) -> int | None:
        return None

    def interpret_response(self, response_or_error=None) -> ErrorResolution:
        if (
            self._ignore_not_found
            and isinstance(response_or_error, requests.Response)
            and response_or_error.status_code == 404
        ):
            return ErrorResolution(response_action=ResponseAction.IGNORE, error_message=skipped(response_or_error))
        return resolve(response_or_error)


SEGMENT_FIXES = {
    "plans": "Give plan names exactly as ChartMogul shows them (case-sensitive), or plan UUIDs or external ids.",
    "geo": "Give two-letter ISO 3166-1 country codes such as US, GB, DE.",
    "filters": (
        "Check it against https://dev.chartmogul.com/docs/cfl, or copy the 'filters' parameter from the "
        "address bar of a ChartMogul report filtered the same way."
    ),
}


class SegmentErrorHandler(ChartmogulErrorHandler):
    """A metrics request of a segment that ChartMogul rejects for one of the segment's own parameters
    (`plans`, `geo`, `filters`) is a mistake in the config: a config_error naming the segment."""

    def __init__(self, segments: Sequence[Segment]):
        super().__init__()
        self._segments = segments

    def interpret_response(self, response_or_error=None) -> ErrorResolution:
        resolution = super().interpret_response(response_or_error)
        if not isinstance(response_or_error, requests.Response) or response_or_error.status_code not in (400, 422):
            return resolution
        param = _rejected_param(response_or_error)
        if param not in SEGMENT_FIXES:
            return resolution
        sent = dict(parse_qsl(urlsplit(response_or_error.request.url or "").query))
        names = [repr(s.name) for s in self._segments if s.params().get(param) == sent.get(param)]
        which = f"segment {names[0]}" if len(names) == 1 else f"segments {', '.join(names)}" if names else "a segment"
        return _fail(
            FailureType.config_error,
            f"ChartMogul rejected the '{param}' of {which} in 'segments' (HTTP "
            f"{response_or_error.status_code}: {api_message(response_or_error)}). {SEGMENT_FIXES[param]}",
        )


def _rejected_param(response: requests.Response) -> str | None:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    return body.get("param") if isinstance(body, dict) else None
