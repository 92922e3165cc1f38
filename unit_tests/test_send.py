"""How a page is sent (transport.fetch, through ChartmogulStream._send): the request the CDK would
have sent, byte for byte, and what the error handler's verdict does with the answer."""

import logging
from datetime import datetime, timezone

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler, ErrorResolution, ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from requests.adapters import BaseAdapter

from source_chartmogul import cdk, streams, transport
from source_chartmogul.activities import Activities
from source_chartmogul.base import ChartmogulStream, FanOutStream, PerSegment
from testing.configs import API_KEY, BASE_URL, key_forms
from unit_tests.conftest import settings

SEGMENTS = [
    {"name": "US", "geo": ["US"]},
    {"name": "Pro plans", "plans": ["Pro", "Pro yearly"], "filters": "currency~ANY~'USD','EUR'"},
]
TOKENS = [None, {"cursor": "c2 +/&=ü~%"}, {"start-after": "act_1"}]


class Recorder(BaseAdapter):
    """Keeps what reaches the transport adapter (the request and how it is sent); answers 200 {}."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict]] = []

    def send(self, request, **kwargs):
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.request = request
        response.url = request.url
        return response

    def close(self) -> None:
        pass


def recorded(stream: ChartmogulStream) -> Recorder:
    recorder = Recorder()
    cdk.session(stream).mount("https://", recorder)
    cdk.session(stream).mount("http://", recorder)
    return recorder


def sent_both_ways(stream: ChartmogulStream, stream_slice, token) -> tuple[tuple, tuple]:
    """What the CDK's `_fetch_next_page` sends, and what `fetch_page` sends, for the same arguments."""
    recorder = recorded(stream)
    cdk.fetch_now(stream, stream_slice, {}, token)
    request, _ = stream.fetch_page(stream_slice, {}, token)
    (theirs, their_kwargs), (ours, our_kwargs) = recorder.sent
    assert ours is request
    return (
        (theirs.method, theirs.url, dict(theirs.headers), theirs.body, their_kwargs),
        (ours.method, ours.url, dict(ours.headers), ours.body, our_kwargs),
    )


def slices(stream: ChartmogulStream) -> list:
    if isinstance(stream, FanOutStream):
        return [{stream.parent_key_name: "cus_1"}, {stream.parent_key_name: "cus 2/ü"}]
    if isinstance(stream, Activities):
        start = datetime(2020, 1, 1, tzinfo=timezone.utc)
        return [{"start": start, "end": datetime(2021, 6, 1, 12, tzinfo=timezone.utc)}, {"start": start, "end": None}]
    if isinstance(stream, PerSegment):
        return list(stream.stream_slices())
    return [None, {}]


@pytest.fixture
def proxied(monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")


@pytest.mark.parametrize("stream_class", streams.ALL_STREAMS, ids=lambda c: c.__name__)
def test_every_stream_sends_exactly_the_request_the_cdk_would(stream_class, proxied):
    stream = stream_class(settings(segments=SEGMENTS))
    for stream_slice in slices(stream):
        for token in TOKENS:
            theirs, ours = sent_both_ways(stream, stream_slice, token)
            assert ours == theirs
    assert theirs[4]["proxies"]["https"] == "http://proxy.example:3128"  # the environment, read once
    assert theirs[2]["Authorization"] == "Basic " + key_forms(API_KEY)[1]


class Asks(ChartmogulStream):
    """A stream whose request is whatever a test says, to try what no stream of ours asks yet."""

    primary_key = None

    def __init__(self, path="things", params=None, headers=None, json=None, data=None, method="GET"):
        self._path, self._params, self._headers, self._json, self._data = path, params, headers, json, data
        self._method = method
        super().__init__(settings())

    @property
    def http_method(self) -> str:
        return self._method

    def path(self, **kwargs) -> str:
        return self._path

    def request_params(self, **kwargs):
        return self._params

    def request_headers(self, **kwargs):
        return self._headers or {}

    def request_body_json(self, **kwargs):
        return self._json

    def request_body_data(self, **kwargs):
        return self._data


@pytest.mark.parametrize(
    "asks",
    [
        {"params": {}},
        {"params": None},
        {"params": {"per_page": 200, "cursor": "a b+c/d&e=f?g#h~ü%41", "flag": True, "n": 0}},
        {"params": {"skipped": None, "kept": "x"}},
        {"params": {"many": ["a", "b c"], "n": 1.5}},
        {"path": "things?per_page=200&x=1", "params": {"per_page": 200, "x": "2"}},  # dedupe: per_page once
        {"path": "things#part", "params": {"a": "1"}},
        {"path": "thïngs/with space/%7Eand%2F", "params": {"a": "1"}},
        {"path": "https://API.TEST:443/v1/other", "params": {"a": "1"}},
        {"params": {"a": "1"}, "headers": {"X-Trace": "t-1", "Accept": "application/json"}},
        {"params": {"a": "1"}, "json": {"q": [1, 2]}},
        {"params": {"a": "1"}, "data": "raw=body"},
        {"params": {"a": "1"}, "data": {"form": "x y"}, "method": "POST"},
        {"params": {"a": "1"}, "method": "post"},
        {"params": {"a": "1"}, "method": "DELETE", "json": {"ignored": "no body for DELETE"}},
    ],
    ids=repr,
)
def test_any_request_is_built_as_the_cdk_builds_it(asks):
    theirs, ours = sent_both_ways(Asks(**asks), None, None)

    assert ours == theirs


def test_a_cookie_the_server_set_goes_back_as_with_the_cdk():
    stream = Asks(params={"a": "1"})
    cdk.session(stream).cookies.set("session", "s-1", domain="api.test")

    theirs, ours = sent_both_ways(stream, None, None)

    assert ours == theirs
    assert ours[2]["Cookie"] == "session=s-1"


def test_a_body_the_cdk_refuses_is_refused_the_same_way():
    with pytest.raises(Exception) as theirs:
        cdk.fetch_now(Asks(json={"a": 1}, data="b"), None, {}, None)
    with pytest.raises(Exception) as ours:
        Asks(json={"a": 1}, data="b").fetch_page(None, {}, None)

    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


# --- the verdicts ---------------------------------------------------------------------------------


def fetch(api, handler: ErrorHandler | None = None, **answer):
    api.get(BASE_URL + "/v1/things", **answer)
    stream = Asks(params={"per_page": 200})
    return transport.fetch(
        cdk.session(stream),
        handler or stream.get_error_handler(),
        logging.getLogger("airbyte.streams.things"),
        "GET",
        BASE_URL + "/v1/things",
        params={"per_page": 200},
    )


def test_a_failure_raises_the_handlers_message_and_logs_the_request_and_the_answer(api, caplog, key_is_secret):
    with pytest.raises(AirbyteTracedException) as raised:
        fetch(api, status_code=401, json={"code": 401, "message": "Unauthorized " + API_KEY})

    assert raised.value.failure_type == FailureType.config_error
    assert raised.value.message.startswith("ChartMogul rejected the API key (HTTP 401: Unauthorized ")
    errors = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert f"'GET' request to '{BASE_URL}/v1/things?per_page=200' failed with status code '401'" in errors[0]
    assert raised.value.internal_message == errors[0]
    for form in key_forms(API_KEY):
        assert form not in errors[0] + raised.value.message  # quoted through the secret filter


def test_a_failed_answer_is_logged_cut_short(api, caplog):
    with pytest.raises(AirbyteTracedException):
        fetch(api, status_code=400, text="x" * 100_000)

    (error,) = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert "x" * transport.MAX_LOGGED_CHARS + "..." in error
    assert len(error) < transport.MAX_LOGGED_CHARS + 500


def test_no_answer_at_all_raises_the_handlers_transient_error(api):
    with pytest.raises(AirbyteTracedException) as raised:
        fetch(api, exc=requests.exceptions.ConnectTimeout("no route"))

    assert raised.value.failure_type == FailureType.transient_error
    assert raised.value.message.startswith("Could not get a complete answer from ChartMogul for GET /v1/things")
    assert "failed with exception" in raised.value.internal_message


def test_an_ignored_answer_is_handed_on_with_the_handlers_words_in_the_log(api, caplog):
    caplog.set_level(logging.INFO)
    handler = Asks().get_error_handler()
    handler._ignore_not_found = True

    _, response = fetch(api, handler, status_code=404, json={"message": "Customer not found"})

    assert response.status_code == 404
    assert any(
        record.levelno == logging.INFO and record.getMessage().startswith("Skipped GET /v1/things")
        for record in caplog.records
    )


class Retrying(ErrorHandler):
    max_retries = 0
    max_time = None

    def interpret_response(self, response_or_error=None) -> ErrorResolution:
        return ErrorResolution(response_action=ResponseAction.RETRY, failure_type=FailureType.transient_error)


def test_a_verdict_fetch_does_not_know_fails_and_says_so(api):
    with pytest.raises(AirbyteTracedException) as raised:
        fetch(api, Retrying(), status_code=200, json={})

    assert "which transport.fetch does not know" in raised.value.internal_message
    assert raised.value.failure_type == FailureType.transient_error


def test_debug_logs_the_request_and_the_answer_as_the_cdk_does(api, caplog):
    caplog.set_level(logging.DEBUG, logger="airbyte.streams.things")

    fetch(api, status_code=200, json={"entries": []})

    logged = {record.getMessage(): record for record in caplog.records if record.name == "airbyte.streams.things"}
    outbound = logged["Making outbound API request"]
    assert outbound.url == BASE_URL + "/v1/things?per_page=200"
    assert outbound.headers["Authorization"].startswith("Basic ")
    assert outbound.request_body is None
    answer = logged["Receiving response"]
    assert (answer.status, answer.body) == (200, '{"entries": []}')
