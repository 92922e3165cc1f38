"""Lists that page wrongly (the sandbox's paging faults), through the real CLI.

A loop (the same cursor again, a cycle) or a list of endless empty pages must end the stream
within seconds with an error naming the request, with no record emitted twice; an empty page
in the middle of a list must lose nothing, and must not move the activities' state past
records not yet read.
"""

import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl

import pytest
import requests

from sandbox import Faults
from source_chartmogul.config import RATE_ENV
from testing.configs import SANDBOX_API_KEY, UNPACED
from testing.streams import catalog, key_of

from .harness import config, expected_records, parse_datetime, run_connector

LOOPS = ("repeat_cursor", "cursor_cycle", "endless_empty")
# A read that notices the loop ends in a few seconds (most of it starting Python); one that
# does not runs until this kills it, and the test fails.
TIME_BOUND = 60
# (stream, the paths that page wrongly)
LISTS = {
    "customers": ("customers", r"/v1/customers"),
    "activities": ("activities", r"/v1/activities"),
    "fan_out_parents": ("customer_subscriptions", r"/v1/customers"),
    "fan_out_children": ("customer_subscriptions", r"/v1/customers/[^/]+/subscriptions"),
}
# The sandbox's customers have one page of subscriptions each: only an endless list can loop there.
CASES = [(fault, name) for fault in LOOPS for name in LISTS if name != "fan_out_children" or fault == "endless_empty"]


def get(server, path: str, **params) -> dict:
    response = requests.get(server.url + path, params=params, auth=(SANDBOX_API_KEY, ""), timeout=10)
    response.raise_for_status()
    return response.json()


# --- the sandbox's faults do what they say -------------------------------------------------------


def test_repeat_cursor_hands_back_the_cursor_it_was_asked_with(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(paging="repeat_cursor", paging_path="/v1/customers"))
    first = get(server, "/v1/customers")
    second = get(server, "/v1/customers", cursor=first["cursor"])
    assert second["cursor"] == first["cursor"] and second["has_more"] is True
    assert second["entries"] and second["entries"] != first["entries"]


def test_cursor_cycle_goes_back_to_the_first_cursor(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(paging="cursor_cycle", paging_path="/v1/customers"))
    a = get(server, "/v1/customers")["cursor"]
    second = get(server, "/v1/customers", cursor=a)
    b = second["cursor"]
    assert b != a and second["has_more"] is True
    assert get(server, "/v1/customers", cursor=b)["cursor"] == a


def test_endless_empty_never_ends_and_hands_fresh_cursors(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(paging="endless_empty", paging_path="/v1/plan_groups"))
    body, cursors = get(server, "/v1/plan_groups"), []
    for _ in range(5):
        assert body["has_more"] is True
        cursors.append(body["cursor"])
        body = get(server, "/v1/plan_groups", cursor=body["cursor"])
        assert body["plan_groups"] == []
    assert len(set(cursors)) == len(cursors)


def test_empty_middle_serves_every_record_once_with_empty_pages_between(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(paging="empty_middle", paging_path="/v1/customers"))
    body, served, empty = get(server, "/v1/customers"), [], 0
    served += body["entries"]
    while body["has_more"]:
        body = get(server, "/v1/customers", cursor=body["cursor"])
        served += body["entries"]
        empty += not body["entries"]
    assert served == server.dataset.customers
    assert empty >= 1


def test_an_unknown_paging_fault_is_refused():
    with pytest.raises(ValueError, match="repeat_cursor"):
        Faults(paging="sometimes")


# --- the connector ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault,name", CASES)
def test_a_list_that_loops_fails_its_stream_in_seconds_naming_the_request(fresh_sandbox, monkeypatch, fault, name):
    stream, paths = LISTS[name]
    monkeypatch.setenv(RATE_ENV, UNPACED)  # the fan-out streams: a request per parent, not spent waiting
    server = fresh_sandbox(faults=Faults(paging=fault, paging_path=paths))

    run = run_connector("read", server.url, config(), catalog([stream]), timeout=TIME_BOUND)

    assert server.faults_injected.get(fault, 0) > 0, "the fault never happened: the test proves nothing"
    assert run.exit_code == 1
    assert run.statuses(stream)[-1] == "INCOMPLETE"
    errors = [e for e in run.errors() if e.get("stream_descriptor")]
    assert len(errors) == 1, errors
    named = re.search(r"ChartMogul answered GET (/v1/[^?\s]+)\?(\S+) with", errors[0]["message"])
    assert named, errors[0]["message"]
    path, query = named[1], dict(parse_qsl(named[2]))
    assert "cursor" in query  # the request as sent, its cursor included: one the API misbehaved on
    assert any(r.path == path and r.query == query and r.fault == fault for r in server.requests)
    assert "Traceback" not in run.stdout + run.stderr
    got = run.records(stream)
    twice = [k for k, n in Counter(key_of(r, stream) for r in got).items() if n > 1]
    assert not twice, f"emitted twice: {twice[:5]}"
    # What went out is what the API serves, in its order, up to where the loop showed.
    assert got == expected_records(server.dataset, stream, config())[: len(got)]


def test_empty_pages_in_the_middle_of_lists_lose_nothing(fresh_sandbox, monkeypatch):
    monkeypatch.setenv(RATE_ENV, UNPACED)
    server = fresh_sandbox(faults=Faults(paging="empty_middle"))
    streams = ("customers", "activities", "customer_subscriptions", "invoices")

    run = run_connector("read", server.url, config(), catalog(streams), timeout=TIME_BOUND)

    assert run.exit_code == 0, run.stdout[-3000:]
    paused = {r.path for r in server.requests if r.fault == "empty_middle"}
    assert {"/v1/customers", "/v1/activities", "/v1/invoices"} <= paused
    for stream in streams:
        assert run.records(stream) == expected_records(server.dataset, stream, config()), stream


def test_empty_pages_in_the_middle_of_activities_do_not_move_the_state_past_unread_records(fresh_sandbox):
    server = fresh_sandbox(faults=Faults(paging="empty_middle", paging_path="/v1/activities"))
    before = datetime.now(timezone.utc)

    run = run_connector(
        "read", server.url, config(), catalog(["activities"], incremental=["activities"]), timeout=TIME_BOUND
    )

    after = datetime.now(timezone.utc)
    assert run.exit_code == 0, run.stdout[-3000:]
    assert server.faults_injected.get("empty_middle", 0) > 0
    expected = expected_records(server.dataset, "activities", config(), until=before)
    assert run.records("activities") == expected
    emitted: set = set()
    state = None
    for message in run.messages:
        if message["type"] == "RECORD":
            emitted.add(message["record"]["data"]["uuid"])
        elif message["type"] == "STATE":
            state = parse_datetime(message["state"]["stream"]["stream_state"]["date"])
            unread = [a["uuid"] for a in expected if parse_datetime(a["date"]) < state and a["uuid"] not in emitted]
            assert unread == [], f"the state {state} claims {len(unread)} activities not yet emitted"
    assert state is not None and before - timedelta(seconds=1) <= state <= after
