"""Records as the ChartMogul API serves them, copied verbatim from the sources docs/api-notes.md names (recorded
traffic of ChartMogul's own Ruby client, or the official docs' examples), section by section.

They are the ground truth the schemas must accept (unit_tests/test_schemas.py) and what the fake
API of the unit tests serves. Many tests share them: copy one before changing it.
"""

import json

# §5.3, REC ChartMogul_Customer/API_Actions/with_pagination/paginates_correctly.yml
CUSTOMER = json.loads(
    r"""{"id":114167450,"uuid":"cus_23740208-2c7e-11ee-9ea2-ffd2435982bb","external_id":"cus_002","name":"John Smith","email":"john@example.com","status":"Active","customer-since":"2016-01-01T12:00:00+00:00","attributes":{"custom":{"Toggle":true},"clearbit":{},"stripe":{},"tags":["auto-churned-delinquent-subscription","merged-customer"]},"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","data_source_uuids":["ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","ds_c0d412aa-5298-11ee-bb1f-332cea9687ed"],"external_ids":["cus_002","cus_009","test_cus_ext_id"],"company":"Initrode","country":"US","state":"CA","city":"Mountain View","zip":"12345","lead_created_at":"2015-11-01T00:00:00.000Z","free_trial_started_at":"2015-11-07T01:20:00.000Z","address":{"country":"United States","state":"California","city":"Mountain View","address_zip":"12345"},"mrr":8008,"arr":96096,"billing-system-url":null,"chartmogul-url":"https://app.chartmogul.com/#/customers/114167450-Initrode","billing-system-type":"Google Sheets","currency":"EUR","currency-sign":"€","owner":null}"""
)

# §6, DOC https://dev.chartmogul.com/reference/activities/list
ACTIVITY = json.loads(r"""{
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
}""")
# §6, REC ChartMogul_Metrics_Activity/should_paginate_using_cursor_when_called_with_next.yml
ACTIVITY_RECORDED = json.loads(
    r"""{"description":"purchased the Test Plan1 plan","activity-mrr-movement":4004,"activity-mrr":4004,"activity-arr":48048,"date":"2016-01-01T12:00:00+00:00","type":"new_biz","currency":"EUR","subscription-external-id":"test_cus_sub_ext_id1","subscription-set-external-id":"test_cus_sub_set_id1","plan-external-id":"adcdb9f0-34c6-013c-82df-0230272d2d1f","customer-name":"Test Customer","customer-uuid":"cus_c10aa086-5298-11ee-82da-ebac6f7a03c3","customer-external-id":"test_cus_ext_id","billing-connector-uuid":"ds_c0d412aa-5298-11ee-bb1f-332cea9687ed","uuid":"561814e1-d7d3-42f3-8936-4689ec0fbb74"}"""
)

# §7, DOC https://dev.chartmogul.com/reference/metrics/customer-count
COUNT_ENTRIES = [
    {"date": "2023-07-31", "customers": 379, "percentage-change": 0.0},
    {"date": "2023-08-31", "customers": 382, "percentage-change": 0.8},
]
# §7, REC ChartMogul_Metrics_AllKeyMetric/should_have_entries.yml
METRICS = json.loads(
    r"""{"date":"2022-04-30","mrr":383859969,"mrr-percentage-change":0.0,"arr":4606319628,"arr-percentage-change":0.0,"customer-churn-rate":0.56,"customer-churn-rate-percentage-change":0.0,"mrr-churn-rate":-0.17,"mrr-churn-rate-percentage-change":0.0,"ltv":117173214,"ltv-percentage-change":0.0,"customers":585,"customers-percentage-change":0.0,"asp":46107,"asp-percentage-change":0.0,"arpa":656170,"arpa-percentage-change":0.0}"""
)

# §7, REC ChartMogul_Metrics_MRR/should_have_entries.yml
MRR = json.loads(
    r"""{"date":"2022-04-30","mrr":383859969,"percentage-change":0.0,"mrr-new-business":2489791,"mrr-expansion":1502311,"mrr-contraction":-813307,"mrr-churn":-96723,"mrr-reactivation":54879}"""
)

# §5.1, DOC example and REC ChartMogul_Account/returns_details_of_current_account.yml
ACCOUNT = json.loads(r"""{
  "id": "acc_93b06efd-30f0-2153-890f-709a64cf8292",
  "name": "ChartMogul",
  "currency": "USD",
  "time_zone": "Europe/Berlin",
  "week_start_on": "monday"
}""")
ACCOUNT_RECORDED = json.loads(
    r"""{"name":"Example Test Company","currency":"EUR","time_zone":"Europe/Berlin","week_start_on":"sunday"}"""
)

# §5.2, DOC https://dev.chartmogul.com/reference/sources/list
DATA_SOURCE = json.loads(r"""{
  "uuid": "ds_fef05d54-47b4-431b-aed2-eb6b9e545430",
  "name": "In-house billing",
  "system": "Custom",
  "created_at": "2023-01-10T15:34:05.437Z",
  "status": "idle"
}""")

# §5.7, REC ChartMogul_Plan/API_Actions/with_pagination/paginates_correctly.yml
PLAN = json.loads(
    r"""{"external_id":"test_cus_pl_ext_id","name":"Test Plan","interval_count":7,"uuid":"pl_de9e281e-76cb-11ee-b63f-b727630ce4d4","interval_unit":"day","data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46"}"""
)
# §5.8, REC ChartMogul_PlanGroup/API_Actions/with_pagination/paginates_correctly.yml
PLAN_GROUP = json.loads(
    r"""{"name":"New Plan Group","uuid":"plg_5f1af63a-ec94-4688-9127-5eb816d05a8f","plans_count":1}"""
)

# §5.9, REC ChartMogul_Invoice/API_Actions/with_pagination/paginates_correctly.yml
INVOICE = json.loads(
    r"""{"uuid":"inv_8ab74614-4e62-49f6-b4b3-f779109e50d0","external_id":"test_cus_inv_ext_id_1","date":"2016-01-01T12:00:00.000Z","due_date":"2016-01-07T12:00:00.000Z","currency":"USD","customer_uuid":"cus_23551596-2c7e-11ee-9ea1-2bfe193640c0","errors":{},"line_items":[{"subscription_uuid":"sub_0259d4d5-a63d-4a8c-b901-4f93f95b74b0","subscription_external_id":"test_cus_sub_ext_id","prorated":false,"proration_type":null,"service_period_start":"2016-01-01T12:00:00.000Z","service_period_end":"2016-02-01T12:00:00.000Z","uuid":"li_dacad109-fc67-47f9-8381-462e0fe27201","external_id":"test_cus_li_ext_id","type":"subscription","amount_in_cents":1000,"quantity":5,"discount_code":"DISCCODE","discount_amount_in_cents":1200,"tax_amount_in_cents":200,"transaction_fees_in_cents":0,"account_code":"","plan_uuid":"pl_de9e281e-76cb-11ee-b63f-b727630ce4d4","transaction_fees_currency":null,"discount_description":null,"event_order":null,"balance_transfer":null}],"transactions":[{"uuid":"tr_13920c67-3782-4d8c-b835-03deb3dd471c","external_id":"test_cus_tr_ext_id","type":"payment","date":"2016-01-01T12:00:00.000Z","result":"successful","amount_in_cents":null,"transaction_fees_in_cents":null,"transaction_fees_currency":null}]}"""
)

# §5.10, REC ChartMogul_SubscriptionEvent/API_interactions/should_paginate_using_cursor_when_called_with_next.yml
SUBSCRIPTION_EVENT = json.loads(
    r"""{"id":374279754,"data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","customer_external_id":"cus_001","subscription_set_external_id":null,"subscription_external_id":"1234","plan_external_id":"plan_Gold_monthly_1_month","event_date":"2023-09-30T23:00:00Z","effective_date":"2023-09-30T23:00:00Z","event_type":"subscription_start","external_id":null,"errors":{},"created_at":"2023-10-27T10:40:29Z","updated_at":"2023-10-27T10:40:29Z","quantity":1,"currency":"EUR","amount_in_cents":100,"tax_amount_in_cents":0,"retracted_event_id":null}"""
)

# §5.4, REC ChartMogul_Metrics_Customers_Subscription/behaves_like_Pageable/should_be_pageable.yml
CUSTOMER_SUBSCRIPTION = json.loads(
    r"""{"id":2293710870,"external_id":"1","subscription_set_external_id":"1","quantity":1,"uuid":"147cba1a-1fd9-411b-bcb7-2ed467cebe24","mrr":756,"arr":9072,"status":"active","plan":"Gold annual","billing-cycle":"year","billing-cycle-count":1,"start-date":"2016-02-24T00:00:00+00:00","end-date":"2017-02-24T00:00:00+00:00","currency":"EUR","currency-sign":"€"}"""
)

# §5.11, REC ChartMogul_Contact/API_Actions/with_pagination/paginates_correctly.yml
CONTACT = json.loads(
    r"""{"uuid":"con_36399f04-7686-11ee-86f6-8727560009c2","customer_uuid":"cus_23e01538-2c7e-11ee-b2ce-fb986e96e21b","customer_external_id":"cus_004","data_source_uuid":"ds_03cfd2c4-2c7e-11ee-ab23-cb0f008cff46","position":9,"first_name":"Foo","last_name":"Bar","title":"CTO","email":"contact2@example.com","phone":"+9876543210","linked_in":"https://linkedin.com/about","twitter":"https://twitter.com/about","notes":"Heading\\nBody\\nFooter This contact was merged","custom":{"Toggle":false}}"""
)

# §5.12, REC ChartMogul_Note/API_Actions/with_pagination/paginates_correctly.yml
NOTE = json.loads(
    r"""{"uuid":"note_6bbb8a6e-9b45-11ee-8f1d-8f455cd2fcde","customer_uuid":"cus_58f81bdc-94e6-11ee-ba3e-63f79c1ac982","type":"call","text":"This is a updated note","call_duration":60,"author":"Soeun Lee[staff-user-2] (soeun+staff@chartmogul.com)","created_at":"2023-12-15T12:28:15.754Z","updated_at":"2023-12-15T12:45:33.363Z"}"""
)

# §5.13, REC ChartMogul_Opportunity/API_Actions/with_pagination/paginates_correctly.yml
OPPORTUNITY = json.loads(
    r"""{"uuid":"5bee0a42-df7b-11ee-9506-cb238e9b1218","customer_uuid":"cus_4e49211a-df7b-11ee-8949-df3c4571686f","owner":"kamil+pavlicko@chartmogul.com","pipeline":"New Business","pipeline_stage":"Evaluation","estimated_close_date":"2024-03-28","currency":"USD","amount_in_cents":50000,"type":"recurring","forecast_category":"best_case","win_likelihood":80,"custom":{"from_campaign":true},"created_at":"2024-03-11T07:45:41.133Z","updated_at":"2024-03-11T07:45:41.133Z"}"""
)

# §5.14, REC ChartMogul_Task/API_Actions/with_pagination/paginates_correctly.yml
TASK = json.loads(
    r"""{"task_uuid":"1aeae108-217b-11f0-b2b4-5b42f025062c","customer_uuid":"cus_9c8cc2bd-762e-4d93-ae34-1cfb53a53f64","task_details":"This is some task details text.","assignee":"keith+test1@chartmogul.com","due_date":"2025-04-30T00:00:00.000Z","completed_at":null,"created_at":"2025-04-25T02:15:06.474Z","updated_at":"2025-04-25T02:15:06.474Z"}"""
)
