"""Pin the stream schemas against the records recorded from the live ChartMogul API.

Every record quoted as JSON below is copied verbatim from recorded traffic of ChartMogul's own
Ruby client (its VCR cassettes) or the official docs' examples, as docs/api-notes.md names them: they are the ground truth the
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

from integration_tests.harness import ALL_STREAMS

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "source_chartmogul" / "schemas"

STREAMS = set(ALL_STREAMS)  # the tests' one list of the streams the connector must offer
COUNT_STREAMS = sorted(s for s in STREAMS if s.startswith("customer_") and s.endswith("count"))

PRIMARY_KEYS = {
    "customers": ["id"],
    "activities": ["uuid"],
    **{s: ["date"] for s in COUNT_STREAMS},
    "metrics": ["date"],
    "mrr": ["date"],
    "segment_metrics": ["segment", "date"],
    "segment_mrr": ["segment", "date"],
    "account": [],
    "data_sources": ["uuid"],
    "plans": ["uuid"],
    "plan_groups": ["uuid"],
    "plan_group_plans": ["plan_group_uuid", "uuid"],
    "invoices": ["uuid"],
    "invoice_line_items": ["uuid"],
    "invoice_transactions": ["uuid"],
    "subscription_events": ["id"],
    "customer_subscriptions": ["customer_uuid", "uuid"],
    "contacts": ["uuid"],
    "customer_notes": ["uuid"],
    "opportunities": ["uuid"],
    "tasks": ["task_uuid"],
}

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


# ----------------------------------------------------------------------------------------------
# Ground truth: records copied verbatim from the sources docs/api-notes.md names
# ----------------------------------------------------------------------------------------------

# §5.3, REC ChartMogul_Customer/API_Actions/with_pagination/paginates_correctly.yml
CUSTOMER_REC = r"""{"id":114167450,"uuid":"cus_23740208-2c7e-11ee-9ea2-ffd2435982bb","external_id":"cus_002","name":"John Smith","email":"john@example.com","status":"Active","customer-since":"2016-01-01T12:00:00+00:00","attributes":{"custom":{"Toggle":true},"clearbit":{},"stripe":{},"tags":["auto-churned-delinquent-subscription","merged-customer"]},"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","ds_c0d412aa-5298-11ee-bb1f-332cea9687ed"],"external_ids":["cus_002","cus_009","test_cus_ext_id"],"company":"Initrode","country":"US","state":"CA","city":"Mountain View","zip":"12345","lead_created_at":"2015-11-01T00:00:00.000Z","free_trial_started_at":"2015-11-07T01:20:00.000Z","address":{"country":"United States","state":"California","city":"Mountain View","address_zip":"12345"},"mrr":8008,"arr":96096,"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/114167450-Initrode","billing-system-type":"Google Sheets","currency":"EUR","currency-sign":"€","owner":null}"""

# §6, DOC https://dev.chartmogul.com/reference/activities/list
ACTIVITY_DOC = r"""{
  "description": "purchased the Silver plan",
  "activity-mrr-movement": 6000,
  "activity-mrr": 6000,
  "activity-arr": 72000,
  "date": "2023-02-21T09:28:10+00:00",
  "type": "new_biz",
  "currency": "USD",
  "subscription-external-id": "sub_0001",
  "plan-external-id": "silver",
  "customer-name": "Myriapod Labs",
  "customer-uuid": "cus_8bc55ab6-c3b5-11eb-ac45-2f9a49d75af7",
  "customer-external-id": "cus_0001",
  "billing-connector-uuid": "ds_99076cb8-97a1-11eb-8798-a73b507e7929",
  "uuid": "f1a49735-21c7-4e3f-9ddc-67927aaadcf4"
}"""
# §6, REC ChartMogul_Metrics_Activity/should_paginate_using_cursor_when_called_with_next.yml
ACTIVITY_REC = r"""{"description":"purchased the Test Plan1 plan","activity-mrr-movement":4004,"activity-mrr":4004,"activity-arr":48048,"date":"2016-01-01T12:00:00+00:00","type":"new_biz","currency":"EUR","subscription-external-id":"test_cus_sub_ext_id1","subscription-set-external-id":"test_cus_sub_set_id1","plan-external-id":"adcdb9f0-34c6-013c-82df-0230272d2d1f","customer-name":"Test Customer","customer-uuid":"cus_c10aa086-5298-11ee-82da-ebac6f7a03c3","customer-external-id":"test_cus_ext_id","billing-connector-uuid":"ds_c0d412aa-5298-11ee-bb1f-332cea9687ed","uuid":"561814e1-d7d3-42f3-8936-4689ec0fbb74"}"""

# §7, DOC https://dev.chartmogul.com/reference/metrics/customer-count
CUSTOMER_COUNT_DOC = [
    '{"date": "2023-07-31", "customers": 379, "percentage-change": 0.0}',
    '{"date": "2023-08-31", "customers": 382, "percentage-change": 0.8}',
]
# §7, REC ChartMogul_Metrics_AllKeyMetric/should_have_entries.yml
METRICS_REC = r"""{"date":"2022-04-30","mrr":383859969,"mrr-percentage-change":0.0,"arr":4606319628,"arr-percentage-change":0.0,"customer-churn-rate":0.56,"customer-churn-rate-percentage-change":0.0,"mrr-churn-rate":-0.17,"mrr-churn-rate-percentage-change":0.0,"ltv":117173214,"ltv-percentage-change":0.0,"customers":585,"customers-percentage-change":0.0,"asp":46107,"asp-percentage-change":0.0,"arpa":656170,"arpa-percentage-change":0.0}"""

# §7, REC ChartMogul_Metrics_MRR/should_have_entries.yml
MRR_REC = r"""{"date":"2022-04-30","mrr":383859969,"percentage-change":0.0,"mrr-new-business":2489791,"mrr-expansion":1502311,"mrr-contraction":-813307,"mrr-churn":-96723,"mrr-reactivation":54879}"""

# §5.1, DOC example and REC ChartMogul_Account/returns_details_of_current_account.yml
ACCOUNT_DOC = r"""{
  "id": "acc_93b06efd-30f0-2153-890f-709a64cf8292",
  "name": "ChartMogul",
  "currency": "USD",
  "time_zone": "Europe/Berlin",
  "week_start_on": "monday"
}"""
ACCOUNT_REC = (
    r"""{"name":"Example Test Company","currency":"EUR","time_zone":"Europe/Berlin","week_start_on":"sunday"}"""
)

# §5.2, DOC https://dev.chartmogul.com/reference/sources/list
DATA_SOURCE_DOC = r"""{
  "uuid": "ds_fef05d54-47b4-431b-aed2-eb6b9e545430",
  "name": "In-house billing",
  "system": "Custom",
  "created_at": "2023-01-10T15:34:05.437Z",
  "status": "idle"
}"""

# §5.7, REC ChartMogul_Plan/API_Actions/with_pagination/paginates_correctly.yml
PLAN_REC = r"""{"external_id":"test_cus_pl_ext_id","name":"Test Plan","interval_count":7,"uuid":"pl_de9e281e-76cb-11ee-b63f-b727630ce4d4","interval_unit":"day","data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"}"""
# §5.8, REC ChartMogul_PlanGroup/API_Actions/with_pagination/paginates_correctly.yml
PLAN_GROUP_REC = r"""{"name":"New Plan Group","uuid":"plg_5f1af63a-ec94-4688-9127-5eb816d05a8f","plans_count":1}"""

# §5.9, REC ChartMogul_Invoice/API_Actions/with_pagination/paginates_correctly.yml
INVOICE_REC = r"""{"uuid":"inv_8ab74614-4e62-49f6-b4b3-f779109e50d0","external_id":"test_cus_inv_ext_id_1","date":"2016-01-01T12:00:00.000Z","due_date":"2016-01-07T12:00:00.000Z","currency":"USD","customer_uuid":"cus_23551596-2c7e-11ee-9ea1-2bfe193640c0","errors":{},"line_items":[{"subscription_uuid":"sub_0259d4d5-a63d-4a8c-b901-4f93f95b74b0","subscription_external_id":"test_cus_sub_ext_id","prorated":false,"proration_type":null,"service_period_start":"2016-01-01T12:00:00.000Z","service_period_end":"2016-02-01T12:00:00.000Z","uuid":"li_dacad109-fc67-47f9-8381-462e0fe27201","external_id":"test_cus_li_ext_id","type":"subscription","amount_in_cents":1000,"quantity":5,"discount_code":"DISCCODE","discount_amount_in_cents":1200,"tax_amount_in_cents":200,"transaction_fees_in_cents":0,"account_code":"","plan_uuid":"pl_de9e281e-76cb-11ee-b63f-b727630ce4d4","transaction_fees_currency":null,"discount_description":null,"event_order":null,"balance_transfer":null}],"transactions":[{"uuid":"tr_13920c67-3782-4d8c-b835-03deb3dd471c","external_id":"test_cus_tr_ext_id","type":"payment","date":"2016-01-01T12:00:00.000Z","result":"successful","amount_in_cents":null,"transaction_fees_in_cents":null,"transaction_fees_currency":null}]}"""

# §5.10, REC ChartMogul_SubscriptionEvent/API_interactions/should_paginate_using_cursor_when_called_with_next.yml
SUBSCRIPTION_EVENT_REC = r"""{"id":374279754,"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","customer_external_id":"cus_001","subscription_set_external_id":null,"subscription_external_id":"1234","plan_external_id":"plan_Gold_monthly_1_month","event_date":"2023-09-30T23:00:00Z","effective_date":"2023-09-30T23:00:00Z","event_type":"subscription_start","external_id":null,"errors":{},"created_at":"2023-10-27T10:40:29Z","updated_at":"2023-10-27T10:40:29Z","quantity":1,"currency":"EUR","amount_in_cents":100,"tax_amount_in_cents":0,"retracted_event_id":null}"""

# §5.4, REC ChartMogul_Metrics_Customers_Subscription/behaves_like_Pageable/should_be_pageable.yml
CUSTOMER_SUBSCRIPTION_REC = r"""{"id":2293710870,"external_id":"1","subscription_set_external_id":"1","quantity":1,"uuid":"147cba1a-1fd9-411b-bcb7-2ed467cebe24","mrr":756,"arr":9072,"status":"active","plan":"Gold annual","billing-cycle":"year","billing-cycle-count":1,"start-date":"2016-02-24T00:00:00+00:00","end-date":"2017-02-24T00:00:00+00:00","currency":"EUR","currency-sign":"€"}"""

# §5.11, REC ChartMogul_Contact/API_Actions/with_pagination/paginates_correctly.yml
CONTACT_REC = r"""{"uuid":"con_36399f04-7686-11ee-86f6-8727560009c2","customer_uuid":"cus_23e01538-2c7e-11ee-b2ce-fb986e96e21b","customer_external_id":"cus_004","data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","position":9,"first_name":"Foo","last_name":"Bar","title":"CTO","email":"contact2@example.com","phone":"+9876543210","linked_in":"https://linkedin.com/about","twitter":"https://twitter.com/about","notes":"Heading\\nBody\\nFooter This contact was merged","custom":{"Toggle":false}}"""

# §5.12, REC ChartMogul_Note/API_Actions/with_pagination/paginates_correctly.yml
NOTE_REC = r"""{"uuid":"note_6bbb8a6e-9b45-11ee-8f1d-8f455cd2fcde","customer_uuid":"cus_58f81bdc-94e6-11ee-ba3e-63f79c1ac982","type":"call","text":"This is a updated note","call_duration":60,"author":"Soeun Lee[staff-user-2] (soeun+staff@chartmogul.com)","created_at":"2023-12-15T12:28:15.754Z","updated_at":"2023-12-15T12:45:33.363Z"}"""

# §5.13, REC ChartMogul_Opportunity/API_Actions/with_pagination/paginates_correctly.yml
OPPORTUNITY_REC = r"""{"uuid":"5bee0a42-df7b-11ee-9506-cb238e9b1218","customer_uuid":"cus_4e49211a-df7b-11ee-8949-df3c4571686f","owner":"kamil+pavlicko@chartmogul.com","pipeline":"New Business","pipeline_stage":"Evaluation","estimated_close_date":"2024-03-28","currency":"USD","amount_in_cents":50000,"type":"recurring","forecast_category":"best_case","win_likelihood":80,"custom":{"from_campaign":true},"created_at":"2024-03-11T07:45:41.133Z","updated_at":"2024-03-11T07:45:41.133Z"}"""

# §5.14, REC ChartMogul_Task/API_Actions/with_pagination/paginates_correctly.yml
TASK_REC = r"""{"task_uuid":"1aeae108-217b-11f0-b2b4-5b42f025062c","customer_uuid":"cus_9c8cc2bd-762e-4d93-ae34-1cfb53a53f64","task_details":"This is some task details text.","assignee":"keith+test1@chartmogul.com","due_date":"2025-04-30T00:00:00.000Z","completed_at":null,"created_at":"2025-04-25T02:15:06.474Z","updated_at":"2025-04-25T02:15:06.474Z"}"""


def _j(text):
    return json.loads(text)


def _with(record, **changes):
    out = copy.deepcopy(record)
    for key, value in changes.items():
        out[key.replace("__", "-")] = value
    return out


PLAN_GROUP_UUID = "plg_5f1af63a-ec94-4688-9127-5eb816d05a8f"
CUSTOMER_UUID = "cus_23740208-2c7e-11ee-9ea2-ffd2435982bb"


def _of_invoice(nested):
    """The invoice's items as the invoice_line_items/invoice_transactions streams emit them."""
    invoice = _j(INVOICE_REC)
    return [
        {**item, "invoice_uuid": invoice["uuid"], "customer_uuid": invoice["customer_uuid"]} for item in invoice[nested]
    ]


# Records as the connector emits them, per stream. Variants built from a recorded record only change
# what the doc says varies (offset forms, keys of newer/optional fields, the recorded empty strings).
VALID_RECORDS = {
    "customers": [
        _j(CUSTOMER_REC),
        # §5.3: docs example shows a non-UTC offset; leads have no customer-since; website_url is optional
        _with(_j(CUSTOMER_REC), customer__since="2023-06-09T13:16:00-04:00", website_url="https://initrode.example"),
        _with(_j(CUSTOMER_REC), customer__since=None, status="New Lead", email="", company=""),
    ],
    "activities": [_j(ACTIVITY_DOC), _j(ACTIVITY_REC)],
    **{s: [_j(r) for r in CUSTOMER_COUNT_DOC] + [{"date": "2016-01-31", "customers": 1}] for s in COUNT_STREAMS},
    "metrics": [_j(METRICS_REC), _with(_j(METRICS_REC), ltv=15620.0)],
    "mrr": [_j(MRR_REC)],
    "segment_metrics": [_with(_j(METRICS_REC), segment="Europe")],
    "segment_mrr": [_with(_j(MRR_REC), segment="Europe")],
    "account": [
        _j(ACCOUNT_DOC),
        _j(ACCOUNT_REC),
        # §5.1 include fields, values from the doc
        _with(
            _j(ACCOUNT_DOC),
            churn_recognition="churn_at_time_of_cancelation",
            churn_when_zero_mrr=True,
            auto_churn_subscription=False,
            refund_handling="refund_ignore",
            proximate_movement_reclassification="one_hour_reclassification",
        ),
    ],
    "data_sources": [
        _j(DATA_SOURCE_DOC),
        _with(
            _j(DATA_SOURCE_DOC),
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
    "plans": [_j(PLAN_REC)],
    "plan_groups": [_j(PLAN_GROUP_REC)],
    "plan_group_plans": [_with(_j(PLAN_REC), plan_group_uuid=PLAN_GROUP_UUID)],
    "invoices": [
        _j(INVOICE_REC),
        # §5.9: fields of the current docs
        _with(
            _j(INVOICE_REC),
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
        _j(SUBSCRIPTION_EVENT_REC),
        # §5.10: a recorded cancellation carried empty strings
        _with(
            _j(SUBSCRIPTION_EVENT_REC),
            event_type="subscription_cancelled",
            quantity="",
            currency="",
            amount_in_cents="",
        ),
        # §5.10: the docs example key and event_order
        {
            **{k: v for k, v in _j(SUBSCRIPTION_EVENT_REC).items() if k != "customer_external_id"},
            "data_source_customer_external_id": "cus_001",
            "event_order": 100,
        },
    ],
    "customer_subscriptions": [_with(_j(CUSTOMER_SUBSCRIPTION_REC), customer_uuid=CUSTOMER_UUID)],
    "contacts": [
        _j(CONTACT_REC),
        _with(_j(CONTACT_REC), external_id="contact_ext_1", last_seen="2024-01-01T10:00:00.000Z"),
    ],
    "customer_notes": [
        _j(NOTE_REC),
        _with(
            _j(NOTE_REC),
            associated_object="customer",
            associated_object_uuid="cus_58f81bdc-94e6-11ee-ba3e-63f79c1ac982",
        ),
    ],
    "opportunities": [_j(OPPORTUNITY_REC)],
    "tasks": [
        _j(TASK_REC),
        _with(
            _j(TASK_REC),
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
    assert schema.get("required", []) == PRIMARY_KEYS[stream]
    for key in PRIMARY_KEYS[stream]:
        assert "null" not in schema["properties"][key]["type"], key


@pytest.mark.parametrize("stream,series", [("segment_metrics", "metrics"), ("segment_mrr", "mrr")])
def test_a_segment_stream_s_schema_is_its_series_and_the_segment(stream, series):
    schema, base = load_schema(stream), load_schema(series)
    assert schema["properties"] == {"segment": {"type": "string", "description": ANY}, **base["properties"]}
    assert list(schema["properties"]) == ["segment", *base["properties"]]


@pytest.mark.parametrize(
    "stream,nested", [("invoice_line_items", "line_items"), ("invoice_transactions", "transactions")]
)
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

    invoice = _j(INVOICE_REC)
    invoice["line_items"][0].update({f: None for f in LINE_ITEM_NULLABLE})
    invoice["transactions"][0].update({f: None for f in TRANSACTION_NULLABLE})
    assert _errors("invoices", invoice) == []

    customer = _j(CUSTOMER_REC)
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
    invoice = _j(INVOICE_REC)
    target = invoice
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert _errors("invoices", invoice)


def test_customer_attributes_tags_must_be_strings():
    customer = _j(CUSTOMER_REC)
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
