"""Every stream, declared. Paging styles live in base.py, activities in activities.py.

References: https://dev.chartmogul.com/reference and docs/api-notes.md (§ numbers).
"""

from .activities import Activities
from .base import CursorStream, FanOutStream, MetricsStream, NestedStream, ObjectStream, PerSegment, UnpagedStream


class Customers(CursorStream):
    """GET /v1/customers (§5.3). No date filter, so full refresh only."""

    primary_key = "id"

    def path(self, **kwargs) -> str:
        return "customers"


class CustomerCount(MetricsStream):
    """GET /v1/metrics/customer-count at the configured interval (§7)."""

    def path(self, **kwargs) -> str:
        return "metrics/customer-count"


class CustomerDailyCount(CustomerCount):
    """The published 1.x connector's per-interval streams, kept by name for its users."""

    interval = "day"


class CustomerWeeklyCount(CustomerCount):
    interval = "week"


class CustomerMonthlyCount(CustomerCount):
    interval = "month"


class CustomerQuarterlyCount(CustomerCount):
    interval = "quarter"


class Metrics(MetricsStream):
    """GET /v1/metrics/all: MRR, ARR, ARPA, ASP, LTV, customers and churn rates per period (§7)."""

    def path(self, **kwargs) -> str:
        return "metrics/all"


class Mrr(MetricsStream):
    """GET /v1/metrics/mrr (§7): MRR per period and where it came from, in integer cents: new
    business, expansion, reactivation; contraction and churn (negative)."""

    def path(self, **kwargs) -> str:
        return "metrics/mrr"


class SegmentMetrics(PerSegment, Metrics):
    """`metrics` for each segment of the config."""


class SegmentMrr(PerSegment, Mrr):
    """`mrr` for each segment of the config."""


class Account(ObjectStream):
    """GET /v1/account (§5.1): one record."""

    def path(self, **kwargs) -> str:
        return "account"


class DataSources(UnpagedStream):
    """GET /v1/data_sources (§5.2): not paginated."""

    envelope = "data_sources"

    def path(self, **kwargs) -> str:
        return "data_sources"


class Plans(CursorStream):
    """GET /v1/plans (§5.7)."""

    envelope = "plans"

    def path(self, **kwargs) -> str:
        return "plans"


class PlanGroups(CursorStream):
    """GET /v1/plan_groups (§5.8)."""

    envelope = "plan_groups"

    def path(self, **kwargs) -> str:
        return "plan_groups"


class PlanGroupPlans(FanOutStream):
    """GET /v1/plan_groups/{uuid}/plans (§5.8): which plans each plan group holds."""

    envelope = "plans"
    primary_key = ["plan_group_uuid", "uuid"]
    parent_key_name = "plan_group_uuid"
    ignore_not_found = True  # a plan group deleted during the sync

    def path(self, stream_slice=None, **kwargs) -> str:
        return f"plan_groups/{stream_slice['plan_group_uuid']}/plans"

    def parent_stream(self) -> CursorStream:
        return PlanGroups(self.settings)


class Invoices(CursorStream):
    """GET /v1/invoices (§5.9), line items and transactions nested as served."""

    envelope = "invoices"

    def path(self, **kwargs) -> str:
        return "invoices"


class InvoiceLineItems(NestedStream, Invoices):
    """Every line item of every invoice (§5.9), one record each, with its invoice's uuid and customer."""

    nested = "line_items"
    parent_fields = {"uuid": "invoice_uuid", "customer_uuid": "customer_uuid"}


class InvoiceTransactions(NestedStream, Invoices):
    """Every payment and refund of every invoice (§5.9), one record each, with its invoice's uuid and customer."""

    nested = "transactions"
    parent_fields = {"uuid": "invoice_uuid", "customer_uuid": "customer_uuid"}


class SubscriptionEvents(CursorStream):
    """GET /v1/subscription_events (§5.10)."""

    envelope = "subscription_events"
    primary_key = "id"

    def path(self, **kwargs) -> str:
        return "subscription_events"


class CustomerSubscriptions(FanOutStream):
    """GET /v1/customers/{uuid}/subscriptions (§5.4): one request chain per customer.

    A customer deleted between the customers page and its request answers 404: skipped
    with a warning.
    """

    primary_key = ["customer_uuid", "uuid"]
    parent_key_name = "customer_uuid"
    ignore_not_found = True

    def path(self, stream_slice=None, **kwargs) -> str:
        return f"customers/{stream_slice['customer_uuid']}/subscriptions"

    def parent_stream(self) -> CursorStream:
        return Customers(self.settings)


class Contacts(CursorStream):
    """GET /v1/contacts (§5.11)."""

    def path(self, **kwargs) -> str:
        return "contacts"


class CustomerNotes(CursorStream):
    """GET /v1/customer_notes (§5.12): notes and call logs."""

    def path(self, **kwargs) -> str:
        return "customer_notes"


class Opportunities(CursorStream):
    """GET /v1/opportunities (§5.13)."""

    def path(self, **kwargs) -> str:
        return "opportunities"


class Tasks(CursorStream):
    """GET /v1/tasks (§5.14): keyed by task_uuid."""

    primary_key = "task_uuid"

    def path(self, **kwargs) -> str:
        return "tasks"


ALL_STREAMS = (
    Customers,
    Activities,
    CustomerCount,
    Metrics,
    Mrr,
    SegmentMetrics,
    SegmentMrr,
    CustomerDailyCount,
    CustomerWeeklyCount,
    CustomerMonthlyCount,
    CustomerQuarterlyCount,
    Account,
    DataSources,
    Plans,
    PlanGroups,
    PlanGroupPlans,
    Invoices,
    InvoiceLineItems,
    InvoiceTransactions,
    SubscriptionEvents,
    CustomerSubscriptions,
    Contacts,
    CustomerNotes,
    Opportunities,
    Tasks,
)
