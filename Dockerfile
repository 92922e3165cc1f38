# The connector image, in the layout of Airbyte's Python connectors. The base image is the one
# metadata.yaml declares (connectorBuildOptions.baseImage): 4.0.2 is Python 3.11; 4.1.0 and later
# are Python 3.13, which setup.py's python_requires (<3.13) excludes.
FROM docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73

WORKDIR /airbyte/integration_code

COPY setup.py main.py ./
COPY source_chartmogul ./source_chartmogul
RUN pip install --no-cache-dir .

# The base image creates the non-root user; Airbyte's connector images run as it.
USER airbyte

ENV AIRBYTE_ENTRYPOINT="python /airbyte/integration_code/main.py"
ENTRYPOINT ["python", "/airbyte/integration_code/main.py"]

LABEL io.airbyte.name=airbyte/source-chartmogul
LABEL io.airbyte.version=2.0.2
