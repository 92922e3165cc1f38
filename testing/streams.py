"""The streams the connector must offer, written out here rather than read from
`source_chartmogul.streams`: a stream the connector drops or renames fails the tests."""

FULL_REFRESH_STREAMS = (
    "customers",
    "customer_count",
    "metrics",
    "mrr",
    "segment_metrics",
    "segment_mrr",
    "customer_daily_count",
    "customer_weekly_count",
    "customer_monthly_count",
    "customer_quarterly_count",
    "account",
    "data_sources",
    "plans",
    "plan_groups",
    "plan_group_plans",
    "invoices",
    "invoice_line_items",
    "invoice_transactions",
    "subscription_events",
    "customer_subscriptions",
    "contacts",
    "customer_notes",
    "opportunities",
    "tasks",
)
ALL_STREAMS = ("activities",) + FULL_REFRESH_STREAMS  # activities alone reads incrementally too

# The customer counts of a fixed interval; customer_count follows the config's.
COUNT_INTERVALS = {
    "customer_daily_count": "day",
    "customer_weekly_count": "week",
    "customer_monthly_count": "month",
    "customer_quarterly_count": "quarter",
}
# A metrics series per segment of the config, and the series it is.
SEGMENT_STREAMS = {"segment_metrics": "metrics", "segment_mrr": "mrr"}
# An invoice's nested items as a stream of their own, and the invoice's list they come from.
INVOICE_ITEM_STREAMS = {"invoice_line_items": "line_items", "invoice_transactions": "transactions"}

# The fields of each stream's primary key, in order; account is one record and has none.
PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "customers": ("id",),
    "activities": ("uuid",),
    "customer_count": ("date",),
    **{stream: ("date",) for stream in COUNT_INTERVALS},
    "metrics": ("date",),
    "mrr": ("date",),
    "segment_metrics": ("segment", "date"),
    "segment_mrr": ("segment", "date"),
    "account": (),
    "data_sources": ("uuid",),
    "plans": ("uuid",),
    "plan_groups": ("uuid",),
    "plan_group_plans": ("plan_group_uuid", "uuid"),
    "invoices": ("uuid",),
    "invoice_line_items": ("uuid",),
    "invoice_transactions": ("uuid",),
    "subscription_events": ("id",),
    "customer_subscriptions": ("customer_uuid", "uuid"),
    "contacts": ("uuid",),
    "customer_notes": ("uuid",),
    "opportunities": ("uuid",),
    "tasks": ("task_uuid",),
}


def key_of(record: dict, stream: str) -> tuple:
    """The record's primary key as its stream declares it."""
    return tuple(record[field] for field in PRIMARY_KEYS[stream])


def catalog(streams, incremental=()) -> dict:
    """A configured catalog as JSON: each stream in full refresh, or incremental if in `incremental`."""

    def entry(name):
        mode = "incremental" if name in incremental else "full_refresh"
        return {
            "stream": {
                "name": name,
                "json_schema": {},
                "supported_sync_modes": ["full_refresh", "incremental"],
                "source_defined_cursor": True,
            },
            "sync_mode": mode,
            "destination_sync_mode": "append",
            **({"cursor_field": ["date"]} if mode == "incremental" else {}),
        }

    return {"streams": [entry(name) for name in streams]}
