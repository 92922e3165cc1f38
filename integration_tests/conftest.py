import pytest

from sandbox import Sandbox, build_dataset
from testing.configs import SANDBOX_API_KEY


@pytest.fixture(scope="session")
def dataset():
    return build_dataset()


@pytest.fixture(scope="session")
def sandbox(dataset):
    """One instant, fault-free sandbox for the read-only tests of the session."""
    with Sandbox(dataset, api_key=SANDBOX_API_KEY) as server:
        yield server


@pytest.fixture
def fresh_sandbox():
    """A sandbox of its own, for tests that change its data or its faults."""
    servers = []

    def start(**kwargs):
        server = Sandbox(kwargs.pop("dataset", None) or build_dataset(), api_key=SANDBOX_API_KEY, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
