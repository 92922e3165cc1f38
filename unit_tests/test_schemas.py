"""Pin the stream schemas against the records recorded from the live ChartMogul API.

The records of testing/records.py are copied verbatim from the sources docs/api-notes.md names (recorded traffic of
ChartMogul's own Ruby client, or the official docs' examples): they are the ground truth the
schemas must accept under a strict Draft-7 validator.
"""

import copy
import json
import re
from datetime import datetime
from pathlib import Path
from unittest.mock import ANY

import pytest
from jsonschema import Draft7Validator, FormatChecker

from testing.records import (
    ACCOUNT,
    ACCOUNT_RECORDED,
    ACTIVITY,
    ACTIVITY_RECORDED,
    CONTACT,
    COUNT_ENTRIES,
    CUSTOMER,
    CUSTOMER_SUBSCRIPTION,
    DATA_SOURCE,
    INVOICE,
    METRICS,
    MRR,
    NOTE,
    OPPORTUNITY,
    PLAN,
    PLAN_GROUP,
    SUBSCRIPTION_EVENT,
    TASK,
)
from testing.streams import ALL_STREAMS, INVOICE_ITEM_STREAMS, PRIMARY_KEYS, SEGMENT_STREAMS

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "source_chartmogul" / "schemas"

STREAMS = set(ALL_STREAMS)  # the tests' one list of the streams the connector must offer
COUNT_STREAMS = sorted(s for s in STREAMS if s.startswith("customer_") and s.endswith("count"))

# jsonschema checks "date-time" only when rfc3339-validator is installed; without it the format is
# silently ignored, so fall back to an RFC 3339 check of our own to keep the format assertions live.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _format_checker() -> FormatChecker:
    checker = copy.deepcopy(Draft7Validator.FORMAT_CHECKER)
    if "date-time" not in checker.checkers:

        @checker.checks("date-time", raises=ValueError)
        def _date_time(value):
            if not isinstance(value, str):
                return True
            if not _RFC3339.match(value):
                return False
            datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00").replace("t", "T"))
            return True

    return checker


FORMAT_CHECKER = _format_checker()


def load_schema(stream):
    return json.loads((SCHEMAS_DIR / f"{stream}.json").read_text())


def validator(stream):
    return Draft7Validator(load_schema(stream), format_checker=FORMAT_CHECKER)


def _with(record, **changes):
    out = copy.deepcopy(record)
    for key, value in changes.items():
        out[key.replace("__", "-")] = value
    return out


PLAN_GROUP_UUID = "plg_5f1af63a-ec94-4688-9127-5eb816d05a8f"
CUSTOMER_UUID = "cus_23740208-2c7e-11ee-9ea2-ffd2435982bb"


def _of_invoice(nested):
    """The invoice's items as the invoice_line_items/invoice_transactions streams emit them."""
    return [
        {**item, "invoice_uuid": INVOICE["uuid"], "customer_uuid": INVOICE["customer_uuid"]} for item in INVOICE[nested]
    ]


# Records as the connector emits them, per stream. Variants built from a recorded record only change
# what the doc says varies (offset forms, keys of newer/optional fields, the recorded empty strings).
VALID_RECORDS = {
    "customers": [
        CUSTOMER,
        # §5.3: docs example shows a non-UTC offset; leads have no customer-since; website_url is optional
        _with(CUSTOMER, customer__since="2023-06-09T13:16:00-04:00", website_url="https://initrode.example"),
        _with(CUSTOMER, customer__since=None, status="New Lead", email="", company=""),
    ],
    "activities": [ACTIVITY, ACTIVITY_RECORDED],
    **{s: [*COUNT_ENTRIES, {"date": "2016-01-31", "customers": 1}] for s in COUNT_STREAMS},
    "metrics": [METRICS, _with(METRICS, ltv=15620.0)],
    "mrr": [MRR],
    "segment_metrics": [_with(METRICS, segment="Europe")],
    "segment_mrr": [_with(MRR, segment="Europe")],
    "account": [
        ACCOUNT,
        ACCOUNT_RECORDED,
        # §5.1 include fields, values from the doc
        _with(
            ACCOUNT,
            churn_recognition="churn_at_time_of_cancelation",
            churn_when_zero_mrr=True,
            auto_churn_subscription=False,
            refund_handling="refund_ignore",
            proximate_movement_reclassification="one_hour_reclassification",
        ),
    ],
    "data_sources": [
        DATA_SOURCE,
        _with(
            DATA_SOURCE,
            status="never_imported",
            processing_status={"processed": 61, "failed": 3, "pending": 8},
            auto_churn_subscription_setting={"enabled": True, "interval": 30},
            invoice_handling_setting={
                "manual": {
                    "create_subscription_when_invoice_is": "open",
                    "prevent_subscription_for_invoice_voided": True,
                },
                "automatic": {"create_subscription_when_invoice_is": "open"},
            },
        ),
    ],
    "plans": [PLAN],
    "plan_groups": [PLAN_GROUP],
    "plan_group_plans": [_with(PLAN, plan_group_uuid=PLAN_GROUP_UUID)],
    "invoices": [
        INVOICE,
        # §5.9: fields of the current docs
        _with(
            INVOICE,
            customer_external_id="cus_002",
            data_source_uuid="ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46",
            collection_method="manual",
            status="paid",
            disabled=False,
            disabled_at=None,
            disabled_by=None,
            user_created=True,
            edit_history_summary={},
        ),
    ],
    "invoice_line_items": _of_invoice("line_items"),
    "invoice_transactions": _of_invoice("transactions")
    # the newer schema's fields (chartmogul-python's api/transaction.py)
    + [_with(_of_invoice("transactions")[0], disabled=False, disabled_at=None, disabled_by=None)],
    "subscription_events": [
        SUBSCRIPTION_EVENT,
        # §5.10: a recorded cancellation carried empty strings
        _with(
            SUBSCRIPTION_EVENT,
            event_type="subscription_cancelled",
            quantity="",
            currency="",
            amount_in_cents="",
        ),
        # §5.10: the docs example key and event_order
        {
            **{k: v for k, v in SUBSCRIPTION_EVENT.items() if k != "customer_external_id"},
            "data_source_customer_external_id": "cus_001",
            "event_order": 100,
        },
    ],
    "customer_subscriptions": [_with(CUSTOMER_SUBSCRIPTION, customer_uuid=CUSTOMER_UUID)],
    "contacts": [
        CONTACT,
        _with(CONTACT, external_id="contact_ext_1", last_seen="2024-01-01T10:00:00.000Z"),
    ],
    "customer_notes": [
        NOTE,
        _with(
            NOTE,
            associated_object="customer",
            associated_object_uuid="cus_58f81bdc-94e6-11ee-ba3e-63f79c1ac982",
        ),
    ],
    "opportunities": [OPPORTUNITY],
    "tasks": [
        TASK,
        _with(
            TASK,
            completed_at="2025-04-29T08:00:00Z",
            associated_object="customer",
            associated_object_uuid="cus_9c8cc2bd-762e-4d93-ae34-1cfb53a53f64",
        ),
    ],
}

# Top-level fields each stream's schema must accept as null (doc: nullable, or unconfirmed and plausible).
NULLABLE = {
    "customers": {
        "customer-since",
        "lead_created_at",
        "free_trial_started_at",
        "country",
        "state",
        "city",
        "zip",
        "address",
        "billing-system-url",
        "owner",
        "website_url",
    },
    "activities": {"subscription-set-external-id"},
    **{s: {"percentage-change"} for s in COUNT_STREAMS},
    "metrics": {"ltv"}
    | {
        f"{m}-percentage-change"
        for m in ["mrr", "arr", "customer-churn-rate", "mrr-churn-rate", "ltv", "customers", "asp", "arpa"]
    },
    "mrr": {"percentage-change"},
    "account": set(),
    "data_sources": {"processing_status", "auto_churn_subscription_setting", "invoice_handling_setting"},
    "plans": set(),
    "plan_groups": set(),
    "plan_group_plans": set(),
    "invoices": {
        "external_id",
        "customer_uuid",
        "customer_external_id",
        "data_source_uuid",
        "due_date",
        "collection_method",
        "status",
        "disabled_at",
        "disabled_by",
        "edit_history_summary",
        "errors",
    },
    "subscription_events": {
        "subscription_set_external_id",
        "subscription_external_id",
        "plan_external_id",
        "event_order",
        "external_id",
        "errors",
        "quantity",
        "currency",
        "amount_in_cents",
        "tax_amount_in_cents",
        "retracted_event_id",
        "disabled",
    },
    "customer_subscriptions": {
        "external_id",
        "subscription_set_external_id",
        "plan",
        "quantity",
        "billing-cycle",
        "billing-cycle-count",
        "end-date",
    },
    "contacts": {
        "customer_uuid",
        "customer_external_id",
        "data_source_uuid",
        "external_id",
        "position",
        "first_name",
        "last_name",
        "title",
        "email",
        "phone",
        "linked_in",
        "twitter",
        "notes",
        "custom",
        "last_seen",
    },
    "customer_notes": {"customer_uuid", "associated_object", "associated_object_uuid"},
    "opportunities": {"custom"},
    "tasks": {"customer_uuid", "completed_at", "associated_object", "associated_object_uuid"},
}

LINE_ITEM_NULLABLE = {
    "external_id",
    "subscription_uuid",
    "subscription_external_id",
    "subscription_set_external_id",
    "plan_uuid",
    "proration_type",
    "service_period_start",
    "service_period_end",
    "discount_code",
    "discount_description",
    "transaction_fees_currency",
    "account_code",
    "description",
    "event_order",
    "balance_transfer",
    "errors",
    "disabled",
    "disabled_at",
    "disabled_by",
}
TRANSACTION_NULLABLE = {
    "external_id",
    "amount_in_cents",
    "transaction_fees_in_cents",
    "transaction_fees_currency",
    "disabled",
    "disabled_at",
    "disabled_by",
}
CUSTOMER_ADDRESS_NULLABLE = {"address_zip", "city", "state", "country"}
NULLABLE["segment_metrics"] = NULLABLE["metrics"]
NULLABLE["segment_mrr"] = NULLABLE["mrr"]
NULLABLE["invoice_line_items"] = LINE_ITEM_NULLABLE | {"customer_uuid"}
NULLABLE["invoice_transactions"] = TRANSACTION_NULLABLE | {"customer_uuid"}

# A wrong type in a non-nullable field, per stream: each must be rejected.
INVALID = {
    "customers": [
        ("id", "114167450"),
        ("mrr", 80.08),
        ("email", None),
        ("external_ids", "cus_002"),
        ("customer-since", "2016-01-01"),
        ("attributes", []),
    ],
    "activities": [("activity-mrr", "6000"), ("uuid", None), ("date", "21/02/2023"), ("plan-external-id", None)],
    **{
        s: [("customers", "379"), ("date", "2023-07-31T00:00:00Z"), ("date", None), ("customers", 3.5)]
        for s in COUNT_STREAMS
    },
    "metrics": [("mrr", "383859969"), ("date", "2022-13-30"), ("customer-churn-rate", None)],
    "mrr": [("mrr", "383859969"), ("mrr-churn", -96.7), ("mrr-new-business", None), ("date", "2022-04-30T00:00:00Z")],
    "segment_metrics": [("segment", None), ("segment", 3), ("mrr", 1.5)],
    "segment_mrr": [("segment", None), ("mrr-expansion", "1502311")],
    "account": [("churn_when_zero_mrr", "true"), ("name", None)],
    "data_sources": [("uuid", None), ("created_at", "yesterday"), ("processing_status", [])],
    "plans": [("interval_count", "7"), ("uuid", None)],
    "plan_groups": [("plans_count", "1"), ("uuid", 5)],
    "plan_group_plans": [("plan_group_uuid", None), ("interval_count", 7.5)],
    "invoices": [("uuid", None), ("line_items", None), ("date", "2016-01-01 12:00:00"), ("user_created", "yes")],
    "invoice_line_items": [("invoice_uuid", None), ("amount_in_cents", "1000"), ("prorated", None), ("uuid", None)],
    "invoice_transactions": [("invoice_uuid", None), ("date", None), ("amount_in_cents", 12.5), ("type", None)],
    "subscription_events": [("id", "374279754"), ("quantity", 1.5), ("event_date", None), ("errors", [])],
    "customer_subscriptions": [("customer_uuid", None), ("mrr", "756"), ("start-date", "2016-02-24")],
    "contacts": [("uuid", None), ("position", "9")],
    "customer_notes": [("uuid", None), ("call_duration", "60")],
    "opportunities": [("amount_in_cents", "50000"), ("estimated_close_date", "2024-03-28T00:00:00Z")],
    "tasks": [("task_uuid", None), ("due_date", "tomorrow")],
}


def _errors(stream, record):
    return [e.message for e in validator(stream).iter_errors(record)]


def test_schema_files_are_exactly_the_streams():
    assert {p.stem for p in SCHEMAS_DIR.glob("*.json")} == STREAMS
    assert set(VALID_RECORDS) == set(NULLABLE) == set(INVALID) == set(PRIMARY_KEYS) == STREAMS


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_schema_is_valid_draft7(stream):
    schema = load_schema(stream)
    Draft7Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["type"] == "object"


def _objects(schema, path="$"):
    if isinstance(schema, dict):
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        if "object" in types:
            yield path, schema
        for key, sub in schema.get("properties", {}).items():
            yield from _objects(sub, f"{path}.{key}")
        if "items" in schema:
            yield from _objects(schema["items"], f"{path}[]")


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_every_object_level_allows_additional_properties(stream):
    for path, sub in _objects(load_schema(stream)):
        assert sub.get("additionalProperties") is True, path


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_primary_keys_are_required_and_not_nullable(stream):
    schema = load_schema(stream)
    assert schema.get("required", []) == list(PRIMARY_KEYS[stream])
    for key in PRIMARY_KEYS[stream]:
        assert "null" not in schema["properties"][key]["type"], key


@pytest.mark.parametrize("stream,series", SEGMENT_STREAMS.items())
def test_a_segment_stream_s_schema_is_its_series_and_the_segment(stream, series):
    schema, base = load_schema(stream), load_schema(series)
    assert schema["properties"] == {"segment": {"type": "string", "description": ANY}, **base["properties"]}
    assert list(schema["properties"]) == ["segment", *base["properties"]]


@pytest.mark.parametrize("stream,nested", INVOICE_ITEM_STREAMS.items())
def test_an_invoice_item_stream_s_schema_is_the_invoice_s_item_and_its_invoice(stream, nested):
    item = load_schema("invoices")["properties"][nested]["items"]
    invoice = load_schema("invoices")["properties"]
    expected = {
        **item["properties"],
        "invoice_uuid": {"type": "string", "description": ANY},
        "customer_uuid": {**invoice["customer_uuid"], "description": ANY},
    }
    assert load_schema(stream)["properties"] == expected


def test_count_streams_share_one_schema():
    first, *rest = (load_schema(s) for s in COUNT_STREAMS)
    assert all(schema == first for schema in rest)


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_recorded_records_are_valid(stream):
    for record in VALID_RECORDS[stream]:
        assert _errors(stream, record) == [], record


def _nullable_top_level(schema):
    return {k for k, p in schema["properties"].items() if isinstance(p.get("type"), list) and "null" in p["type"]}


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_nullable_fields_are_exactly_the_expected_ones(stream):
    assert _nullable_top_level(load_schema(stream)) == NULLABLE[stream]


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_record_with_every_nullable_field_null_is_valid(stream):
    record = copy.deepcopy(VALID_RECORDS[stream][0])
    record.update({field: None for field in NULLABLE[stream]})
    assert _errors(stream, record) == []


def test_nested_nullable_fields_accept_null():
    schema = load_schema("invoices")["properties"]
    assert _nullable_top_level(schema["line_items"]["items"]) == LINE_ITEM_NULLABLE
    assert _nullable_top_level(schema["transactions"]["items"]) == TRANSACTION_NULLABLE
    assert _nullable_top_level(load_schema("customers")["properties"]["address"]) == CUSTOMER_ADDRESS_NULLABLE

    invoice = copy.deepcopy(INVOICE)
    invoice["line_items"][0].update({f: None for f in LINE_ITEM_NULLABLE})
    invoice["transactions"][0].update({f: None for f in TRANSACTION_NULLABLE})
    assert _errors("invoices", invoice) == []

    customer = copy.deepcopy(CUSTOMER)
    customer["address"] = {f: None for f in CUSTOMER_ADDRESS_NULLABLE}
    assert _errors("customers", customer) == []


@pytest.mark.parametrize(
    "stream,field,value",
    [(stream, field, value) for stream in sorted(INVALID) for field, value in INVALID[stream]],
)
def test_wrong_type_in_non_nullable_field_is_rejected(stream, field, value):
    record = copy.deepcopy(VALID_RECORDS[stream][0])
    record[field] = value
    assert _errors(stream, record), f"{stream}.{field}={value!r} was accepted"


@pytest.mark.parametrize(
    "path,value",
    [
        (("line_items", 0, "amount_in_cents"), "1000"),
        (("line_items", 0, "prorated"), None),
        (("line_items", 0, "service_period_start"), "2016-01-01"),
        (("transactions", 0, "date"), None),
        (("transactions", 0, "amount_in_cents"), "12.5"),
    ],
)
def test_wrong_type_in_nested_invoice_field_is_rejected(path, value):
    invoice = copy.deepcopy(INVOICE)
    target = invoice
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert _errors("invoices", invoice)


def test_customer_attributes_tags_must_be_strings():
    customer = copy.deepcopy(CUSTOMER)
    customer["attributes"]["tags"] = ["ok", 3]
    assert _errors("customers", customer)


@pytest.mark.parametrize(
    "value,ok",
    [
        ("2016-01-01T12:00:00+00:00", True),
        ("2023-06-09T13:16:00-04:00", True),
        ("2016-01-01T12:00:00.000Z", True),
        ("2023-09-30T23:00:00Z", True),
        ("2016-01-01", False),
        ("2016-01-01 12:00:00", False),
        ("2016-02-30T12:00:00Z", False),
    ],
)
def test_date_time_format_is_enforced(value, ok):
    assert FORMAT_CHECKER.conforms(value, "date-time") is ok
