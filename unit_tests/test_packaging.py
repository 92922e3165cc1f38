"""The image, the registry metadata and the Python package describe the same connector.

Dockerfile, metadata.yaml, setup.py and acceptance-test-config.yml are edited by hand and read
by different tools (docker, Airbyte's registry, pip, the CDK's standard tests); these tests fail
as soon as one of them drifts from the others.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from airbyte_cdk.models.connector_metadata import ConnectorLanguage, MetadataFile
from packaging.specifiers import SpecifierSet

from source_chartmogul.config import DEFAULT_BASE_URL
from source_chartmogul.source import SourceChartmogul
from testing.configs import CONFIG

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "source_chartmogul"

# The published ChartMogul connector's id (airbytehq/airbyte,
# airbyte-integrations/connectors/source-chartmogul/metadata.yaml): 2.0.0 replaces it.
DEFINITION_ID = "b6604cbd-1b12-4c08-8767-e140d0fb0877"
IMAGE_NAME = "airbyte/source-chartmogul"
WORKDIR = "/airbyte/integration_code"
# The Python of each python-connector-base version we have used (docker-images/
# Dockerfile.python-connector-base in airbytehq/airbyte).
BASE_IMAGE_PYTHON = {"4.0.2": "3.11", "4.1.0": "3.13"}
PINNED_BASE_IMAGE = re.compile(r"^docker\.io/airbyte/python-connector-base:(?P<tag>\d+\.\d+\.\d+)@sha256:[0-9a-f]{64}$")


def setup_field(name: str) -> str:
    match = re.search(rf"""\b{name}\s*=\s*["']([^"']+)["']""", (ROOT / "setup.py").read_text())
    assert match, f"setup.py sets no literal {name}=..."
    return match.group(1)


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def instruction(keyword: str) -> list[str]:
    return [arguments for found, arguments in dockerfile() if found == keyword]


def labels() -> dict[str, str]:
    return dict(label.split("=", 1) for label in instruction("LABEL"))


def env() -> dict[str, str]:
    values = {}
    for arguments in instruction("ENV"):
        name, _, value = arguments.partition("=")
        values[name] = value.strip('"')
    return values


@pytest.fixture(scope="module")
def metadata() -> dict:
    return yaml.safe_load((ROOT / "metadata.yaml").read_text())["data"]


@pytest.fixture(scope="module")
def stream_names() -> set[str]:
    return {stream.name for stream in SourceChartmogul().streams(CONFIG)}


def test_one_version_everywhere(metadata):
    version = setup_field("version")
    assert metadata["dockerImageTag"] == version
    assert labels()["io.airbyte.version"] == version
    changelog = (ROOT / "docs" / "chartmogul.md").read_text().split("## Changelog", 1)[1]
    assert re.search(r"^\| (\d+\.\d+\.\d+) \|", changelog, re.M).group(1) == version, "the changelog's newest row"


def test_one_image_name_everywhere(metadata):
    assert metadata["dockerRepository"] == IMAGE_NAME
    assert labels()["io.airbyte.name"] == IMAGE_NAME
    acceptance = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text())
    assert acceptance["connector_image"].split(":")[0] == IMAGE_NAME
    assert setup_field("name") == IMAGE_NAME.split("/")[1]


def test_the_image_is_built_from_the_declared_and_pinned_base(metadata):
    (base,) = instruction("FROM")
    assert base == metadata["connectorBuildOptions"]["baseImage"]
    pinned = PINNED_BASE_IMAGE.match(base)
    assert pinned, f"{base} is not python-connector-base pinned by version and sha256 digest"
    tag = pinned.group("tag")
    assert tag in BASE_IMAGE_PYTHON, f"base image {tag}: add its Python version to BASE_IMAGE_PYTHON"
    assert BASE_IMAGE_PYTHON[tag] in SpecifierSet(setup_field("python_requires")), (
        f"base image {tag} runs Python {BASE_IMAGE_PYTHON[tag]}, which setup.py does not allow"
    )


def test_the_image_runs_main_py_which_runs_the_console_script():
    entrypoint = json.loads(instruction("ENTRYPOINT")[0])
    assert entrypoint == ["python", f"{WORKDIR}/main.py"]
    # Airbyte's platform launches the connector through AIRBYTE_ENTRYPOINT, not ENTRYPOINT.
    assert env()["AIRBYTE_ENTRYPOINT"] == " ".join(entrypoint)
    assert instruction("WORKDIR") == [WORKDIR]
    copied = {source for arguments in instruction("COPY") for source in arguments.split()[:-1]}
    assert {"setup.py", "main.py", "source_chartmogul"} <= copied
    assert "pip install" in " ".join(instruction("RUN"))
    # main.py and `source-chartmogul` (what PyAirbyte runs) must be the same program.
    assert "from source_chartmogul.run import main" in (ROOT / "main.py").read_text()
    assert "source-chartmogul=source_chartmogul.run:main" in (ROOT / "setup.py").read_text()


def test_allowed_hosts_cover_the_default_api(metadata):
    hosts = metadata["allowedHosts"]["hosts"]
    assert "api.chartmogul.com" in hosts
    default = urlsplit(DEFAULT_BASE_URL)
    assert default.scheme == "https"
    assert default.hostname in hosts


def test_it_is_the_published_chartmogul_connector(metadata):
    assert metadata["definitionId"] == DEFINITION_ID
    assert metadata["connectorType"] == "source"
    assert metadata["connectorSubtype"] == "api"
    assert metadata["name"] == "ChartMogul"
    assert metadata["license"] == "MIT"
    assert {"language:python", "cdk:python"} <= set(metadata["tags"])
    spec = yaml.safe_load((PACKAGE / "spec.yaml").read_text())
    assert metadata["documentationUrl"] == spec["documentationUrl"]
    # What the CDK's image build and standard tests read from this file.
    parsed = MetadataFile.from_file(ROOT / "metadata.yaml")
    assert parsed.data.language == ConnectorLanguage.PYTHON
    assert parsed.data.connectorBuildOptions.baseImage == metadata["connectorBuildOptions"]["baseImage"]


def test_a_major_version_declares_its_breaking_change(metadata, stream_names):
    version = metadata["dockerImageTag"]
    changes = metadata["releases"]["breakingChanges"]
    if version.endswith(".0.0"):
        assert version in changes
    assert changes, "2.0.0 is a breaking change from the 1.x connector"
    for change in changes.values():
        assert change["message"].strip()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", change["upgradeDeadline"])
        for scope in change.get("scopedImpact", []):
            assert scope["scopeType"] == "stream"
            unknown = set(scope["impactedScopes"]) - stream_names
            assert not unknown, f"the breaking change names streams the connector does not have: {unknown}"


def test_the_wheel_built_from_what_the_image_copies_holds_spec_and_schemas(tmp_path, stream_names):
    # Only what the Dockerfile copies: a file setup.py needs but the image lacks fails here too.
    context = tmp_path / "context"
    context.mkdir()
    for arguments in instruction("COPY"):
        *sources, _ = arguments.split()
        for source in sources:
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(origin, context / source)
    wheels = tmp_path / "wheels"
    # Offline and in a second with the venv's setuptools; a Python 3.12 venv has none, and then
    # pip fetches it, as `make` did when it installed the package.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "-w", str(wheels), "."],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith(f"source_chartmogul-{setup_field('version')}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "source_chartmogul/spec.yaml" in names
    shipped_schemas = {
        Path(n).stem for n in names if n.startswith("source_chartmogul/schemas/") and n.endswith(".json")
    }
    assert shipped_schemas == {path.stem for path in (PACKAGE / "schemas").glob("*.json")}
    assert stream_names <= shipped_schemas, f"streams without a schema in the wheel: {stream_names - shipped_schemas}"
    assert "source-chartmogul = source_chartmogul.run:main" in entry_points
