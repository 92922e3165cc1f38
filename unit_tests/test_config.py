"""config.py: every field checked before any request, each mistake a config_error naming the field and the fix."""

import tempfile
from datetime import datetime, timezone
from pathlib import Path
from unittest import mock

import pytest
import yaml
from airbyte_cdk.models import FailureType, Status, Type
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.entrypoint_wrapper import _run_command, discover, make_file, read
from airbyte_cdk.test.models.scenario import ExpectedOutcome
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from jsonschema import Draft7Validator

from source_chartmogul.config import Segment, Settings, parse_config
from source_chartmogul.run import Entrypoint
from source_chartmogul.source import SourceChartmogul
from testing import configs
from testing.configs import API_KEY, BAD_CONFIGS, BASE_URL, CONFIG, MISSING
from unit_tests.conftest import catalog

NOW = datetime(2024, 6, 15, 12, 0, 0, tzinfo=timezone.utc)

# The CDK's `check` validates the config against spec.yaml before the source sees it, whatever
# `check_config_against_spec` says, with jsonschema messages ("'yesterday' does not match
# '^[0-9]{4}-...'"). run.Entrypoint, which the console script, main.py and the image run,
# replaces that check with the connector's: the tests below go through it.


def with_field(field, value):
    return configs.with_field(CONFIG, field, value)


BAD_IDS = [case[0] for case in BAD_CONFIGS]
SPEC = yaml.safe_load((Path(__file__).parent.parent / "source_chartmogul" / "spec.yaml").read_text())[
    "connectionSpecification"
]
SPEC_VALIDATOR = Draft7Validator(SPEC)


def expected_error(config) -> AirbyteTracedException:
    with pytest.raises(AirbyteTracedException) as caught:
        parse_config(config)
    return caught.value


@pytest.mark.parametrize("case_id,field,value,words,_spec", BAD_CONFIGS, ids=BAD_IDS)
def test_bad_field_is_a_config_error_naming_field_and_fix(case_id, field, value, words, _spec):
    error = expected_error(with_field(field, value))

    assert error.failure_type == FailureType.config_error
    assert f"'{field}'" in error.message
    for word in words:
        assert word in error.message, (word, error.message)


def test_segments_parse_to_the_metrics_api_s_parameters():
    segments = [
        {"name": "Europe", "geo": ["de", "FR"], "plans": []},
        {"name": "Gold", "plans": ["Gold Monthly", "pl_0b1c", "gold_annual"], "filters": "  "},
        {"name": "EUR big", "filters": "currency~ANY~'EUR'~AND~mrr~GT~150", "geo": None},
    ]

    parsed = parse_config({**CONFIG, "segments": segments}, now=NOW).segments

    assert parsed == (
        Segment(name="Europe", geo=("DE", "FR")),  # country codes are upper case (ISO 3166-1)
        Segment(name="Gold", plans=("Gold Monthly", "pl_0b1c", "gold_annual")),
        Segment(name="EUR big", filters="currency~ANY~'EUR'~AND~mrr~GT~150"),
    )
    assert [segment.params() for segment in parsed] == [
        {"geo": "DE,FR"},
        {"plans": "Gold Monthly,pl_0b1c,gold_annual"},
        {"filters": "currency~ANY~'EUR'~AND~mrr~GT~150"},
    ]


@pytest.mark.parametrize("value", [MISSING, None, []])
def test_no_segments_is_none(value):
    assert parse_config(with_field("segments", value), now=NOW).segments == ()


def test_the_spec_s_segments_example_is_a_good_config():
    (example,) = SPEC["properties"]["segments"]["examples"]
    assert list(SPEC_VALIDATOR.iter_errors({**CONFIG, "segments": example})) == []
    assert [segment.name for segment in parse_config({**CONFIG, "segments": example}, now=NOW).segments] == [
        segment["name"] for segment in example
    ]


@pytest.mark.parametrize("case_id,field,value,_words,spec_rejects", BAD_CONFIGS, ids=BAD_IDS)
def test_the_spec_s_form_rejects_what_the_table_says(case_id, field, value, _words, spec_rejects):
    """The spec drives Airbyte's form: it should refuse what it can express, and no good config."""
    assert bool(list(SPEC_VALIDATOR.iter_errors(with_field(field, value)))) is spec_rejects
    assert list(SPEC_VALIDATOR.iter_errors(CONFIG)) == []


def test_bad_api_key_message_never_quotes_the_key():
    error = expected_error(with_field("api_key", f" {API_KEY}"))
    assert API_KEY not in error.message


def test_good_config_parses_to_settings():
    settings = parse_config(CONFIG, now=NOW)

    assert settings == Settings(
        api_key=API_KEY,
        start_date=datetime(2023, 1, 1, tzinfo=timezone.utc),
        interval="month",
        lookback_days=3,
        base_url=BASE_URL,
    )
    assert settings.start_day.isoformat() == "2023-01-01"


def test_defaults_for_optional_fields():
    config = {"api_key": API_KEY, "start_date": "2020-02-29T23:59:59Z"}
    settings = parse_config(config, now=NOW)

    assert settings.interval == "month"
    assert settings.lookback_days == 3
    assert settings.start_date == datetime(2020, 2, 29, 23, 59, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize("interval", ["day", "week", "month", "quarter"])
def test_every_interval_is_accepted(interval):
    assert parse_config(with_field("interval", interval), now=NOW).interval == interval


@pytest.mark.parametrize("days", [0, 365])
def test_lookback_bounds_are_accepted(days):
    assert parse_config(with_field("lookback_window_days", days), now=NOW).lookback_days == days


def test_start_date_equal_to_now_is_accepted_one_second_later_is_not():
    assert parse_config(with_field("start_date", "2024-06-15T12:00:00Z"), now=NOW).start_date == NOW
    with pytest.raises(AirbyteTracedException, match="future"):
        parse_config(with_field("start_date", "2024-06-15T12:00:01Z"), now=NOW)


def test_base_url_comes_from_the_environment_without_trailing_slash(monkeypatch):
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", "http://localhost:8080/")
    assert parse_config(CONFIG).base_url == "http://localhost:8080"
    monkeypatch.delenv("CHARTMOGUL_BASE_URL")
    assert parse_config(CONFIG).base_url == "https://api.chartmogul.com"


@pytest.mark.parametrize(
    "value", ["127.0.0.1:8123", "localhost", "api.chartmogul.com", "ftp://example.com", "http://", " http://x"]
)
def test_a_base_url_that_is_not_an_http_address_is_a_config_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", value)
    error = expected_error(CONFIG)
    assert error.failure_type == FailureType.config_error
    assert f"CHARTMOGUL_BASE_URL is {value!r}" in error.message
    assert "http:// or https://" in error.message and "unset it" in error.message


@pytest.mark.parametrize("value", ["http://127.0.0.1:8123", "https://api.chartmogul.com/", "http://proxy/chartmogul"])
def test_an_http_base_url_is_accepted(monkeypatch, value):
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", value)
    assert parse_config(CONFIG).base_url == value.rstrip("/")


def test_check_discover_and_read_name_a_bad_base_url_and_make_no_request(api, monkeypatch):
    monkeypatch.setenv("CHARTMOGUL_BASE_URL", "127.0.0.1:8123")

    status = run_check(CONFIG).connection_status_messages[0].connectionStatus
    found = discover(SourceChartmogul(), CONFIG, expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)
    read_ = read(SourceChartmogul(), CONFIG, catalog("customers"), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)

    assert status.status == Status.FAILED and "CHARTMOGUL_BASE_URL" in status.message
    for output in (found, read_):
        errors = [m.trace.error for m in output.errors]
        assert errors and all(e.failure_type == FailureType.config_error for e in errors)
        assert any("CHARTMOGUL_BASE_URL" in e.message for e in errors)
    assert api.request_history == []


@pytest.mark.parametrize("value", ["0", "-5", "fast", "nan"])
def test_a_bad_request_rate_in_the_environment_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("CHARTMOGUL_REQUESTS_PER_SECOND", value)
    with pytest.raises(AirbyteTracedException) as caught:
        parse_config(CONFIG)
    assert caught.value.failure_type == FailureType.config_error
    assert "CHARTMOGUL_REQUESTS_PER_SECOND" in caught.value.message


def test_the_request_rate_can_be_raised_for_stand_ins(monkeypatch):
    """The default's pace: test_transport.py, test_the_production_pace_stays_under_chartmogul_s_limits."""
    monkeypatch.setenv("CHARTMOGUL_REQUESTS_PER_SECOND", "500")
    assert parse_config(CONFIG).requests_per_second == 500.0


def test_a_base_url_in_the_config_is_ignored():
    """Whoever may type a config must not be able to send the key to another host."""
    assert parse_config({**CONFIG, "base_url": "https://evil.example"}).base_url == BASE_URL


# --- the same mistakes through the CLI ---------------------------------------------------------


def run_check(config):
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(entrypoint_wrapper, "AirbyteEntrypoint", Entrypoint):
        path = make_file(Path(tmp) / "config.json", config)
        return _run_command(SourceChartmogul(), ["check", "--config", path])


def cli_cases():
    for case_id, field, value, _words, _spec_preempts in BAD_CONFIGS:
        yield pytest.param(field, value, id=case_id)


@pytest.mark.parametrize("field,value", list(cli_cases()))
def test_check_with_bad_config_fails_with_the_same_message_and_no_request(api, field, value):
    config = with_field(field, value)
    expected = expected_error(config).message

    output = run_check(config)

    statuses = [m.connectionStatus for m in output.connection_status_messages]
    assert len(statuses) == 1
    assert statuses[0].status == Status.FAILED
    assert statuses[0].message == expected
    assert api.request_history == []


def _config_error_naming(output, field):
    errors = [m.trace.error for m in output.errors]
    assert errors, "no error trace"
    assert all(error.failure_type == FailureType.config_error for error in errors)
    assert any(f"'{field}'" in error.message for error in errors), [e.message for e in errors]


@pytest.mark.parametrize("case_id,field,value,_words,_spec", BAD_CONFIGS, ids=BAD_IDS)
def test_read_with_bad_config_fails_with_config_error_and_no_request(api, case_id, field, value, _words, _spec):
    output = read(
        SourceChartmogul(),
        with_field(field, value),
        catalog("customers", "account"),
        expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION,
    )

    _config_error_naming(output, field)
    assert output.records == []
    assert api.request_history == []


@pytest.mark.parametrize(
    "field,value",
    [("start_date", "2017-13-45T00:00:00Z"), ("interval", "year"), ("api_key", ""), ("lookback_window_days", -1)],
)
def test_discover_with_bad_config_fails_with_config_error_and_no_request(api, field, value):
    output = discover(SourceChartmogul(), with_field(field, value), expected_outcome=ExpectedOutcome.EXPECT_EXCEPTION)

    _config_error_naming(output, field)
    assert output.get_message_by_types([Type.CATALOG]) == []
    assert api.request_history == []
