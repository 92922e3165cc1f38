"""The connector's configuration: the only module that reads the raw config.

Every field is checked here, before any request, so that a mistake is reported as a
`config_error` that names the field, says what is wrong and what to do. The CDK's own
check against the spec is switched off in the source: its jsonschema messages name a
regular expression, not a fix.
"""

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

DEFAULT_BASE_URL = "https://api.chartmogul.com"
# Not a config field on purpose: whoever may type a config must not be able to send the
# key to another host. Tests, the demo and the sandbox set it.
BASE_URL_ENV = "CHARTMOGUL_BASE_URL"
# ChartMogul allows 40 requests/s per account. 37 leaves room for the jitter of send times
# (at 38 the sandbox's sliding window drew an occasional 429). Lower it where other
# integrations share the account's budget; raise it for local stand-ins. No config field:
# it is about the machine and the account, not the connection.
RATE_ENV = "CHARTMOGUL_REQUESTS_PER_SECOND"
DEFAULT_REQUESTS_PER_SECOND = 37.0

INTERVALS = ("day", "week", "month", "quarter")
DEFAULT_INTERVAL = "month"
DEFAULT_LOOKBACK_DAYS = 3
MAX_LOOKBACK_DAYS = 365
START_DATE_PATTERN = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")
CFL_HELP = "https://dev.chartmogul.com/docs/cfl"
SEGMENT_KEYS = ("name", "plans", "geo", "filters")
SEGMENT_EXAMPLE = '{"name": "Europe", "geo": ["DE", "FR", "GB"]}'
COUNTRY_CODE = re.compile(r"^[A-Za-z]{2}$")
# A CFL condition is filter~OPERATOR~value (dev.chartmogul.com/docs/cfl); operators are upper case.
CFL_OPERATOR = re.compile(r"^[A-Z][A-Z_]*$")
API_KEYS_HELP = (
    "Create one in ChartMogul under Profile > API keys "
    "(https://help.chartmogul.com/hc/en-us/articles/4407796325906); a read-only key is enough."
)


@dataclass(frozen=True)
class Segment:
    """A part of the account the metrics API computes on its own: some plans, countries or a CFL filter."""

    name: str
    plans: tuple[str, ...] = ()
    geo: tuple[str, ...] = ()
    filters: str | None = None

    def params(self) -> dict[str, str]:
        """The metrics API's parameters for this segment: `plans` and `geo` as comma-separated lists."""
        params = {"plans": ",".join(self.plans), "geo": ",".join(self.geo), "filters": self.filters or ""}
        return {key: value for key, value in params.items() if value}


@dataclass(frozen=True)
class Settings:
    api_key: str
    start_date: datetime
    interval: str
    lookback_days: int
    base_url: str
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    segments: tuple[Segment, ...] = ()

    @property
    def start_day(self) -> date:
        return self.start_date.date()

    def segment(self, name: str) -> Segment:
        return next(segment for segment in self.segments if segment.name == name)


def config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


def parse_config(config: Mapping[str, Any], now: datetime | None = None) -> Settings:
    """Checks every field and returns plain values; raises a config_error naming the field."""
    now = now or datetime.now(timezone.utc)
    return Settings(
        api_key=_api_key(config.get("api_key")),
        start_date=_start_date(config.get("start_date"), now),
        interval=_interval(config.get("interval", DEFAULT_INTERVAL)),
        lookback_days=_lookback_days(config.get("lookback_window_days", DEFAULT_LOOKBACK_DAYS)),
        base_url=base_url(),
        requests_per_second=requests_per_second(),
        segments=_segments(config.get("segments")),
    )


def base_url() -> str:
    value = os.environ.get(BASE_URL_ENV)
    if not value:
        return DEFAULT_BASE_URL
    # Checked here, or requests answers at the first request with "No connection adapters were
    # found", which names neither the variable nor the fix.
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or value != value.strip():
        raise config_error(
            f"The environment variable {BASE_URL_ENV} is {value!r}, which is not an http:// or https:// "
            f"address. Set it to one, for example http://127.0.0.1:8123, or unset it to use {DEFAULT_BASE_URL}."
        )
    return value.rstrip("/")


def requests_per_second() -> float:
    value = os.environ.get(RATE_ENV)
    if not value:
        return DEFAULT_REQUESTS_PER_SECOND
    try:
        rate = float(value)
    except ValueError:
        rate = 0.0
    if not rate > 0:
        raise config_error(f"The environment variable {RATE_ENV} is {value!r}; unset it or give a positive number.")
    return rate


def _api_key(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise config_error(f"The 'api_key' field is missing or empty. {API_KEYS_HELP}")
    if value != value.strip():
        raise config_error("The 'api_key' field has spaces or line breaks around the key. Paste the key alone.")
    return value


def _start_date(value: Any, now: datetime) -> datetime:
    example = "for example 2017-01-25T00:00:00Z"
    if not isinstance(value, str) or not value:
        raise config_error(
            f"The 'start_date' field is missing. Give a UTC date-time as YYYY-MM-DDTHH:MM:SSZ, {example}."
        )
    match = START_DATE_PATTERN.match(value)
    if not match:
        raise config_error(
            f"The 'start_date' field is {value!r}, which is not a UTC date-time in the form "
            f"YYYY-MM-DDTHH:MM:SSZ. Use that form, {example}."
        )
    try:
        # datetime() says which part is off ("month must be in 1..12"); strptime would not.
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        parsed = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError as error:
        raise config_error(
            f"The 'start_date' field is {value!r}, which is not a real date-time ({error}). "
            f"Give an existing UTC date-time, {example}."
        ) from None
    if parsed > now:
        raise config_error(
            f"The 'start_date' field is {value!r}, which is in the future: there is nothing to "
            f"sync after it yet. Give a date-time in the past, {example}."
        )
    return parsed


def _interval(value: Any) -> str:
    if value not in INTERVALS:
        raise config_error(f"The 'interval' field is {value!r}; it must be one of {', '.join(INTERVALS)}.")
    return value


def _lookback_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LOOKBACK_DAYS:
        raise config_error(
            f"The 'lookback_window_days' field is {value!r}; it must be a whole number of days "
            f"from 0 to {MAX_LOOKBACK_DAYS} (default {DEFAULT_LOOKBACK_DAYS})."
        )
    return value


def _segments(value: Any) -> tuple[Segment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise config_error(
            f"The 'segments' field is {value!r}, which is not a list. Give a list of segments, each an object "
            f"with a 'name' and at least one of 'plans', 'geo' or 'filters', for example [{SEGMENT_EXAMPLE}]."
        )
    segments: list[Segment] = []
    for position, raw in enumerate(value, 1):
        segment = _segment(position, raw)
        for earlier, other in enumerate(segments, 1):
            if other.name == segment.name:
                raise config_error(
                    f"Segments {earlier} and {position} of 'segments' are both named {segment.name!r}. Give each "
                    "segment a name of its own: the name is the 'segment' column that tells their records apart."
                )
        segments.append(segment)
    return tuple(segments)


def _segment(position: int, raw: Any) -> Segment:
    where = f"Segment {position} of 'segments'"
    if not isinstance(raw, dict):
        raise config_error(
            f"{where} is {raw!r}, which is not an object. Write each segment as an object with a 'name' and at "
            f"least one of 'plans', 'geo' or 'filters', for example {SEGMENT_EXAMPLE}."
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise config_error(
            f"{where} has no name ('name' is {name!r}). Give it a short, non-empty name such as 'Europe': "
            "its records carry it in their 'segment' column."
        )
    if name != name.strip():
        raise config_error(f"{where} has spaces around its name {name!r}. Write the name without them.")
    where = f"Segment {position} ({name!r}) of 'segments'"
    unknown = [key for key in raw if key not in SEGMENT_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), SEGMENT_KEYS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise config_error(
            f"{where} has an unknown key {unknown[0]!r}{hint}. A segment takes only 'name', 'plans', 'geo' and "
            "'filters'; remove the key or rename it."
        )
    plans = _strings(where, "plans", raw.get("plans"), "plan names, UUIDs or external ids", '["Gold Monthly"]')
    for plan in plans:
        if "," in plan:
            raise config_error(
                f"{where} has the plan {plan!r}, which contains a comma: ChartMogul reads 'plans' as one "
                "comma-separated list. Give that plan by its UUID or external id instead."
            )
    geo = _strings(where, "geo", raw.get("geo"), "country codes", '["US", "GB"]')
    for code in geo:
        # Two letters, not a fixed list of countries: billing systems also use codes that ISO reserves
        # for user assignment (XK for Kosovo), and ChartMogul takes what the billing system sent.
        if not COUNTRY_CODE.match(code):
            raise config_error(
                f"{where} has {code!r} in 'geo', which is not a two-letter country code. Use ISO 3166-1 "
                'alpha-2 codes, for example ["US", "GB", "DE"].'
            )
    filters = _filters(where, raw.get("filters"))
    if not (plans or geo or filters):
        raise config_error(
            f"{where} has nothing to filter by, so its metrics would be the whole account's. Give it at least "
            "one of 'plans' (plan names, UUIDs or external ids), 'geo' (country codes such as 'US') or "
            f"'filters' (a ChartMogul Filter Language string, {CFL_HELP})."
        )
    return Segment(name=name, plans=plans, geo=tuple(code.upper() for code in geo), filters=filters)


def _strings(where: str, key: str, value: Any, what: str, example: str) -> tuple[str, ...]:
    """A list of non-empty strings; missing or empty is none (the spec's form may send [])."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise config_error(
            f"{where} has '{key}' = {value!r}, which is not a list of {what}. Write it as a list of "
            f"non-empty strings, for example {example}."
        )
    return tuple(value)


def _filters(where: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    example = f"for example currency~ANY~'USD','EUR' ({CFL_HELP})"
    if not isinstance(value, str):
        raise config_error(f"{where} has 'filters' = {value!r}, which is not a string. Give a CFL string, {example}.")
    # Only the shape is checked: which filters and values exist is the API's to say (it answers 400).
    for condition in value.split("~AND~"):
        parts = condition.split("~", 2)
        if len(parts) < 3 or not all(part.strip() for part in parts) or not CFL_OPERATOR.match(parts[1]):
            raise config_error(
                f"{where} has 'filters' = {value!r}, which is not ChartMogul Filter Language: {condition!r} "
                f"is not filter~OPERATOR~value. Join conditions of that form with ~AND~, {example}. A report "
                "filtered in ChartMogul shows its CFL in the address bar, as the 'filters' parameter."
            )
    return value
