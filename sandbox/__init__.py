"""A local stand-in for the ChartMogul REST API, for the demo, integration tests and benchmark.

from sandbox import Sandbox, Faults, build_dataset
with Sandbox(build_dataset(seed=7), faults=Faults(error_rate=0.1)) as sandbox:
    ...  # point the connector at sandbox.url + "/v1" with sandbox.api_key
"""

from .data import Dataset, build_dataset
from .faults import Faults
from .server import DEFAULT_API_KEY, Sandbox

__all__ = ["DEFAULT_API_KEY", "Dataset", "Faults", "Sandbox", "build_dataset"]
