"""The Airbyte CDK's standard connector tests, run in-process against the sandbox.

The scenarios come from acceptance-test-config.yml at the repository root; the root conftest.py
loads the CDK's pytest hooks that turn them into parameters.

The tests build the connector from `connector` and drive it in this process, so the sandbox's
URL reaches it through the environment set below. They would drive it with the CDK's
AirbyteEntrypoint; they get the connector's own (source_chartmogul/run.py), which checks the
config with parse_config instead of the spec's jsonschema, as `source-chartmogul` and main.py do.
"""

import functools
import shutil
import subprocess

import pytest
from airbyte_cdk.test import entrypoint_wrapper
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from sandbox import Sandbox
from source_chartmogul.config import BASE_URL_ENV, RATE_ENV
from source_chartmogul.run import Entrypoint
from source_chartmogul.source import SourceChartmogul
from testing.configs import SANDBOX_API_KEY, UNPACED

CONNECTOR_NAME = "source-chartmogul"

# The image tests run `check` and `read` inside the container with `docker run`, which passes
# neither CHARTMOGUL_BASE_URL nor a network that reaches the sandbox on this host's loopback.
NEEDS_THE_SANDBOX_IN_A_CONTAINER = {
    "test_docker_image_build_and_check",
    "test_docker_image_build_and_read",
}


@functools.cache
def docker_daemon_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@pytest.fixture(scope="module", autouse=True)
def sandbox_api():
    """One sandbox with the default data set, the connector pointed at it and run by its own entrypoint."""
    with Sandbox(api_key=SANDBOX_API_KEY) as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv(BASE_URL_ENV, server.url)
        patch.setenv(RATE_ENV, UNPACED)
        patch.setattr(entrypoint_wrapper, "AirbyteEntrypoint", Entrypoint)
        yield server


@pytest.fixture(autouse=True)
def skip_image_tests_that_cannot_run(request):
    # The CDK skips its image tests only when the docker CLI is missing; a CLI without a
    # daemon would fail them all at the image build instead.
    if request.node.get_closest_marker("image_tests") is None:
        return
    if request.node.originalname in NEEDS_THE_SANDBOX_IN_A_CONTAINER:
        pytest.skip(
            "Runs the connector inside its image with `docker run`, which cannot reach the "
            "sandbox: the CDK passes no CHARTMOGUL_BASE_URL and no host network. The same "
            "scenarios run in-process in test_check and test_basic_read."
        )
    if not docker_daemon_answers():
        pytest.skip("No Docker daemon answers `docker info`: the connector image cannot be built here.")
    if TestChartmogulStandard.get_connector_root_dir().name != CONNECTOR_NAME:
        pytest.skip(
            "The CDK builds the image from Airbyte's Dockerfile template (not ours), whose "
            "entrypoint runs the console script named after the checkout's directory: it works "
            f"only in a checkout named {CONNECTOR_NAME}, as in Airbyte's monorepo."
        )


class TestChartmogulStandard(SourceTestSuiteBase):
    connector = SourceChartmogul
    # The CDK names the connector after the directory holding metadata.yaml, here the checkout.
    connector_name = CONNECTOR_NAME
