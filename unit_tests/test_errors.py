"""errors.py: what a final ChartMogul answer means, in words that name the request and the fix."""

import dataclasses
import logging

import pytest
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.streams.http.error_handlers import ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul import source as source_module
from source_chartmogul.errors import ChartmogulErrorHandler, api_message, resolve
from source_chartmogul.source import SourceChartmogul
from source_chartmogul.streams import Customers
from source_chartmogul.transport import QUOTE_CHARS, AnswerTooLarge, RetriesExhausted
from testing.configs import API_KEY, BASE_URL, CONFIG, leaks
from unit_tests.conftest import FAST_POLICY, PING, fast_session, settings

PATH = "/v1/customers?per_page=200"
URL = BASE_URL + PATH


def get(api, max_attempts=3, **answer) -> requests.Response:
    api.get(URL, **answer)
    return fast_session(max_attempts=max_attempts).get(URL)


def test_success_is_success(api):
    assert resolve(get(api, json={"entries": []})).response_action == ResponseAction.SUCCESS


def test_401_is_a_config_error_about_the_api_key(api):
    resolution = resolve(
        get(api, status_code=401, json={"code": 401, "message": "No valid API key provided", "param": None})
    )

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.config_error
    message = resolution.error_message
    assert "rejected the API key" in message
    assert "'api_key'" in message
    assert "HTTP 401: No valid API key provided" in message
    assert "read-only key is enough" in message
    assert "param" not in message  # a null param is not quoted


def test_403_is_a_config_error_naming_the_request(api):
    resolution = resolve(get(api, status_code=403, json={"code": 403, "message": "Trial expired", "param": None}))

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.config_error
    assert f"GET {PATH}" in resolution.error_message
    assert "HTTP 403: Trial expired" in resolution.error_message
    assert "trial" in resolution.error_message


def test_400_quotes_chartmogul_s_message_and_parameter(api):
    body = {"code": 400, "message": 'Parameter "start-date" is invalid', "param": "start-date"}
    resolution = resolve(get(api, status_code=400, json=body))

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.system_error
    assert f"GET {PATH}" in resolution.error_message
    assert "HTTP 400" in resolution.error_message
    assert "Parameter \"start-date\" is invalid (parameter 'start-date')" in resolution.error_message


def test_422_errors_object_is_quoted(api):
    body = {"errors": {"name": "A name is required for each data source.", "cursor": "is invalid"}}
    message = resolve(get(api, status_code=422, json=body)).error_message

    assert "HTTP 422" in message
    assert "name: A name is required for each data source." in message
    assert "cursor: is invalid" in message


def test_422_error_details_are_quoted(api):
    body = {
        "name": ["Name can't be blank"],
        "plan_ids": ["Plan ids can't be blank"],
        "error_details": [
            {"param": "name", "code": "blank", "message": "Name can't be blank"},
            {"param": "plan_ids", "code": "blank", "message": "Plan ids can't be blank"},
        ],
    }
    message = resolve(get(api, status_code=422, json=body)).error_message

    assert "name: Name can't be blank" in message
    assert "plan_ids: Plan ids can't be blank" in message


def test_error_key_body_is_quoted(api):
    resolution = resolve(get(api, status_code=404, json={"error": "Data source not found"}))

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.error_message == f"ChartMogul rejected GET {PATH} (HTTP 404): Data source not found"


def test_unknown_json_body_is_quoted_whole(api):
    message = resolve(get(api, status_code=409, json={"status": "conflict"})).error_message
    assert '{"status":"conflict"}' in message


def test_plain_text_500_after_retries_is_transient_naming_request_and_attempts(api):
    response = get(
        api,
        max_attempts=3,
        status_code=500,
        text="500 Internal Server Error\n",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    resolution = resolve(response)

    assert api.call_count == 3
    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.transient_error
    message = resolution.error_message
    assert "HTTP 500 (500 Internal Server Error)" in message
    assert f"GET {PATH}" in message
    assert "3 attempts" in message


def test_429_after_retries_is_transient(api):
    body = {"code": 429, "message": "Your request rate has exceeded our rate limit.", "param": None}
    resolution = resolve(get(api, max_attempts=2, status_code=429, json=body))

    assert resolution.failure_type == FailureType.transient_error
    assert "exceeded our rate limit" in resolution.error_message
    assert "2 attempts" in resolution.error_message


def test_retries_exhausted_is_transient_naming_the_request(api):
    api.get(URL, exc=requests.exceptions.ConnectionError("Connection refused"))
    with pytest.raises(RetriesExhausted) as caught:
        fast_session(max_attempts=2).get(URL)

    resolution = resolve(caught.value)

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.transient_error
    assert f"GET {PATH}" in resolution.error_message
    assert "Connection refused" in resolution.error_message
    assert "can be retried" in resolution.error_message


def test_an_error_without_a_request_is_still_explained():
    resolution = resolve(requests.exceptions.ConnectionError("Name or service not known"))

    assert resolution.failure_type == FailureType.transient_error
    assert "a request to ChartMogul" in resolution.error_message
    assert "Name or service not known" in resolution.error_message


@pytest.mark.parametrize(
    "content,expected",
    [
        (b'{"code":401,"message":"No valid API key provided","param":null}', "No valid API key provided"),
        (b'{"message":"Invalid include parameter: invalid_field"}', "Invalid include parameter: invalid_field"),
        (b"504 Gateway Timeout Error", "504 Gateway Timeout Error"),
        (b"  " + b"x" * 1000, "x" * 300 + "..."),
        (b'{"message": "' + b"m" * 1000 + b'"}', "m" * 300 + "..."),
        (b'["a", "b"]', "['a', 'b']"),
    ],
)
def test_api_message_reads_every_body_shape(content, expected):
    response = requests.Response()
    response._content = content
    response.encoding = "utf-8"
    assert api_message(response) == expected


@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 500, "text": "down"},
        {"status_code": 429, "headers": {"Retry-After": "0"}},
        {"exc": requests.exceptions.ConnectionError("reset")},
    ],
    ids=["server_error", "rate_limited", "network"],
)
def test_the_cdk_never_retries_on_top_of_the_transport(api, answer):
    """The transport retries; the CDK around it must not multiply its attempts by its own."""
    api.get(URL, **answer)

    with pytest.raises(AirbyteTracedException):
        list(Customers(settings()).read_only_records())

    assert api.call_count == FAST_POLICY.max_attempts


def test_handler_skips_404_only_when_told(api):
    response = get(api, status_code=404, json={"code": 404, "message": "Customer not found", "param": None})

    ignored = ChartmogulErrorHandler(ignore_not_found=True).interpret_response(response)
    failed = ChartmogulErrorHandler().interpret_response(response)

    assert ignored.response_action == ResponseAction.IGNORE
    assert f"GET {PATH}" in ignored.error_message and "Customer not found" in ignored.error_message
    assert failed.response_action == ResponseAction.FAIL
    assert failed.failure_type == FailureType.system_error


def test_handler_does_not_skip_other_errors_when_skipping_404(api):
    response = get(api, status_code=401, json={"code": 401, "message": "No valid API key provided", "param": None})

    resolution = ChartmogulErrorHandler(ignore_not_found=True).interpret_response(response)

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.config_error


def test_an_answer_too_large_is_a_system_error_that_says_what_to_do(api):
    api.get(URL, json={"entries": [0] * 50_001})
    with pytest.raises(AnswerTooLarge) as caught:
        fast_session().get(URL)

    resolution = ChartmogulErrorHandler().interpret_response(caught.value)

    assert resolution.response_action == ResponseAction.FAIL
    assert resolution.failure_type == FailureType.system_error
    assert resolution.error_message.startswith(
        f"Refused ChartMogul's answer to GET {PATH}: it holds 50,001 entries in 'entries', more than the 50,000 allowed."
    )
    assert "CHARTMOGUL_BASE_URL" in resolution.error_message and "'start_date'" in resolution.error_message


# --- The key echoed in an error body: masked first, then cut ------------------------------------

ECHOES = {  # where ChartMogul's layers put their words (docs/api-notes.md §3)
    "message": lambda text: {"json": {"code": 400, "message": text, "param": None}},
    "error": lambda text: {"json": {"error": text}},
    "errors": lambda text: {"json": {"errors": {"api_key": text}}},
    "error_details": lambda text: {"json": {"error_details": [{"param": "api_key", "message": text}]}},
    "other_json": lambda text: {"json": {"detail": text}},
    "json_list": lambda text: {"json": [text]},
    "plain_text": lambda text: {"text": text},
}
POSITIONS = {"whole": 0, "straddling_the_cut": QUOTE_CHARS - 12}


@pytest.mark.parametrize("at", POSITIONS.values(), ids=POSITIONS.keys())
@pytest.mark.parametrize("shape", ECHOES)
def test_api_message_never_shows_the_key(api, key_is_secret, shape, at):
    """Cut first and masked later, a key across the cut used to leave its first characters."""
    # Where the key starts in the quoted text: at `at` whatever the shape's own words before it.
    lead = {"errors": "api_key: ", "error_details": "api_key: ", "other_json": '{"detail":"', "json_list": "['"}
    text = "." * max(0, at - len(lead.get(shape, ""))) + API_KEY + " was not accepted"

    message = api_message(get(api, status_code=400, **ECHOES[shape](text)))

    assert "****" in message
    assert not leaks(message, API_KEY), message


@pytest.mark.parametrize("at", POSITIONS.values(), ids=POSITIONS.keys())
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 500, 503])
def test_final_errors_never_show_the_key(api, key_is_secret, status, at):
    """4xx at once, 5xx after the transport's retries: the message quotes the body either way."""
    body = {"code": status, "message": "." * at + API_KEY + " was not accepted", "param": None}

    resolution = ChartmogulErrorHandler(ignore_not_found=True).interpret_response(
        get(api, max_attempts=2, status_code=status, json=body)
    )

    assert "****" in resolution.error_message
    assert not leaks(resolution.error_message, API_KEY), resolution.error_message


@pytest.mark.parametrize("at", POSITIONS.values(), ids=POSITIONS.keys())
@pytest.mark.parametrize("status", [400, 401, 500])
def test_check_never_shows_the_key(api, status, at):
    """The CDK masks logs and traces, not the connection status `check` prints."""
    body = {"code": status, "message": "." * at + API_KEY + " was not accepted", "param": None}
    api.get(PING, status_code=status, json=body)

    succeeded, message = SourceChartmogul().check_connection(logging.getLogger("airbyte"), CONFIG)

    assert not succeeded and f"HTTP {status}" in message and "****" in message
    assert not leaks(message, API_KEY), message


def test_check_masks_whatever_it_reports(api, monkeypatch):
    """Not only the server's words: any message check returns goes through the secret filter."""
    api.get(PING, status_code=400, json={"message": "bad"})
    failure = dataclasses.replace(resolve(requests.exceptions.ConnectionError("bad")), error_message=API_KEY)
    monkeypatch.setattr(source_module.ChartmogulErrorHandler, "interpret_response", lambda self, outcome: failure)

    assert SourceChartmogul().check_connection(logging.getLogger("airbyte"), CONFIG) == (False, "****")
