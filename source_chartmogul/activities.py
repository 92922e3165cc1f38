"""The activities stream: incremental on `date`, read in parallel date windows.

GET /v1/activities (https://dev.chartmogul.com/reference/activities/list, docs/api-notes.md §6).

* The range [start, now) is cut into WINDOWS windows (none shorter than a day). A window whose
  first page is not its last splits the rest of itself by the density that page shows, so that
  the recent, busier years are not read one page at a time. Windows are read up to
  PARTITION_WORKERS at once and emitted oldest first, so the state can advance as records go out.
* ChartMogul serves activities dated in the future (scheduled cancellations, plan changes). A
  full refresh returns them too: after the windows up to now comes one without an end (no
  `end-date` sent), read page by page. An incremental read stops at now and picks a scheduled
  activity up once its date has passed.
* Whether the API's `start-date`/`end-date` are inclusive is not documented: each window asks
  from a second before its start to a second after its end, and keeps only start <= date < end,
  so a record lands in exactly one window either way.
* ChartMogul can change or remove activities after the fact: a read with state starts
  `lookback_days` before it.
* The state says "every activity before this date-time was read", and never passes the moment
  the read started, in either mode. It advances to the last date of each page once the page's
  records are out, while dates ascend (they do, §6), and to each window's end when the window is
  done; should ChartMogul ever serve them out of order, only the latter.
* A window's pages are followed to the page that says there is no more, empty pages included;
  `PageChains` (base.py) ends a window whose pages loop or stay empty with an error.
"""

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from airbyte_cdk.models import FailureType, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from . import parallel
from .base import PAGE_SIZE, PARTITION_WORKERS, ChartmogulStream, Token, unexpected_answer
from .transport import json_body

WINDOWS = PARTITION_WORKERS  # the first cut; a window of more than a page splits further
MIN_WINDOW = timedelta(days=1)
PAGES_PER_PART = 6
# Twice the readers: the busiest, most recent window is read last, and its parts should be
# short, so that the sync does not end with a few readers walking long chains.
MAX_PARTS = 2 * PARTITION_WORKERS
CURSOR_FIELD = "date"


def parse_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def api_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class Activities(ChartmogulStream):
    primary_key = "uuid"
    cursor_field = CURSOR_FIELD
    state_checkpoint_interval = PAGE_SIZE
    prefetch_pages = False  # its windows are partitions, read several at once

    def __init__(self, settings, now: datetime | None = None):
        super().__init__(settings)
        self._now = now
        self._cursor: datetime | None = None
        self._state: MutableMapping[str, Any] = {}
        self._in_order = True
        self._until: datetime | None = None  # the moment the current read started: the state's ceiling

    def path(self, **kwargs) -> str:
        return "activities"

    @property
    def now(self) -> datetime:
        return self._now or datetime.now(timezone.utc)

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._state  # the CDK asks after every record: formatted once per change

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        self._set_cursor(read_state(value))

    def _set_cursor(self, value: datetime | None) -> None:
        self._cursor = value
        self._state = {CURSOR_FIELD: value.isoformat()} if value else {}

    def read_records(self, sync_mode, cursor_field=None, stream_slice=None, stream_state=None):
        now = self.now.replace(microsecond=0)
        start = self.settings.start_date.replace(microsecond=0)
        self._in_order = True
        self._until = now
        if self._cursor and self._cursor > now:
            self.logger.warning(f"The saved state {self._cursor.isoformat()} is in the future; reading up to now.")
            self._set_cursor(now)
        if sync_mode == SyncMode.incremental and self._cursor:
            start = max(start, self._cursor - timedelta(days=self.settings.lookback_days))
        windows = list(_windows(start, now))
        if sync_mode != SyncMode.incremental:
            windows.append({"start": max(start, now), "end": None, "first_page": True})  # the scheduled ones

        def read_window(window):
            yield from self.read_chain(window)
            split_at = window.get("split_at")
            yield _WindowDone(split_at or window["end"] or now)
            if split_at:
                yield parallel.Spawn(_split(split_at, window["end"], window["parts"]))

        previous = None
        for item in parallel.ordered(windows, read_window, PARTITION_WORKERS):
            if type(item) is list:  # a page's records
                yield item
            elif isinstance(item, _PageDone):  # the page's records are out
                if previous is not None and item.first < previous:
                    self._out_of_order()
                previous = item.last
                if self._in_order:
                    self._advance(item.last)
            elif isinstance(item, _WindowDone):
                self._advance(item.end)  # the whole window is out: the state may pass it

    def _out_of_order(self) -> None:
        if self._in_order:
            self._in_order = False
            self.logger.warning(
                "ChartMogul served activities out of date order; the state now advances only "
                "when a whole date window is read."
            )

    def _advance(self, value: datetime) -> None:
        # Never past the present: a scheduled activity read now may still change before its
        # date, and the next incremental read must pick it up then.
        if self._until is not None:
            value = min(value, self._until)
        if self._cursor is None or value > self._cursor:
            self._set_cursor(value)

    def request_params(self, stream_state=None, stream_slice=None, next_page_token=None) -> MutableMapping[str, Any]:
        params: dict[str, Any] = {
            "per_page": PAGE_SIZE,
            "start-date": api_datetime(stream_slice["start"] - timedelta(seconds=1)),
            "order": "date",  # ascending; documented by the official clients (§6)
        }
        if stream_slice["end"] is not None:
            params["end-date"] = api_datetime(stream_slice["end"] + timedelta(seconds=1))
        return {**params, **(next_page_token or {})}

    def next_page_token(self, response) -> Token:
        # The CDK asks once parse_response has: PageChains gives it the answer kept then.
        return self._follow(response, split=False)

    def _follow(self, response, split: bool) -> Token:
        """The token of the window's next page; none after a page at which the window was `split`:
        its parts read the rest."""

        def handover() -> tuple[Token, int]:
            body = json_body(response)
            entries = body.get("entries") or []
            token = _next_page(response, body, entries) if body.get("has_more") and not split else None
            return token, len(entries)

        return self.page_chains.follow(response, handover)

    def parse_response(self, response, stream_slice=None, **kwargs) -> Iterable[Any]:
        start, end = stream_slice["start"], stream_slice["end"]
        records = self.records_of(response)
        try:
            dates = [parse_datetime(record[CURSOR_FIELD]) for record in records]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise _undated(response, records) from None
        # Checked here, a whole page before its first record reaches the state.
        in_order = all(earlier <= later for earlier, later in zip(dates, dates[1:]))
        if not in_order:
            self._out_of_order()
        split = False
        if stream_slice.pop("first_page", False) and json_body(response).get("has_more"):
            end = self._maybe_split(stream_slice, dates) or end
            split = "split_at" in stream_slice
        if in_order:  # the page's records in [start, end) are one run of it
            low, high = bisect_left(dates, start), len(dates) if end is None else bisect_left(dates, end)
            kept, kept_dates = records[low:high], dates[low:high]
        else:
            inside = [i for i, date in enumerate(dates) if start <= date and (end is None or date < end)]
            kept, kept_dates = [records[i] for i in inside], [dates[i] for i in inside]
        self._follow(response, split)  # checked before the page's records go out (PageChains)
        if not kept:
            return []
        # Dates are parsed once, here; what the state needs of them follows the page's records.
        return [kept, _PageDone(kept_dates[0], kept_dates[-1])]

    def _maybe_split(self, window: dict, dates: list[datetime]) -> datetime | None:
        """A window with more than a page: hand the rest of it to several readers at once.

        The first page tells how densely the window is filled. The rest, from the last date of
        that page on, becomes up to MAX_PARTS windows of about PAGES_PER_PART pages;
        the activities of that last date are left to them, since the next page may hold more
        of the same second.
        """
        if window["end"] is None:
            return None  # the scheduled activities: no end to measure density by, and they are few
        if not self._in_order or len(dates) < 2:
            return None
        first, last = dates[0], dates[-1]
        if last <= first or last <= window["start"]:
            return None  # a page of one second: no density to go by, read on page by page
        pages_left = (window["end"] - last) / (last - window["start"])
        window["split_at"] = last
        window["parts"] = max(1, min(MAX_PARTS, round(pages_left / PAGES_PER_PART)))
        return last


def _next_page(response, body: Mapping[str, Any], entries: list) -> Mapping[str, Any]:
    # The cursor is the current way to page; start-after (the last uuid) the older one (§4.4).
    if body.get("cursor"):
        return {"cursor": body["cursor"]}
    if not entries:
        raise unexpected_answer(
            response, "an empty page, has_more true and no cursor: nothing to ask for the next page by"
        )
    last = entries[-1]
    uuid = last.get("uuid") if isinstance(last, Mapping) else None
    if not isinstance(uuid, str) or not uuid:
        raise unexpected_answer(
            response,
            f"has_more true, no cursor, and no 'uuid' on the page's last activity ({_which(entries, len(entries) - 1)}) "
            "to ask for the next page by (start-after)",
        )
    return {"start-after": uuid}


def _undated(response, records: list) -> Exception:
    for index, record in enumerate(records):
        try:
            parse_datetime(record[CURSOR_FIELD])
        except (KeyError, TypeError, ValueError, AttributeError):
            value = record.get(CURSOR_FIELD) if isinstance(record, Mapping) else None
            date = f"its date is {value!r}" if isinstance(record, Mapping) and CURSOR_FIELD in record else "no date"
            return unexpected_answer(response, f"an activity without a valid 'date' ({_which(records, index)}: {date})")
    return unexpected_answer(response, "an activity without a valid 'date'")  # not reached: one failed


def _which(records: list, index: int) -> str:
    """A record of a page, named so that it can be found: its place, and its uuid if it has one."""
    record = records[index]
    uuid = record.get("uuid") if isinstance(record, Mapping) else None
    named = f", uuid '{uuid}'" if uuid else ", no uuid"
    return f"activity {index + 1} of {len(records)} on the page{named}"


def _split(start: datetime, end: datetime, parts: int) -> list:
    size = timedelta(seconds=max(1, (end - start).total_seconds() // parts))
    bounds = [min(start + size * i, end) for i in range(parts)] + [end]
    return [{"start": a, "end": b, "first_page": False} for a, b in zip(bounds, bounds[1:]) if a < b]


@dataclass(frozen=True)
class _PageDone:
    first: datetime
    last: datetime


@dataclass(frozen=True)
class _WindowDone:
    end: datetime


def _windows(start: datetime, end: datetime) -> Iterable[dict]:
    # Whole seconds: activity dates have no fractions, and the bounds are sent to the second.
    # Rounded up, so that WINDOWS windows cover the range (rounded down, a sliver of a few
    # seconds was left over at the end: one more request, nearly always empty).
    size = timedelta(seconds=max(MIN_WINDOW.total_seconds(), math.ceil((end - start).total_seconds() / WINDOWS)))
    while start < end:
        window_end = min(start + size, end)
        yield {"start": start, "end": window_end, "first_page": True}
        start = window_end


def read_state(value: Mapping[str, Any] | None) -> datetime | None:
    """The saved cursor, from this connector's state or the CDK's older formats."""
    if not value:
        return None
    if not isinstance(value, Mapping):
        raise _bad_state(value)
    if "state_type" in value or "slices" in value:  # the concurrent CDK's date-range state
        return _from_slices(value)
    raw = value.get(CURSOR_FIELD)
    if raw is None:
        raise _bad_state(value)
    try:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):  # epoch milliseconds or seconds
            return datetime.fromtimestamp(raw / 1000 if raw > 1e11 else raw, timezone.utc)
        if isinstance(raw, str):
            return parse_datetime(raw)
    except (ValueError, OverflowError, OSError):
        pass
    raise _bad_state(value)


def _from_slices(value: Mapping[str, Any]) -> datetime | None:
    """The end of the first unbroken run of read slices, as the CDK reads its own state."""
    slices = value.get("slices")
    if not isinstance(slices, list):
        raise _bad_state(value)
    try:
        ranges = sorted((parse_datetime(item["start"]), parse_datetime(item["end"])) for item in slices)
    except (TypeError, KeyError, ValueError, AttributeError):
        raise _bad_state(value) from None
    if not ranges:
        return None
    read_until = ranges[0][1]
    for start, end in ranges[1:]:
        if start > read_until:
            break  # a gap: what lies after it was read, but what lies in it was not
        read_until = max(read_until, end)
    return read_until


def _bad_state(value: Any) -> AirbyteTracedException:
    message = (
        f"The saved state of the activities stream is not readable: {value!r}. Expected "
        '{"date": "<ISO 8601 date-time>"}. Reset the activities stream (or correct the state) '
        "to sync it again."
    )
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)
