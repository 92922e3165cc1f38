"""tools/catalog.py (`make catalog`): a configured catalog from discover, written whole or not at all."""

import importlib.util
import json
from pathlib import Path

from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer

from source_chartmogul.source import SourceChartmogul
from testing.configs import API_KEY, CONFIG
from testing.streams import ALL_STREAMS

SPEC = importlib.util.spec_from_file_location(
    "catalog", Path(__file__).resolve().parent.parent / "tools" / "catalog.py"
)
catalog_tool = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(catalog_tool)


def made(tmp_path, *args) -> tuple[int, Path]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(CONFIG))
    output = tmp_path / "out" / "catalog.json"
    return catalog_tool.main(["--config", str(config), "--output", str(output), *args]), output


def test_every_stream_in_full_refresh_by_default_and_the_connector_reads_the_file(api, tmp_path):
    code, output = made(tmp_path)

    assert code == 0
    catalog = SourceChartmogul.read_catalog(str(output))  # the connector's own checks
    assert [s.sync_mode.value for s in catalog.streams] == ["full_refresh"] * len(catalog.streams)
    assert {s.destination_sync_mode.value for s in catalog.streams} == {"overwrite"}
    assert {s.stream.name for s in catalog.streams} == set(ALL_STREAMS)
    assert api.request_history == []  # discover makes no request


def test_streams_picked_and_incremental_where_supported(tmp_path):
    code, output = made(tmp_path, "--streams", "activities, customers", "--incremental")

    assert code == 0
    entries = {e["stream"]["name"]: e for e in json.loads(output.read_text())["streams"]}
    assert list(entries) == ["customers", "activities"]  # the connector's order
    assert entries["customers"]["sync_mode"] == "full_refresh"
    assert entries["activities"]["sync_mode"] == "incremental"
    assert entries["activities"]["destination_sync_mode"] == "append_dedup"
    assert entries["activities"]["cursor_field"] == ["date"]
    assert entries["activities"]["primary_key"] == [["uuid"]]
    ConfiguredAirbyteCatalogSerializer.load(json.loads(output.read_text()))


def test_a_bad_config_or_stream_name_says_why_and_leaves_the_old_catalog(tmp_path, capsys):
    output = tmp_path / "catalog.json"
    output.write_text("the previous catalog")

    no_config = catalog_tool.main(["--config", str(tmp_path / "missing.json"), "--output", str(output)])
    no_config_err = capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({**CONFIG, "interval": "year"}))
    bad_config = catalog_tool.main(["--config", str(tmp_path / "config.json"), "--output", str(output)])
    bad_config_err = capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    typo = catalog_tool.main(
        ["--config", str(tmp_path / "config.json"), "--output", str(output), "--streams", "cutsomers"]
    )
    typo_err = capsys.readouterr().err

    assert (no_config, bad_config, typo) == (1, 1, 1)
    assert "The --config file" in no_config_err and "does not exist" in no_config_err
    assert "'interval'" in bad_config_err
    assert "does not have: cutsomers. Its streams: customers," in typo_err
    assert API_KEY not in no_config_err + bad_config_err + typo_err
    assert output.read_text() == "the previous catalog"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written file left
