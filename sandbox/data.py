"""Deterministic ChartMogul-shaped data for the sandbox.

Every record is a plain dict shaped exactly like the real API's JSON (key spellings, date formats and
nulls per resource; section numbers refer to ``docs/api-notes.md``). Everything is
drawn from one ``random.Random(seed)``; the only input from the clock is ``today``, so
``build_dataset(seed, customers, activities, today)`` always yields the same data.

Activities are generated first, per customer, by a small subscription state machine; customers'
``customer-since``/``mrr``/``status``, their subscriptions and the metrics are all derived from them so
the resources agree with each other.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

Record = dict[str, Any]

HISTORY_START = dt.date(2015, 1, 1)
FUTURE_DAYS = 60  # activities may be scheduled up to this many days after today
DAY = 86_400
INTERVALS = ("day", "week", "month", "quarter", "year")

ACTIVITY_TYPES = ("new_biz", "expansion", "contraction", "churn", "reactivation")
LEAD_STATUSES = ("New Lead", "Working Lead", "Qualified Lead", "Unqualified Lead")
CURRENCIES = (("USD", "$", 70), ("EUR", "€", 20), ("GBP", "£", 10))

# Names that exercise encodings and JSON escaping the way real customer lists do.
SPECIAL_NAMES = (
    "Zoë Ångström",
    "株式会社テスト",
    "🚀 Rocket Labs 🚀",
    "Björk Guðmundsdóttir",
    "Δημήτρης Παπαδόπουλος",
    "Ñandú Ibérica S.L.",
    'O\'Brien & "Sons"',
    "Back\\slash Ltd",
    "Иван Петров",
    "محمد العلي",
)
FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Edsger",
    "Sophie",
    "Guido",
    "Anita",
    "Donald",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Backus",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Dijkstra",
    "Wilson",
    "Knuth",
)
COMPANY_WORDS = (
    "Initech",
    "Globex",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Acme",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Massive Dynamic",
    "Aperture",
    "Wonka",
    "Prestige",
)
COMPANY_SUFFIXES = ("Inc.", "GmbH", "Ltd", "LLC", "SAS", "AB", "Labs", "")
# (country ISO-2, country name, state code, state name, city, zip)
LOCATIONS = (
    ("US", "United States", "CA", "California", "Mountain View", "94043"),
    ("US", "United States", "NY", "New York", "New York", "10001"),
    ("US", "United States", "TX", "Texas", "Austin", "73301"),
    ("DE", "Germany", None, None, "Berlin", "10115"),
    ("GB", "United Kingdom", None, None, "London", "EC1A 1BB"),
    ("FR", "France", None, None, "Paris", "75001"),
    ("JP", "Japan", None, None, "Tokyo", "100-0001"),
    ("BR", "Brazil", "SP", "São Paulo", "São Paulo", "01000-000"),
    ("SE", "Sweden", None, None, "Malmö", None),
    ("IN", "India", "KA", "Karnataka", "Bengaluru", "560001"),
)
TAGS = ("enterprise", "self-serve", "partner", "beta", "vip", "merged-customer", "auto-churned-delinquent-subscription")
PLAN_TIERS = (
    ("Bronze", 1_900),
    ("Silver", 4_900),
    ("Gold", 9_900),
    ("Platinum", 29_900),
    ("Starter", 900),
    ("Team", 14_900),
)
# (interval unit, interval count, name suffix, how many months one interval covers)
PLAN_CYCLES = (
    ("month", 1, "Monthly", 1),
    ("year", 1, "Annual", 12),
    ("month", 3, "Quarterly", 3),
    ("day", 14, "Fortnightly", 14 / 30),
)
DATA_SOURCES = (  # (name, system, billing-system-type, billing-system-url template or None, status)
    ("Stripe live", "Stripe", "Stripe", "https://dashboard.stripe.com/customers/{}", "idle"),
    ("Recurly EU", "Recurly", "Recurly", "https://sandbox.recurly.com/accounts/{}", "idle"),
    ("In-house billing", "Custom", "Import API", None, "idle"),
    ("Legacy spreadsheet", "Custom", "Google Sheets", None, "never_imported"),
)
# `/v1/metrics/mrr` (§7): each movement key is the sum of one activity type's movements in the period.
MRR_MOVEMENTS = {
    "mrr-new-business": "new_biz",
    "mrr-expansion": "expansion",
    "mrr-contraction": "contraction",
    "mrr-churn": "churn",
    "mrr-reactivation": "reactivation",
}
# The CFL filters (https://dev.chartmogul.com/docs/cfl) the sandbox answers, as the customer field each
# reads, and their operators; anything else is a 400. `region` takes country codes in the doc's example.
CFL_FIELDS = {"currency": "currency", "region": "country"}
CFL_OPERATORS = ("ANY", "NONE")
Condition = tuple[str, str, frozenset[str]]  # (filter, operator, values) of one CFL condition
EVENT_TYPE_FOR_ACTIVITY = {
    "new_biz": "subscription_start",
    "expansion": "subscription_updated",
    "contraction": "subscription_updated",
    "churn": "subscription_cancelled",
    "reactivation": "subscription_start",
}


# ---------------------------------------------------------------------------------------------------
# Timestamp formats (§5.16 lists which resource uses which).


def iso_offset(ts: int, offset_hours: int = 0) -> str:
    """`YYYY-MM-DDTHH:MM:SS+00:00` (activities, customer-since, customer subscriptions)."""
    sign = "-" if offset_hours < 0 else "+"
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + offset_hours * 3600)) + f"{sign}{abs(offset_hours):02d}:00"
    )


def iso_ms(ts_ms: int) -> str:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (invoices, lead/trial dates, notes, tasks, data sources)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ms // 1000)) + f".{ts_ms % 1000:03d}Z"


def iso_z(ts: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ` (subscription events)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_ns(ts_ns: int) -> str:
    """Nanosecond stamp used inside keyset cursors (§4.2: `2023-10-30T02:27:28.035592000Z&1100224`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts_ns // 10**9)) + f".{ts_ns % 10**9:09d}Z"


def utc_stamp(value: str | None) -> str:
    """Any API datetime -> the nanosecond UTC stamp a keyset cursor carries ("" for null)."""
    if not value:
        return ""
    moment = dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond * 1000:09d}Z"


def _epoch(day: dt.date) -> int:
    return calendar.timegm(day.timetuple())


# ---------------------------------------------------------------------------------------------------
# Metric periods (§7).


def period_ends(start: dt.date, end: dt.date, interval: str, week_start_on: str = "monday") -> list[dt.date]:
    """End date of every period touching [start, end], the last one clipped to `end` (§7).

    Weeks end on the day before the account's `week_start_on` (Sunday for a Monday account); the
    doc leaves week boundaries UNCONFIRMED, following the account setting is the natural reading.
    """
    ends: list[dt.date] = []
    cursor = start
    while cursor <= end:
        if interval == "day":
            period_end = cursor
        elif interval == "week":
            last_weekday = 6 if week_start_on == "monday" else 5  # Sunday / Saturday
            period_end = cursor + dt.timedelta(days=(last_weekday - cursor.weekday()) % 7)
        elif interval == "month":
            period_end = cursor.replace(day=calendar.monthrange(cursor.year, cursor.month)[1])
        elif interval == "quarter":
            month = (cursor.month - 1) // 3 * 3 + 3
            period_end = dt.date(cursor.year, month, calendar.monthrange(cursor.year, month)[1])
        elif interval == "year":
            period_end = dt.date(cursor.year, 12, 31)
        else:
            raise ValueError(f"unknown interval {interval!r}")
        ends.append(min(period_end, end))
        cursor = period_end + dt.timedelta(days=1)
    return ends


def percentage_change(current: float, previous: float) -> float:
    """Relative change in percent, against |previous| (recorded: -0.17 -> -74.52 gives -43735.29, §7)."""
    if not previous:
        return 0.0
    return round((current - previous) / abs(previous) * 100, 2)


@dataclass
class _MetricsIndex:
    """Prefix sums over activities by day, so any metric at any date is two bisects."""

    days: list[int]  # UTC day ordinal of each activity, ascending
    customers: list[int]  # prefix sums of +1/-1 paying-customer changes
    mrr: list[int]
    movements: dict[str, list[int]]  # prefix sums of each activity type's MRR movements
    new_biz_count: list[int]
    churn_count: list[int]
    net_churn_mrr: list[int]  # sum of every movement except new business

    def at(self, series: list[int], day: dt.date) -> int:
        return series[bisect.bisect_right(self.days, day.toordinal())]


# ---------------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Every resource the sandbox serves, as lists of API-shaped dicts, in the order the API serves them.

    `sort_stamps` maps a record's id (as str) to the creation stamp that real keyset cursors carry
    (§4.2) for resources whose records have no creation field of their own; lists ordered by creation
    are stored newest first. Tests may mutate any of these; the server reads them on every request.
    """

    today: dt.date
    account: Record
    data_sources: list[Record]
    customers: list[Record]
    activities: list[Record]
    customer_subscriptions: dict[str, list[Record]]
    plans: list[Record]
    plan_groups: list[Record]
    plan_group_plans: dict[str, list[Record]]
    invoices: list[Record]
    subscription_events: list[Record]
    contacts: list[Record]
    customer_notes: list[Record]
    opportunities: list[Record]
    tasks: list[Record]
    sort_stamps: dict[str, str] = field(default_factory=dict, repr=False)
    _cache: dict[str, tuple[tuple[int, int], Any]] = field(default_factory=dict, repr=False)

    def derived(self, name: str, source: list, build: Callable[[], Any]) -> Any:
        """`build()` cached until `source` is replaced or changes length (cheap staleness check that
        keeps indexes fast for the benchmark yet follows tests that add or remove records)."""
        token = (id(source), len(source))
        hit = self._cache.get(name)
        if hit is None or hit[0] != token:
            hit = (token, build())
            self._cache[name] = hit
        return hit[1]

    # -- metrics (§7) ----------------------------------------------------------------------------

    def _metrics_index(self, customers: frozenset[str] | None = None) -> _MetricsIndex:
        if customers is None:
            return self.derived("metrics", self.activities, lambda: _build_metrics_index(self.activities))
        return self.derived(
            "metrics of " + ",".join(sorted(customers)),
            self.activities,
            lambda: _build_metrics_index([a for a in self.activities if a["customer-uuid"] in customers]),
        )

    def select_customers(
        self, plans: Sequence[str] = (), geo: Sequence[str] = (), filters: Sequence[Condition] = ()
    ) -> frozenset[str] | None:
        """The customers that a metrics request's `plans`, `geo` and `filters` select together (§7);
        None when it selects nothing, for the whole account.

        `plans` (names, UUIDs or external ids, case-sensitive) selects the customers who ever had a
        subscription on one of those plans, and the series covers all their MRR: a simplification
        that keeps every metric of a segment consistent (customers, MRR and movements add up).
        """
        if not (plans or geo or filters):
            return None
        chosen = self.customers
        if geo:
            chosen = [c for c in chosen if c["country"] in geo]
        for name, operator, values in filters:
            chosen = [c for c in chosen if (c[CFL_FIELDS[name]] in values) == (operator == "ANY")]
        if plans:
            wanted = {
                (plan["data_source_uuid"], plan["external_id"])
                for plan in self.plans
                if {plan["name"], plan["uuid"], plan["external_id"]} & set(plans)
            }
            on_plans = {
                a["customer-uuid"]
                for a in self.activities
                if (a["billing-connector-uuid"], a["plan-external-id"]) in wanted
            }
            chosen = [c for c in chosen if c["uuid"] in on_plans]
        return frozenset(c["uuid"] for c in chosen)

    def _periods(self, start: dt.date, end: dt.date, interval: str) -> list[tuple[dt.date, dt.date]]:
        """(end of previous period, end of this period) pairs; a period's flows are (prev, end].
        The first period is bounded by its natural start, not by the requested start date."""
        week_start_on = self.account["week_start_on"]
        ends = period_ends(start, end, interval, week_start_on)
        first_prev = _natural_period_start(ends[0], interval, week_start_on) - dt.timedelta(days=1)
        return list(zip([first_prev, *ends[:-1]], ends))

    def customer_count(
        self, start: dt.date, end: dt.date, interval: str = "day", customers: frozenset[str] | None = None
    ) -> list[Record]:
        """`/v1/metrics/customer-count` entries: paying customers at the end of each period."""
        index, entries, previous = self._metrics_index(customers), [], None
        for _, period_end in self._periods(start, end, interval):
            count = index.at(index.customers, period_end)
            entries.append(
                {
                    "date": period_end.isoformat(),
                    "customers": count,
                    "percentage-change": 0.0 if previous is None else percentage_change(count, previous),
                }
            )
            previous = count
        return entries

    def metrics_all(
        self, start: dt.date, end: dt.date, interval: str = "day", customers: frozenset[str] | None = None
    ) -> list[Record]:
        """`/v1/metrics/all` entries (§7): money in integer cents, churn rates as float percents.

        MRR sums movements of all currencies without conversion (the sandbox has no FX table).
        Churn rates relate the period's flows to the value at the end of the previous period;
        ASP is the annualised average new-business MRR of the period; LTV = ARPA / churn rate.
        `customers` (from `select_customers`) computes every metric over those customers only.
        """
        index, entries, previous = self._metrics_index(customers), [], None
        for prev_end, period_end in self._periods(start, end, interval):
            customers = index.at(index.customers, period_end)
            mrr = index.at(index.mrr, period_end)
            start_customers = index.at(index.customers, prev_end)
            start_mrr = index.at(index.mrr, prev_end)
            new_count = index.at(index.new_biz_count, period_end) - index.at(index.new_biz_count, prev_end)
            new_mrr = index.at(index.movements["new_biz"], period_end) - index.at(index.movements["new_biz"], prev_end)
            churned = index.at(index.churn_count, period_end) - index.at(index.churn_count, prev_end)
            net_movement = index.at(index.net_churn_mrr, period_end) - index.at(index.net_churn_mrr, prev_end)
            arpa = mrr // customers if customers else 0
            customer_churn_rate = round(churned / start_customers * 100, 2) if start_customers else 0.0
            values = {
                "mrr": mrr,
                "arr": mrr * 12,
                "customer-churn-rate": customer_churn_rate,
                "mrr-churn-rate": round(-net_movement / start_mrr * 100, 2) if start_mrr else 0.0,
                "ltv": int(arpa / (customer_churn_rate / 100)) if customer_churn_rate else 0,
                "customers": customers,
                "asp": new_mrr * 12 // new_count if new_count else 0,
                "arpa": arpa,
            }
            entry: Record = {"date": period_end.isoformat()}
            for key, value in values.items():
                entry[key] = value
                entry[f"{key}-percentage-change"] = 0.0 if previous is None else percentage_change(value, previous[key])
            entries.append(entry)
            previous = values
        return entries

    def metrics_mrr(
        self, start: dt.date, end: dt.date, interval: str = "day", customers: frozenset[str] | None = None
    ) -> list[Record]:
        """`/v1/metrics/mrr` entries (§7): MRR at the end of each period and its movements in the
        period, each the sum of one activity type's `activity-mrr-movement` (so they add up to the
        change of MRR from the previous period's end)."""
        index, entries, previous = self._metrics_index(customers), [], None
        for prev_end, period_end in self._periods(start, end, interval):
            mrr = index.at(index.mrr, period_end)
            entry: Record = {
                "date": period_end.isoformat(),
                "mrr": mrr,
                "percentage-change": 0.0 if previous is None else percentage_change(mrr, previous),
            }
            for key, kind in MRR_MOVEMENTS.items():
                entry[key] = index.at(index.movements[kind], period_end) - index.at(index.movements[kind], prev_end)
            entries.append(entry)
            previous = mrr
        return entries


def parse_cfl(text: str) -> list[Condition]:
    """The conditions of a CFL `filters` string that the sandbox supports; ValueError says what it does not."""
    conditions = []
    for condition in text.split("~AND~"):
        parts = condition.split("~", 2)
        if len(parts) != 3:
            raise ValueError(f"Invalid filter condition '{condition}', expected filter~OPERATOR~value")
        name, operator, raw = parts
        if name not in CFL_FIELDS:
            raise ValueError(f"Unsupported filter '{name}'")
        if operator not in CFL_OPERATORS:
            raise ValueError(f"Unsupported operator '{operator}' for filter '{name}'")
        values = raw.split(",")
        if not all(re.fullmatch(r"'[^']*'", value) for value in values):
            raise ValueError(f"Invalid value {raw} for filter '{name}': quote each value in single quotes")
        conditions.append((name, operator, frozenset(value[1:-1] for value in values)))
    return conditions


def _build_metrics_index(activities: list[Record]) -> _MetricsIndex:
    days, sums = [], [[0] for _ in range(5)]
    customers, mrr, nb_count, churns, net = sums
    movements: dict[str, list[int]] = {kind: [0] for kind in ACTIVITY_TYPES}
    for activity in activities:
        kind, movement = activity["type"], activity["activity-mrr-movement"]
        days.append(dt.date.fromisoformat(activity["date"][:10]).toordinal())
        customers.append(customers[-1] + {"new_biz": 1, "reactivation": 1, "churn": -1}.get(kind, 0))
        mrr.append(mrr[-1] + movement)
        for other, series in movements.items():
            series.append(series[-1] + (movement if other == kind else 0))
        nb_count.append(nb_count[-1] + (kind == "new_biz"))
        churns.append(churns[-1] + (kind == "churn"))
        net.append(net[-1] + (movement if kind != "new_biz" else 0))
    return _MetricsIndex(days, customers, mrr, movements, nb_count, churns, net)


def _natural_period_start(period_end: dt.date, interval: str, week_start_on: str) -> dt.date:
    if interval == "week":
        return period_end - dt.timedelta(days=(period_end.weekday() - (0 if week_start_on == "monday" else 6)) % 7)
    if interval == "month":
        return period_end.replace(day=1)
    if interval == "quarter":
        return dt.date(period_end.year, (period_end.month - 1) // 3 * 3 + 1, 1)
    if interval == "year":
        return dt.date(period_end.year, 1, 1)
    return period_end


# ---------------------------------------------------------------------------------------------------
# Generation.

_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # version nibble and variant bits
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


@dataclass
class _Sub:
    """Generation-time state of one subscription (not served as is)."""

    id: int
    uuid: str
    external_id: str
    set_external_id: str
    plan: Record
    unit_mrr: int
    quantity: int
    state: str = "pending"  # pending -> active <-> churned
    mrr: int = 0
    base_mrr: int = 0
    started: int = 0
    ended: int = 0


class _Builder:
    def __init__(self, seed: int, today: dt.date, future_days: int = FUTURE_DAYS):
        self.rng = random.Random(seed)
        self.today = today
        self.future_days = future_days
        self.today_end = _epoch(today) + DAY - 1
        self.history_start = _epoch(HISTORY_START)
        self.stamps: dict[str, str] = {}
        self._next_ids = {"customer": 110_000_000, "subscription": 2_290_000_000, "event": 374_000_000}

    # -- primitives --------------------------------------------------------------------------------

    def uuid(self, prefix: str = "") -> str:
        """Same string as `str(uuid.UUID(int=rng.getrandbits(128), version=4))`, 3x faster (the
        benchmark builds 200k activities)."""
        n = self.rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET
        h = f"{n:032x}"
        return f"{prefix}{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def next_id(self, kind: str) -> int:
        self._next_ids[kind] += self.rng.randint(1, 997)
        return self._next_ids[kind]

    def created_ns(self, low: int, high: int) -> int:
        return self.rng.randint(low, high) * 10**9 + self.rng.randrange(10**9)

    def stamp(self, record_id: Any, ts_ns: int) -> None:
        self.stamps[str(record_id)] = iso_ns(ts_ns)

    def hexid(self, n: int = 10) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    # -- resources ---------------------------------------------------------------------------------

    def account(self) -> Record:
        return {
            "id": self.uuid("acc_"),
            "name": "Sandbox Analytics GmbH",
            "currency": "USD",
            "time_zone": "Europe/Berlin",
            "week_start_on": "monday",
        }

    def data_sources(self) -> list[Record]:
        sources = []
        for name, system, *_ in DATA_SOURCES:
            created = self.history_start - self.rng.randint(30, 400) * DAY
            sources.append(
                {
                    "uuid": self.uuid("ds_"),
                    "name": name,
                    "system": system,
                    "created_at": iso_ms(created * 1000 + self.rng.randrange(1000)),
                    "status": DATA_SOURCES[len(sources)][4],
                }
            )
        return sources

    def plans(self, sources: list[Record]) -> list[Record]:
        plans = []
        for ds_index, source in enumerate(sources[:3]):  # the never-imported source has no plans
            for tier, monthly_price in PLAN_TIERS:
                for unit, count, suffix, months in PLAN_CYCLES:
                    if ds_index and self.rng.random() < 0.3:
                        continue
                    slug = f"{tier}_{suffix}".lower()
                    plan = {
                        "uuid": self.uuid("pl_"),
                        "data_source_uuid": source["uuid"],
                        "name": f"{tier} {suffix}",
                        "interval_count": count,
                        "interval_unit": unit,
                        "external_id": slug if ds_index == 0 else f"{slug}_{self.hexid(6)}",
                    }
                    plan_created = self.created_ns(self.history_start - 300 * DAY, self.today_end - 30 * DAY)
                    self.stamp(plan["uuid"], plan_created)
                    plans.append((plan, max(100, round(monthly_price * (0.85 if months >= 12 else 1)))))
        self.plan_prices = {plan["uuid"]: price for plan, price in plans}
        return _newest_first([plan for plan, _ in plans], self.stamps, "uuid")

    def plan_groups(self, plans: list[Record]) -> tuple[list[Record], dict[str, list[Record]]]:
        groups, members = [], {}
        names = (
            "Self-serve",
            "Sales-led",
            "Legacy",
            "Annual",
            "Monthly",
            "EU",
            "US",
            "Startups",
            "Enterprise",
            "Partners",
            "Non-profit",
            "Education",
        )
        for index in range(24):
            group = {
                "uuid": self.uuid("plg_"),
                "name": f"{names[index % len(names)]} plans {index + 1}",
                "plans_count": 0,
            }
            chosen = self.rng.sample(plans, self.rng.randint(1, min(8, len(plans))))
            members[group["uuid"]] = [plan for plan in plans if plan in chosen]  # keep the plans' order
            group["plans_count"] = len(chosen)
            self.stamp(group["uuid"], self.created_ns(self.history_start, self.today_end - 7 * DAY))
            groups.append(group)
        groups[-1]["plans_count"] = 0  # an empty group: its /plans list is empty, cursor null (§4.2)
        members[groups[-1]["uuid"]] = []
        return _newest_first(groups, self.stamps, "uuid"), members

    def customers_and_activities(self, n_customers: int, n_activities: int, sources, plans):
        rng = self.rng
        n_paying = (
            min(n_activities, n_customers - max(1, n_customers // 8))
            if n_customers > 1
            else min(n_activities, n_customers)
        )
        paying = set(rng.sample(range(n_customers), n_paying))
        plans_by_source: dict[str, list[Record]] = {}
        for plan in plans:
            plans_by_source.setdefault(plan["data_source_uuid"], []).append(plan)

        customers, subs_by_customer, spans = [], {}, []
        span = self.today_end - DAY - self.history_start
        for index in range(n_customers):
            since = self.history_start + int(span * rng.random() ** 0.6) if index in paying else None
            customer = self._customer(index, sources[:3], since)
            customers.append(customer)
            subs_by_customer[customer["uuid"]] = []
            if since is not None:
                spans.append((customer, since))

        # Every paying customer starts with new business; the rest spread by tenure.
        counts = {customer["uuid"]: 1 for customer, _ in spans}
        if spans and n_activities > len(spans):
            weights = [self.today_end - since + 30 * DAY for _, since in spans]
            for customer, _ in rng.choices(spans, weights=weights, k=n_activities - len(spans)):
                counts[customer["uuid"]] += 1

        activities: list[Record] = []
        events_seed: list[tuple[Record, _Sub, str, int, int]] = []
        for customer, since in spans:
            source_plans = plans_by_source[customer["data_source_uuid"]]
            subs = self._subscriptions(customer, source_plans)
            horizon = self.today_end + (self.future_days * DAY if rng.random() < 0.25 else 0)
            snapshot = self._timeline(customer, since, horizon, counts[customer["uuid"]], subs, activities, events_seed)
            subs_by_customer[customer["uuid"]] = [
                self._subscription_record(customer, sub, state)
                for sub, state in zip(subs, snapshot)
                if state[0] != "pending"
            ]
            mrr = sum(state[1] for state in snapshot)
            customer["mrr"], customer["arr"] = mrr, mrr * 12
            customer["status"] = ("Past Due" if rng.random() < 0.05 else "Active") if mrr else "Cancelled"

        activities.sort(key=lambda a: (a["date"], a["uuid"]))
        customers.sort(key=lambda c: (utc_stamp(c["customer-since"]), c["id"]))
        return customers, activities, subs_by_customer, events_seed

    def _customer(self, index: int, sources: list[Record], since: int | None) -> Record:
        rng = self.rng
        source_index = rng.choices(range(len(sources)), weights=(60, 25, 15))[0]
        source = sources[source_index]
        _, _, billing_type, url_template, _ = DATA_SOURCES[source_index]
        if index < len(SPECIAL_NAMES):
            name = SPECIAL_NAMES[index]
        else:
            name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        company = "" if rng.random() < 0.1 else f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_SUFFIXES)}".strip()
        slug = "".join(ch for ch in name.lower().replace(" ", ".") if ch.isascii() and (ch.isalnum() or ch == "."))
        email = "" if rng.random() < 0.06 else f"{slug or 'customer'}{index}@example.com"
        country, country_name, state, state_name, city, zip_code = rng.choice(LOCATIONS)
        if rng.random() < 0.08:
            country = country_name = state = state_name = zip_code = None
            city = ""
        elif rng.random() < 0.1:
            zip_code = None
        external_id = f"cus_{self.hexid(14)}" if source_index == 0 else f"C-{index:05d}"
        currency, sign = rng.choices([(c, s) for c, s, _ in CURRENCIES], weights=[w for *_, w in CURRENCIES])[0]
        customer_id = self.next_id("customer")
        ds_uuids = [source["uuid"]] + (
            [sources[(source_index + 1) % len(sources)]["uuid"]] if rng.random() < 0.07 else []
        )
        external_ids = [external_id] + ([f"merged_{self.hexid(8)}"] if len(ds_uuids) > 1 else [])
        if since is None:
            customer_since = None
            lead_created = self.today_end - rng.randint(1, 700) * DAY - rng.randrange(DAY)
            status = rng.choice(LEAD_STATUSES)
        else:
            # A few records carry a non-UTC offset, as in the docs' example (§5.3).
            customer_since = iso_offset(since, -4 if rng.random() < 0.04 else 0)
            lead_created = since - rng.randint(1, 90) * DAY if rng.random() < 0.5 else None
            status = "Active"
        trial = None
        if lead_created is not None and rng.random() < 0.5:
            trial = lead_created + rng.randint(0, 14) * DAY
        attributes = {
            "tags": rng.sample(TAGS, rng.choice((0, 0, 1, 2))),
            "stripe": {"coupon": rng.random() < 0.5, "uid": self.hexid(8)}
            if source_index == 0 and rng.random() < 0.4
            else {},
            "clearbit": {"company": {"name": company, "employees": rng.randint(1, 5000)}}
            if company and rng.random() < 0.2
            else {},
            "custom": {"Toggle": rng.random() < 0.5, "Channel": rng.choice(("ads", "organic", "referral"))}
            if rng.random() < 0.5
            else {},
        }
        return {
            "id": customer_id,
            "uuid": self.uuid("cus_"),
            "external_id": external_id,
            "name": name,
            "email": email,
            "status": status,
            "customer-since": customer_since,
            "attributes": attributes,
            "data_source_uuid": source["uuid"],
            "data_source_uuids": ds_uuids,
            "external_ids": external_ids,
            "company": company,
            "country": country,
            "state": state,
            "city": city,
            "zip": zip_code,
            "lead_created_at": iso_ms(lead_created * 1000) if lead_created is not None else None,
            "free_trial_started_at": iso_ms(trial * 1000) if trial is not None else None,
            "address": {"country": country_name, "state": state_name, "city": city, "address_zip": zip_code},
            "mrr": 0,
            "arr": 0,
            "billing-system-url": url_template.format(external_id) if url_template else None,
            "chartmogul-url": f"https://app.chartmogul.com/#/customers/{customer_id}-{(company or name).replace(' ', '_')}",
            "billing-system-type": billing_type,
            "currency": currency,
            "currency-sign": sign,
            "owner": rng.choice(("sales@sandbox.example", "ana@sandbox.example")) if rng.random() < 0.5 else None,
        }

    def _subscriptions(self, customer: Record, source_plans: list[Record]) -> list[_Sub]:
        rng = self.rng
        n = rng.choices((1, 2, 3), weights=(75, 18, 7))[0]
        set_id = f"set_{self.hexid(8)}"
        subs = []
        for _ in range(n):
            plan = rng.choice(source_plans)
            subs.append(
                _Sub(
                    id=self.next_id("subscription"),
                    uuid=self.uuid(),
                    external_id=f"sub_{self.hexid(12)}",
                    set_external_id=set_id if rng.random() < 0.7 else f"set_{self.hexid(8)}",
                    plan=plan,
                    unit_mrr=self.plan_prices[plan["uuid"]],
                    quantity=rng.choice((1, 1, 1, 2, 5, 10)),
                )
            )
        return subs

    def _timeline(self, customer, since, horizon, count, subs, activities, events_seed):
        """Append `count` activities of one customer; return each sub's (state, mrr) as of today."""
        rng = self.rng
        rand = rng.random
        times = [since] + sorted(since + 1 + int(rand() * (horizon - since)) for _ in range(count - 1))
        for i in range(1, count):
            if rand() < 0.35:  # many movements happen at midnight: shared `date` seconds (§6)
                times[i] -= times[i] % DAY
            times[i] = max(times[i], times[i - 1] + 1)  # keep one customer's movements strictly ordered
        common = {
            "currency": customer["currency"],
            "customer-name": customer["name"],
            "customer-uuid": customer["uuid"],
            "customer-external-id": customer["external_id"],
            "billing-connector-uuid": customer["data_source_uuid"],
        }
        snapshot = None
        total = 0
        for i, ts in enumerate(times):
            if snapshot is None and ts > self.today_end:
                snapshot = [(s.state, s.mrr) for s in subs]
            active = [s for s in subs if s.state == "active"]
            r = rand()
            if i == 0:
                kind, sub = "new_biz", subs[0]
                movement = sub.unit_mrr * sub.quantity
            elif not active:
                kind, sub = "reactivation", rng.choice([s for s in subs if s.state == "churned"])
                movement = sub.base_mrr
            elif r < 0.15 and (dormant := [s for s in subs if s.state != "active"]):
                kind, sub = "expansion", rng.choice(dormant)  # another subscription starts or restarts
                movement = sub.base_mrr or sub.unit_mrr * sub.quantity
            elif r < 0.85:
                sub = active[int(rand() * len(active))]
                share = 0.1 + 0.5 * rand()
                if r < 0.55 or sub.mrr < 500:
                    kind, movement = "expansion", max(100, int(sub.mrr * share) // 100 * 100)
                else:
                    kind, movement = "contraction", -max(100, int(sub.mrr * share * 0.8) // 100 * 100)
            else:
                sub = active[int(rand() * len(active))]
                # Losing one of several subscriptions is a contraction; losing the last is churn.
                kind, movement = ("churn" if len(active) == 1 else "contraction"), -sub.mrr
            if sub.state == "pending":
                sub.started = ts
            sub.mrr += movement
            sub.state = "active" if sub.mrr > 0 else "churned"
            if sub.state == "active":
                sub.base_mrr = sub.mrr
            else:
                sub.ended = ts
            total += movement
            plan_name = sub.plan["name"]
            description = {
                "new_biz": f"purchased the {plan_name} plan",
                "expansion": f"upgraded their {plan_name} plan",
                "contraction": (
                    f"downgraded their {plan_name} plan"
                    if sub.state == "active"
                    else f"cancelled their {plan_name} plan"
                ),
                "churn": f"cancelled their {plan_name} plan",
                "reactivation": f"reactivated their {plan_name} plan",
            }[kind]
            activities.append(
                {
                    "description": description,
                    "activity-mrr-movement": movement,
                    "activity-mrr": total,
                    "activity-arr": total * 12,
                    "date": iso_offset(ts),
                    "type": kind,
                    "currency": common["currency"],
                    "subscription-external-id": sub.external_id,
                    "subscription-set-external-id": sub.set_external_id,
                    "plan-external-id": sub.plan["external_id"],
                    "customer-name": common["customer-name"],
                    "customer-uuid": common["customer-uuid"],
                    "customer-external-id": common["customer-external-id"],
                    "billing-connector-uuid": common["billing-connector-uuid"],
                    "uuid": self.uuid(),
                }
            )
            if ts <= self.today_end:
                events_seed.append((customer, sub, kind, ts, movement))
        return snapshot if snapshot is not None else [(s.state, s.mrr) for s in subs]

    def _subscription_record(self, customer: Record, sub: _Sub, state: tuple[str, int]) -> Record:
        status, mrr = state
        plan = sub.plan
        period_days = {"day": 1, "month": 30, "year": 365}[plan["interval_unit"]] * plan["interval_count"]
        if mrr > 0:
            elapsed = max(0, self.today_end - sub.started)
            end = sub.started + (elapsed // (period_days * DAY) + 1) * period_days * DAY
        else:
            end = sub.ended
        return {
            "id": sub.id,
            "external_id": sub.external_id,
            "subscription_set_external_id": sub.set_external_id,
            "quantity": sub.quantity,
            "uuid": sub.uuid,
            "mrr": mrr,
            "arr": mrr * 12,
            "status": "active" if mrr > 0 else "inactive",
            "plan": plan["name"],
            "billing-cycle": plan["interval_unit"],
            "billing-cycle-count": plan["interval_count"],
            "start-date": iso_offset(sub.started),
            "end-date": iso_offset(end),
            "currency": customer["currency"],
            "currency-sign": customer["currency-sign"],
        }

    def invoices(self, paying, subs_by_customer, plans, n) -> list[Record]:
        rng = self.rng
        plan_uuid_by_name = {}
        for plan in plans:
            plan_uuid_by_name.setdefault((plan["data_source_uuid"], plan["name"]), plan["uuid"])
        invoices = []
        for i in range(n if paying else 0):
            customer = paying[i % len(paying)] if i < len(paying) else rng.choice(paying)
            subs = subs_by_customer[customer["uuid"]]
            since = _parse_epoch(customer["customer-since"])
            date_ms = rng.randint(since, max(since, self.today_end - DAY)) * 1000
            line_items = []
            for sub in rng.sample(subs, min(len(subs), rng.randint(1, 2))):
                amount = max(100, sub["mrr"] or 1900)
                discount = rng.choice((0, 0, 0, amount // 10))
                line_items.append(
                    {
                        "uuid": self.uuid("li_"),
                        "external_id": f"li_{self.hexid(8)}" if rng.random() < 0.8 else None,
                        "type": "subscription",
                        "subscription_uuid": self.uuid("sub_"),
                        "subscription_external_id": sub["external_id"],
                        "subscription_set_external_id": sub["subscription_set_external_id"],
                        "plan_uuid": plan_uuid_by_name.get((customer["data_source_uuid"], sub["plan"])),
                        "prorated": rng.random() < 0.1,
                        "proration_type": None,
                        "service_period_start": iso_ms(date_ms),
                        "service_period_end": iso_ms(date_ms + 30 * DAY * 1000),
                        "amount_in_cents": amount - discount,
                        "quantity": sub["quantity"],
                        "discount_code": "LAUNCH10" if discount else "",
                        "discount_amount_in_cents": discount,
                        "discount_description": "Launch discount" if discount else None,
                        "tax_amount_in_cents": (amount - discount) // 5,
                        "transaction_fees_in_cents": 0,
                        "transaction_fees_currency": None,
                        "account_code": "",
                        "description": None,
                        "event_order": None,
                        "balance_transfer": None,
                    }
                )
            if not line_items or rng.random() < 0.15:
                amount = rng.choice((500, 2500, 9900))
                line_items.append(
                    {
                        "uuid": self.uuid("li_"),
                        "external_id": None,
                        "type": "one_time",
                        "subscription_uuid": None,
                        "subscription_external_id": None,
                        "subscription_set_external_id": None,
                        "plan_uuid": None,
                        "prorated": False,
                        "proration_type": None,
                        "service_period_start": None,
                        "service_period_end": None,
                        "amount_in_cents": amount,
                        "quantity": 1,
                        "discount_code": "",
                        "discount_amount_in_cents": 0,
                        "discount_description": None,
                        "tax_amount_in_cents": amount // 5,
                        "transaction_fees_in_cents": rng.choice((0, 30)),
                        "transaction_fees_currency": None,
                        "account_code": rng.choice(("", "ONB-001")),
                        "description": "Onboarding session",
                        "event_order": None,
                        "balance_transfer": None,
                    }
                )
            total = sum(item["amount_in_cents"] + item["tax_amount_in_cents"] for item in line_items)
            transactions = []
            for kind, result in rng.choice(
                (
                    (),
                    (("payment", "successful"),),
                    (("payment", "successful"),),
                    (("payment", "failed"), ("payment", "successful")),
                    (("payment", "successful"), ("refund", "successful")),
                )
            ):
                transactions.append(
                    {
                        "uuid": self.uuid("tr_"),
                        "external_id": f"tr_{self.hexid(10)}",
                        "type": kind,
                        "date": iso_ms(date_ms + rng.randint(0, 3 * DAY) * 1000),
                        "result": result,
                        # The recorded API returns null amounts (§5.9); keep some.
                        "amount_in_cents": total if rng.random() < 0.7 else None,
                        "transaction_fees_in_cents": rng.choice((None, 0, 59)),
                        "transaction_fees_currency": rng.choice((None, customer["currency"])),
                        "disabled": False,
                        "disabled_at": None,
                        "disabled_by": None,
                    }
                )
            disabled = rng.random() < 0.03
            invoice = {
                "uuid": self.uuid("inv_"),
                "external_id": f"INV-{i + 1:06d}",
                "customer_uuid": customer["uuid"],
                "customer_external_id": customer["external_id"],
                "data_source_uuid": customer["data_source_uuid"],
                "date": iso_ms(date_ms),
                "due_date": iso_ms(date_ms + 14 * DAY * 1000) if rng.random() < 0.8 else None,
                "currency": customer["currency"],
                "collection_method": rng.choice(("automatic", "automatic", "manual")),
                "status": "paid"
                if any(t["type"] == "payment" and t["result"] == "successful" for t in transactions)
                else "open",
                "disabled": disabled,
                "disabled_at": iso_ms(date_ms + DAY * 1000) if disabled else None,
                "disabled_by": "ana@sandbox.example" if disabled else None,
                "user_created": rng.random() < 0.1,
                "edit_history_summary": {},
                "errors": {},
                "line_items": line_items,
                "transactions": transactions,
            }
            self.stamp(invoice["uuid"], (date_ms // 1000 + rng.randint(60, 3600)) * 10**9 + rng.randrange(10**9))
            invoices.append(invoice)
        return _newest_first(invoices, self.stamps, "uuid")

    def subscription_events(self, seeds, n) -> list[Record]:
        rng = self.rng
        events = []
        # One event per sampled past activity; when there are fewer activities than wanted, the
        # same movements are re-sent later (billing systems do resend events).
        picks = rng.sample(seeds, n) if len(seeds) >= n else [seeds[i % len(seeds)] for i in range(n if seeds else 0)]
        for i, (customer, sub, kind, ts, movement) in enumerate(picks):
            resend = i // len(seeds)
            event_type = EVENT_TYPE_FOR_ACTIVITY[kind]
            event_ts = min(ts + resend * rng.randint(1, 30) * DAY, self.today_end)
            if rng.random() < 0.08:
                event_type = rng.choice(
                    (
                        "subscription_cancellation_scheduled",
                        "subscription_update_scheduled",
                        "subscription_event_retracted",
                    )
                )
            cancelled = event_type in ("subscription_cancelled", "subscription_cancellation_scheduled")
            created = min(event_ts + rng.randint(0, 2 * DAY), self.today_end)
            event = {
                "id": 0,
                "data_source_uuid": customer["data_source_uuid"],
                "customer_external_id": customer["external_id"],
                "subscription_set_external_id": sub.set_external_id if rng.random() < 0.6 else None,
                "subscription_external_id": sub.external_id,
                "plan_external_id": sub.plan["external_id"],
                "event_date": iso_z(event_ts),
                "effective_date": iso_z(event_ts + rng.choice((0, 0, DAY))),
                "event_type": event_type,
                "external_id": f"evt_{self.hexid(10)}" if rng.random() < 0.5 else None,
                "errors": {},
                "created_at": iso_z(created),
                "updated_at": iso_z(created + rng.choice((0, 0, 3600))),
                # Cancellations carry no amounts; null (not the once-recorded "") keeps the ints honest (§5.10, §8).
                "quantity": None if cancelled else sub.quantity,
                "currency": customer["currency"],
                "amount_in_cents": None if cancelled else abs(movement) or sub.unit_mrr,
                "tax_amount_in_cents": None if cancelled else 0,
                "retracted_event_id": None,
            }
            events.append((created * 10**9 + rng.randrange(10**9), event))
        events.sort(key=lambda pair: pair[0])
        for created_ns, event in events:  # ids grow with creation, like the recorded ones
            event["id"] = self.next_id("event")
            self.stamp(event["id"], created_ns)
        for position, (_, event) in enumerate(events):
            if event["event_type"] == "subscription_event_retracted" and position:
                event["retracted_event_id"] = events[position - 1][1]["id"]
        return _newest_first([event for _, event in events], self.stamps, "id")

    def contacts(self, customers, n) -> list[Record]:
        rng = self.rng
        contacts = []
        for i in range(n):
            customer = customers[i % len(customers)]
            first = rng.choice(FIRST_NAMES + ("Zoë", "Jürgen", "太郎"))
            sparse = rng.random() < 0.3  # many contacts only have an email or a name (§5.11: all nullable)
            contact = {
                "uuid": self.uuid("con_"),
                "customer_uuid": customer["uuid"],
                "customer_external_id": customer["external_id"],
                "data_source_uuid": customer["data_source_uuid"],
                "position": rng.randint(1, 9),
                "first_name": None if sparse and rng.random() < 0.5 else first,
                "last_name": None if sparse else rng.choice(LAST_NAMES),
                "title": None if sparse else rng.choice(("CTO", "CEO", "Head of Finance", "Engineer")),
                "email": f"contact{i}@example.com" if rng.random() < 0.9 else None,
                "phone": None if sparse else f"+1{rng.randint(2000000000, 9999999999)}",
                "linked_in": None if rng.random() < 0.6 else f"https://linkedin.com/in/contact{i}",
                "twitter": None if rng.random() < 0.7 else f"https://twitter.com/contact{i}",
                "notes": None if rng.random() < 0.7 else "Heading\nBody\nFooter",
                "custom": {} if rng.random() < 0.6 else {"Toggle": rng.random() < 0.5},
                "external_id": None if rng.random() < 0.5 else f"ext_con_{i}",
                "last_seen": None
                if rng.random() < 0.5
                else iso_ms(self.created_ns(self.today_end - 90 * DAY, self.today_end) // 10**6),
            }
            self.stamp(contact["uuid"], self.created_ns(self.history_start, self.today_end))
            contacts.append(contact)
        return _newest_first(contacts, self.stamps, "uuid")

    def customer_notes(self, customers, n) -> list[Record]:
        rng = self.rng
        notes = []
        for i in range(n):
            customer = customers[i % len(customers)]
            created_ns = self.created_ns(self.history_start, self.today_end)
            kind = rng.choice(("note", "note", "call"))
            author = rng.choice(
                ("Ana Sales (ana@sandbox.example)", "Soeun Lee[staff-user-2] (soeun+staff@sandbox.example)")
            )
            updated_ms = created_ns // 10**6 + rng.choice((0, 0, rng.randint(1, 10**7)))
            note = {
                "uuid": self.uuid("note_"),
                "customer_uuid": customer["uuid"],
                "type": kind,
                "text": rng.choice(
                    ("Renewal call", "Asked about SSO ✅", "Prefers email.\nFollow up in Q3", "Übergabe an Vertrieb")
                ),
                "call_duration": rng.randint(30, 3600) if kind == "call" else 0,
                "author": author,
                "created_at": iso_ms(created_ns // 10**6),
                "updated_at": iso_ms(updated_ms),
            }
            self.stamp(note["uuid"], created_ns)
            notes.append(note)
        return _newest_first(notes, self.stamps, "uuid")

    def opportunities(self, customers, n) -> list[Record]:
        rng = self.rng
        stages = (
            ("New Business", ("Discovery", "Evaluation", "Negotiation", "Won", "Lost")),
            ("Expansion", ("Qualified", "Proposal", "Won", "Lost")),
        )
        result = []
        for i in range(n):
            customer = customers[i % len(customers)]
            created_ns = self.created_ns(self.today_end - 900 * DAY, self.today_end)
            pipeline, pipeline_stages = rng.choice(stages)
            stage = rng.choice(pipeline_stages)
            category = {"Won": "won", "Lost": "lost"}.get(stage, rng.choice(("pipeline", "best_case", "committed")))
            close = dt.date.fromordinal(
                dt.datetime.fromtimestamp(created_ns // 10**9, dt.timezone.utc).toordinal() + rng.randint(7, 180)
            )
            opportunity = {
                "uuid": self.uuid(),
                "customer_uuid": customer["uuid"],
                "owner": rng.choice(("sales@sandbox.example", "ana@sandbox.example")),
                "pipeline": pipeline,
                "pipeline_stage": stage,
                "estimated_close_date": close.isoformat(),
                "currency": customer["currency"],
                "amount_in_cents": rng.randint(10, 5000) * 100,
                "type": rng.choice(("recurring", "recurring", "one-time")),
                "forecast_category": category,
                "win_likelihood": {"won": 100, "lost": 0}.get(category, rng.randint(5, 95)),
                "custom": {} if rng.random() < 0.5 else {"from_campaign": rng.random() < 0.5},
                "created_at": iso_ms(created_ns // 10**6),
                "updated_at": iso_ms(created_ns // 10**6 + rng.choice((0, rng.randint(1, 10**8)))),
            }
            self.stamp(opportunity["uuid"], created_ns)
            result.append(opportunity)
        return _newest_first(result, self.stamps, "uuid")

    def tasks(self, customers, n) -> list[Record]:
        rng = self.rng
        tasks = []
        for i in range(n):
            customer = customers[i % len(customers)]
            created_ns = self.created_ns(self.today_end - 700 * DAY, self.today_end)
            created_ms = created_ns // 10**6
            due_day = created_ns // 10**9 // DAY * DAY + rng.randint(1, 60) * DAY
            completed = created_ms + rng.randint(1, 20) * DAY * 1000 if rng.random() < 0.4 else None
            task = {
                "task_uuid": self.uuid(),
                "customer_uuid": customer["uuid"],
                "task_details": rng.choice(("Send renewal quote", "Check in after onboarding", "Follow up ☎️")),
                "assignee": rng.choice(("sales@sandbox.example", "ana@sandbox.example")),
                "due_date": iso_ms(due_day * 1000),
                "completed_at": iso_ms(completed) if completed else None,
                "created_at": iso_ms(created_ms),
                "updated_at": iso_ms(completed or created_ms),
            }
            self.stamp(task["task_uuid"], created_ns)
            tasks.append(task)
        return _newest_first(tasks, self.stamps, "task_uuid")


def _newest_first(records: list[Record], stamps: dict[str, str], id_key: str) -> list[Record]:
    """Order of every creation-keyed list: newest first, ties by id descending (§4.2)."""
    return sorted(records, key=lambda r: (stamps[str(r[id_key])], r[id_key]), reverse=True)


def _parse_epoch(value: str) -> int:
    return int(dt.datetime.fromisoformat(value).timestamp())


def build_dataset(
    seed: int = 7,
    customers: int = 300,
    activities: int = 3000,
    today: dt.date | None = None,
    future_days: int = FUTURE_DAYS,
) -> Dataset:
    """Build the whole sandbox dataset; deterministic for its arguments.

    Some activities are scheduled up to `future_days` after today, as in a real account; with
    0 nothing is dated after today, so reads minutes apart see the same activities.
    """
    if customers < 1:
        raise ValueError("customers must be >= 1")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    builder = _Builder(seed, today, future_days)
    account = builder.account()
    sources = builder.data_sources()
    plans = builder.plans(sources)
    plan_groups, plan_group_plans = builder.plan_groups(plans)
    customer_list, activity_list, subs_by_customer, event_seeds = builder.customers_and_activities(
        customers, activities, sources, plans
    )
    paying = [c for c in customer_list if c["customer-since"] is not None]
    many = max(260, customers)  # >= 250 so per_page=200 needs two pages
    return Dataset(
        today=today,
        account=account,
        data_sources=sources,
        customers=customer_list,
        activities=activity_list,
        customer_subscriptions=subs_by_customer,
        plans=plans,
        plan_groups=plan_groups,
        plan_group_plans=plan_group_plans,
        invoices=builder.invoices(paying, subs_by_customer, plans, max(260, len(paying) * 2)),
        subscription_events=builder.subscription_events(event_seeds, many),
        contacts=builder.contacts(customer_list, many),
        customer_notes=builder.customer_notes(customer_list, many),
        opportunities=builder.opportunities(customer_list, many),
        tasks=builder.tasks(customer_list, many),
        sort_stamps=builder.stamps,
    )
