"""The tests' API keys and configs, the config mistakes each with words its message must hold,
and a check for a leaked key."""

import base64

# The unit tests' fake API (requests-mock). The key is long and unusual: the CDK's secret filter
# masks exact values, so a short key would mask unrelated text, and a leak must be unambiguous.
API_KEY = "cm-unit-test-api-key-7f3a9c21d4e84b0f9a6e5d2c1b0a9f8e7d6c5b4a"
OTHER_API_KEY = "cm-unit-test-api-key-second-0123456789abcdef0123456789abcdef"
BASE_URL = "https://api.test"
START_DATE = "2023-01-01T00:00:00Z"
CONFIG = {"api_key": API_KEY, "start_date": START_DATE, "interval": "month", "lookback_window_days": 3}

# The sandbox's (integration tests), as in integration_tests/*.json too.
SANDBOX_API_KEY = "sandbox-api-key-0123456789abcdef"
# The spec's example start date, which the connector's messages quote; the sandbox's tests start there.
EXAMPLE_START_DATE = "2017-01-25T00:00:00Z"
# For CHARTMOGUL_REQUESTS_PER_SECOND: the sandbox does not rate-limit unless told to; the
# production pace would only slow a test down.
UNPACED = "1000"

FORMAT_HINT = "YYYY-MM-DDTHH:MM:SSZ"
MISSING = object()  # for with_field: the field left out


def with_field(config: dict, field: str, value) -> dict:
    """The config with one field changed, or left out if `value` is MISSING."""
    changed = dict(config)
    if value is MISSING:
        changed.pop(field, None)
    else:
        changed[field] = value
    return changed


# (id, field, value, words the message must contain besides the field name, spec rejects it first)
BAD_CONFIGS = [
    (
        "start_date_impossible_date",
        "start_date",
        "2017-13-45T00:00:00Z",
        ["not a real date-time", "month must be in 1..12", EXAMPLE_START_DATE],
        False,
    ),
    ("start_date_free_text", "start_date", "last tuesday", [FORMAT_HINT, EXAMPLE_START_DATE], True),
    ("start_date_without_time", "start_date", "2017-01-25", [FORMAT_HINT, EXAMPLE_START_DATE], True),
    ("start_date_with_offset", "start_date", "2017-01-25T00:00:00+02:00", [FORMAT_HINT, EXAMPLE_START_DATE], True),
    ("start_date_in_future", "start_date", "2999-01-01T00:00:00Z", ["future", "in the past"], False),
    ("start_date_missing", "start_date", MISSING, ["missing", FORMAT_HINT, EXAMPLE_START_DATE], True),
    ("start_date_empty", "start_date", "", ["missing", FORMAT_HINT], True),
    ("start_date_not_a_string", "start_date", 20170125, ["missing", FORMAT_HINT], True),
    ("interval_unknown", "interval", "year", ["day, week, month, quarter"], True),
    ("interval_wrong_case", "interval", "Month", ["day, week, month, quarter"], True),
    ("api_key_empty", "api_key", "", ["missing or empty", "API keys", "read-only key is enough"], False),
    ("api_key_missing", "api_key", MISSING, ["missing or empty", "API keys"], True),
    ("api_key_only_spaces", "api_key", "   ", ["missing or empty"], False),
    ("api_key_padded", "api_key", f" {API_KEY}\n", ["spaces or line breaks", "Paste the key alone"], False),
    ("lookback_negative", "lookback_window_days", -1, ["0 to 365"], True),
    ("lookback_too_big", "lookback_window_days", 366, ["0 to 365"], True),
    ("lookback_bool", "lookback_window_days", True, ["0 to 365"], True),
    ("lookback_str", "lookback_window_days", "3", ["0 to 365"], True),
    ("lookback_float", "lookback_window_days", 2.5, ["0 to 365"], True),
    # segments: the message names the segment (number and name) and says what to write instead
    ("segments_not_a_list", "segments", {"name": "US", "geo": ["US"]}, ["not a list", "'name'", "'geo'"], True),
    ("segment_not_an_object", "segments", ["US"], ["Segment 1", "not an object", "'name'"], True),
    ("segment_without_name", "segments", [{"geo": ["US"]}], ["Segment 1", "no name", "'segment' column"], True),
    ("segment_empty_name", "segments", [{"name": " ", "geo": ["US"]}], ["Segment 1", "no name"], False),
    ("segment_name_padded", "segments", [{"name": "US ", "geo": ["US"]}], ["Segment 1", "spaces around"], False),
    (
        "segment_names_twice",
        "segments",
        [{"name": "EU", "geo": ["DE"]}, {"name": "US", "geo": ["US"]}, {"name": "EU", "geo": ["FR"]}],
        ["Segments 1 and 3", "'EU'", "a name of its own"],
        False,
    ),
    (
        "segment_without_filter",
        "segments",
        [{"name": "All", "plans": [], "filters": ""}],
        ["Segment 1 ('All')", "nothing to filter by", "'plans'", "'geo'", "'filters'", "dev.chartmogul.com/docs/cfl"],
        False,
    ),
    (
        "segment_geo_a_string",
        "segments",
        [{"name": "US", "geo": "US"}],
        ["('US')", "'geo'", "not a list", '["US", "GB"]'],
        True,
    ),
    (
        "segment_geo_numbers",
        "segments",
        [{"name": "US", "geo": [1]}],
        ["('US')", "'geo'", "list of country codes"],
        True,
    ),
    (
        "segment_geo_not_two_letters",
        "segments",
        [{"name": "US", "geo": ["USA"]}],
        ["'USA'", "two-letter", "ISO 3166-1"],
        True,
    ),
    (
        "segment_plans_a_string",
        "segments",
        [{"name": "Gold", "plans": "Gold Monthly"}],
        ["('Gold')", "'plans'", "plan names, UUIDs or external ids", '["Gold Monthly"]'],
        True,
    ),
    ("segment_plans_empty_name", "segments", [{"name": "Gold", "plans": [""]}], ["('Gold')", "'plans'"], True),
    (
        "segment_plan_with_comma",
        "segments",
        [{"name": "Gold", "plans": ["Gold, yearly"]}],
        ["('Gold')", "comma", "UUID or external id"],
        False,
    ),
    (
        "segment_unknown_key",
        "segments",
        [{"name": "US", "geos": ["US"]}],
        ["('US')", "'geos'", "did you mean 'geo'"],
        True,
    ),
    (
        "segment_filters_not_a_string",
        "segments",
        [{"name": "EUR", "filters": ["currency~ANY~'EUR'"]}],
        ["('EUR')", "not a string"],
        True,
    ),
    (
        "segment_filters_not_cfl",
        "segments",
        [{"name": "EUR", "filters": "currency = EUR"}],
        ["('EUR')", "not ChartMogul Filter Language", "filter~OPERATOR~value", "~AND~", "dev.chartmogul.com/docs/cfl"],
        False,
    ),
]


def bad_configs(*case_ids: str) -> dict:
    """Some of BAD_CONFIGS by id: {id: (field, value, words)}."""
    chosen = {case_id: (field, value, words) for case_id, field, value, words, _spec in BAD_CONFIGS}
    unknown = set(case_ids) - set(chosen)
    assert not unknown, f"no such case in BAD_CONFIGS: {unknown}"
    return {case_id: chosen[case_id] for case_id in case_ids}


def key_forms(api_key: str) -> list[str]:
    """The key as it may leak: itself, and the basic-auth credentials it makes (password empty or the key)."""
    return [
        api_key,
        base64.b64encode(f"{api_key}:".encode()).decode(),
        base64.b64encode(f"{api_key}:{api_key}".encode()).decode(),
    ]


def leaks(text: str, api_key: str, window: int = 10) -> bool:
    """Whether any `window` characters of the key show in `text`: a key cut short leaks too."""
    return any(api_key[start : start + window] in text for start in range(len(api_key) - window + 1))
