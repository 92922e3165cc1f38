"""Which requests the pacer lets go first: the pages of a list only one chain can read."""

import logging

import requests_mock

from source_chartmogul import transport
from source_chartmogul.source import SourceChartmogul
from unit_tests.conftest import BASE_URL, CONFIG, catalog, page


def test_one_chain_lists_are_urgent_parallel_chains_are_not(api, monkeypatch):
    seen: list[tuple[str, bool]] = []
    original = transport.fetch
    names = {"customers": "customers", "subscriptions": "customer_subscriptions", "activities": "activities"}

    def recording(session, handler, logger, method, url, **kwargs):
        seen.append((names[url.rsplit("/", 1)[-1]], transport._urgency.active))
        return original(session, handler, logger, method, url, **kwargs)

    monkeypatch.setattr(transport, "fetch", recording)
    customers = [{"id": n, "uuid": f"cus_{n}"} for n in (1, 2)]
    # requests-mock answers with the last matching registration: the catch-all goes first.
    api.get(requests_mock.ANY, json=page([]))  # every customer's subscriptions, every activities window
    api.get(
        BASE_URL + "/v1/customers",
        [{"json": page(customers[:1], cursor="c2", has_more=True)}, {"json": page(customers[1:], cursor="c3")}],
    )

    list(
        SourceChartmogul().read(
            logging.getLogger("airbyte"), CONFIG, catalog("customer_subscriptions", "activities"), None
        )
    )

    urgent = {name for name, active in seen if active}
    calm = {name for name, active in seen if not active}
    assert urgent == {"customers"}  # customer_subscriptions' parents: one chain that bounds the sync
    assert calm == {"customer_subscriptions", "activities"}  # read in parallel chains
    assert sum(1 for name, _ in seen if name == "customers") == 2
    assert not transport._urgency.active  # nothing left behind on this thread
