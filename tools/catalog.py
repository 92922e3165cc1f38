"""`make catalog`: a configured catalog for `read --catalog`, made from what `discover` says.

    python tools/catalog.py --config secrets/config.json --output secrets/catalog.json
        [--streams customers,activities] [--incremental]

Every stream (or those of --streams) in full refresh, destination mode overwrite; with
--incremental, the streams that support it (activities) read incrementally, append_dedup on
their primary key. The file is written whole or not at all. No request is made: the catalog
depends only on the connector, but `discover` checks the config as a sync would.
"""

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

from airbyte_cdk.models import AirbyteStream, SyncMode
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_chartmogul.source import SourceChartmogul


class Refused(Exception):
    """A request this tool cannot carry out; the message says why and what to do."""


def configured(stream: AirbyteStream, incremental: bool) -> dict:
    keys = stream.source_defined_primary_key or []
    entry: dict = {
        "stream": {
            "name": stream.name,
            "json_schema": stream.json_schema,
            "supported_sync_modes": [mode.value for mode in stream.supported_sync_modes],
            "source_defined_cursor": bool(stream.source_defined_cursor),
            "default_cursor_field": stream.default_cursor_field or [],
            "source_defined_primary_key": keys,
        },
        "sync_mode": "full_refresh",
        "destination_sync_mode": "overwrite",
        "primary_key": keys,
    }
    if incremental and SyncMode.incremental in stream.supported_sync_modes:
        entry["sync_mode"] = "incremental"
        entry["destination_sync_mode"] = "append_dedup" if keys else "append"
        entry["cursor_field"] = stream.default_cursor_field
    return entry


def make_catalog(config_path: str, streams: list[str] | None, incremental: bool) -> dict:
    source = SourceChartmogul()
    discovered = source.discover(logging.getLogger("airbyte"), source.read_config(config_path)).streams
    names = [stream.name for stream in discovered]
    unknown = [name for name in streams or [] if name not in names]
    if unknown:
        raise Refused(
            f"--streams names streams this connector does not have: {', '.join(unknown)}. "
            f"Its streams: {', '.join(names)}."
        )
    chosen = [stream for stream in discovered if streams is None or stream.name in streams]
    return {"streams": [configured(stream, incremental) for stream in chosen]}


def write_whole(path: Path, text: str) -> None:
    """The file complete, or unchanged: written beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/catalog.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the config file, as for `discover`")
    parser.add_argument("--output", required=True, help="where to write the configured catalog")
    parser.add_argument("--streams", help="comma-separated stream names (default: every stream)")
    parser.add_argument("--incremental", action="store_true", help="incremental where a stream supports it")
    args = parser.parse_args(argv)
    streams = [name.strip() for name in args.streams.split(",") if name.strip()] if args.streams else None
    try:
        catalog = make_catalog(args.config, streams, args.incremental)
    except (AirbyteTracedException, Refused) as error:  # a config's mistake in the connector's words
        print(f"tools/catalog.py: {getattr(error, 'message', None) or error}", file=sys.stderr)
        return 1
    write_whole(Path(args.output), json.dumps(catalog, indent=2) + "\n")
    modes = ", ".join(f"{entry['stream']['name']} ({entry['sync_mode']})" for entry in catalog["streams"])
    print(f"Wrote {args.output}: {modes}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
