"""The connector's configuration: the only module that reads the raw config.

Every field is checked here, before any request, so that a mistake is reported as a
`config_error` that names the field, says what is wrong and what to do. The CDK's own
check against the spec is switched off in the source: its jsonschema messages name a
regular expression, not a fix.
"""

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
API_KEYS_HELP = (
    "Create one in ChartMogul under Profile > API keys "
    "(https://help.chartmogul.com/hc/en-us/articles/4407796325906); a read-only key is enough."
)


@dataclass(frozen=True)
class Settings:
    api_key: str
    start_date: datetime
    interval: str
    lookback_days: int
    base_url: str
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND

    @property
    def start_day(self) -> date:
        return self.start_date.date()


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
