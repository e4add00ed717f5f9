"""What the build hands the publish through the lake's store, so that publish and verify run on any
worker: the published models (marts, quality, reports) as Parquet, dbt's manifest, and the build marker.

The DuckDB warehouse stays a single-writer file on the worker that builds it. With the lake on S3, the
build then leaves under ``<lake_url>/_warehouse/``::

    <version>/tables/<model>.parquet     one per model the publish copies (specs.PUBLISHED_FOLDERS)
    <version>/tables.json                model -> rows, written after the tables
    <version>/manifest.json              dbt's manifest of that build (what the publish reads: specs.py)
    retail.build.json                    the BuildMarker, written last: the handoff counts only from then

``<version>`` is the warehouse version (a content address), so a version's files never change once
written, and the marker names the version to read: a reader sees a whole build or the previous one.
After the marker, versions other than the current one and the one before it are deleted (with what a
killed build left half written).

A worker that publishes, verifies or reports reads them through ``open_shared_warehouse`` (a DuckDB
connection with the models as tables of an attached database ``wh``, as the warehouse file gives them)
or ``copy_to_local`` (the same tables in a local DuckDB file: a read-only cache of the build).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from pipeline.lib import storage
from pipeline.lib.markers import BuildMarker
from pipeline.lib.specs import PUBLISHED_FOLDERS, quote_ident, quote_literal, read_table_specs

MARKER = "retail.build.json"


def _version_location(location: str, version: str) -> str:
    return storage.join(location, version)


def shared_build(location: str) -> BuildMarker | None:
    """The build marker on the store: which warehouse version was built and handed over, or None."""
    return BuildMarker.read(storage.join(location, MARKER))


def export_build(
    *, warehouse_path: Path, dbt_manifest_path: Path, build_marker_path: Path, location: str
) -> None:
    """Put what the publish reads from this build on the store (the layout above), the marker last."""
    import duckdb

    marker = BuildMarker.read(build_marker_path)
    base = _version_location(location, marker.warehouse_version)
    names = [spec.name for spec in read_table_specs(dbt_manifest_path, PUBLISHED_FOLDERS)]
    rows = {}
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        storage.create_duckdb_secret(con, location)
        for name in names:
            url = storage.join(base, "tables", f"{name}.parquet")
            if not storage.is_remote(url):
                Path(url).parent.mkdir(parents=True, exist_ok=True)
            # DuckDB's COPY to S3 is a multipart upload: the object appears whole when it completes.
            con.execute(
                f"copy (select * from main.{quote_ident(name)}) to {quote_literal(url)} "
                "(format parquet, compression zstd)"
            )
            rows[name] = con.execute(f"select count(*) from main.{quote_ident(name)}").fetchone()[0]
    storage.write_bytes(storage.join(base, "tables.json"), json.dumps(rows, indent=2).encode())
    storage.write_bytes(storage.join(base, "manifest.json"), dbt_manifest_path.read_bytes())
    previous = shared_build(location)
    marker.write(storage.join(location, MARKER))
    keep = {marker.warehouse_version, previous.warehouse_version if previous else None}
    _drop_versions_but(location, keep)


def _drop_versions_but(location: str, keep: set[str | None]) -> None:
    """Delete the handed-over versions other than ``keep``: the current one, and the one before it,
    which a publish on another worker may still be reading; and what a killed build left half written."""
    store = storage.open_store(location)
    stale = [key for key in store.listing("") if "/" in key and key.split("/", 1)[0] not in keep]
    store.delete(stale)


def _read(url: str) -> str:
    return f"select * from read_parquet({quote_literal(url)})"


def _tables(location: str, version: str) -> dict[str, str]:
    """model -> the URL of its Parquet file, for a version handed over whole."""
    base = _version_location(location, version)
    listed = storage.read_bytes(storage.join(base, "tables.json"))
    if listed is None:
        raise FileNotFoundError(f"{base}/tables.json is missing: the build of {version} was not handed over")
    return {name: storage.join(base, "tables", f"{name}.parquet") for name in json.loads(listed)}


def open_shared_warehouse(location: str, version: str | None = None):
    """A DuckDB connection (in memory) whose attached database ``wh`` holds the handed-over models as
    tables ``wh.main.<model>``, as the warehouse file does, for the publish on any worker. ``version``:
    the build marker's when not given. The caller attaches PostgreSQL to it and closes it."""
    import duckdb

    version = version or shared_build(location).warehouse_version
    con = duckdb.connect()
    try:
        storage.create_duckdb_secret(con, location)
        con.execute("attach ':memory:' as wh")
        for name, url in _tables(location, version).items():
            con.execute(f"create table wh.main.{quote_ident(name)} as {_read(url)}")
    except Exception:
        con.close()
        raise
    return con


def copy_to_local(
    *, location: str, warehouse_path: Path, manifest_path: Path, build_marker_path: Path
) -> BuildMarker:
    """Make this worker's warehouse file, dbt manifest and build marker those of the build on the store
    (a read-only cache: only the published models), unless they already are. The marker goes last."""
    import duckdb

    shared = shared_build(location)
    if shared is None:
        raise FileNotFoundError(f"no build was handed over under {location} ({MARKER} is missing)")
    local = BuildMarker.read(build_marker_path)
    if local and local.warehouse_version == shared.warehouse_version and warehouse_path.exists():
        return local
    tables = _tables(location, shared.warehouse_version)
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    copying = warehouse_path.with_name(f"{warehouse_path.stem}.copying{warehouse_path.suffix}")
    copying.unlink(missing_ok=True)
    try:
        with duckdb.connect(str(copying)) as con:
            storage.create_duckdb_secret(con, location)
            for name, url in tables.items():
                con.execute(f"create table main.{quote_ident(name)} as {_read(url)}")
        os.replace(copying, warehouse_path)
    finally:
        copying.unlink(missing_ok=True)
    manifest = storage.read_bytes(
        storage.join(_version_location(location, shared.warehouse_version), "manifest.json")
    )
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(manifest_path, manifest)
    copied = dataclasses.replace(shared, copied_from_store=True)
    copied.write(build_marker_path)
    return copied
