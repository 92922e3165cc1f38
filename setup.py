from setuptools import find_packages, setup

MAIN_REQUIREMENTS = [
    "airbyte-cdk==7.39.1",
    "orjson==3.13.0",  # also the CDK's; imported directly to parse answers and write records
    "requests==2.34.2",
    # Pinned, not left to requests' range (>=1.26): the transport reads bodies with urllib3 >= 2.6,
    # which decompresses a chunk at a time (a gzip bomb cannot inflate past what is read).
    "urllib3==2.8.0",
]

TEST_REQUIREMENTS = [
    "pytest==9.2.0",
    "requests-mock==1.12.1",
    # The standard tools `make test` runs: lint and format, types, the Python-version matrix.
    "ruff==0.17.5",
    "mypy==2.4.1",
    "types-requests==2.33.0.20261030",
    "nox==2026.10.20",
]

setup(
    name="source-chartmogul",
    version="2.5.0",
    description="Airbyte source connector for ChartMogul.",
    author="source-chartmogul developers",
    packages=find_packages(include=["source_chartmogul", "source_chartmogul.*"]),
    # The CDK 7 allows <3.14. CI runs 3.11; the image runs 3.13 (python-connector-base 4.1.0).
    python_requires=">=3.10,<3.14",
    install_requires=MAIN_REQUIREMENTS,
    package_data={"source_chartmogul": ["spec.yaml", "schemas/*.json"]},
    extras_require={"tests": TEST_REQUIREMENTS},
    entry_points={"console_scripts": ["source-chartmogul=source_chartmogul.run:main"]},
)
