"""Write one workbook's lines into the Hive-partitioned Parquet lake, atomically, with a manifest.

Layout (``<lake>`` is ``data/lake``)::

    <lake>/invoice_lines/invoice_year=2011/invoice_month=01/part-<workbook>.parquet
    <lake>/_rejects/<workbook>.parquet          rows that could not be typed, with a reason code
    <lake>/_manifests/<workbook>.json           written last; the conversion is done only when it validates

``<workbook>`` is a slug of the workbook's file name, so re-converting a changed workbook replaces its
own files and nothing else. In a local lake, files are written under ``<lake>/_tmp`` (same filesystem),
then renamed into place. The old manifest is removed before the first rename, so a crash part-way leaves
no manifest and the next run converts the workbook again.

On S3 (no rename) each file is one whole object, put straight at its final key after the old manifest
was deleted; a killed worker leaves objects that no manifest lists, which no reader takes (the build
reads only the files that manifests list) and which the next conversion of that export overwrites or
deletes. The manifest is put last.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import time
import uuid
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.lib import storage
from pipeline.lib.download import sha256_file
from pipeline.lib.faults import fault_point
from pipeline.lib.lines import ExportContents
from pipeline.lib.manifest import MANIFEST_VERSION, LakeManifest, LakePaths, workbook_slug
from pipeline.lib.rules import ConversionRules

PARQUET_OPTIONS = {"compression": "zstd", "compression_level": 3}


class ReconciliationError(RuntimeError):
    """Rows were lost or invented between the workbook and the lake."""


def _write_parquet(frame: pl.DataFrame, path: Path) -> dict:
    path.parent.mkdir(parents=True, exist_ok=True)
    table: pa.Table = frame.to_arrow()
    pq.write_table(table, path, **PARQUET_OPTIONS)
    return {"rows": frame.height, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _parquet_bytes(frame: pl.DataFrame) -> tuple[bytes, dict]:
    buffer = io.BytesIO()
    pq.write_table(frame.to_arrow(), buffer, **PARQUET_OPTIONS)
    data = buffer.getvalue()
    return data, {"rows": frame.height, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _check_reconciled(contents: ExportContents, workbook: Path | str) -> None:
    if contents.lines.height + contents.rejects.height != contents.source_rows:
        raise ReconciliationError(
            f"{workbook}: {contents.source_rows} source rows but {contents.lines.height} lines + "
            f"{contents.rejects.height} rejects"
        )


def _with_month(contents: ExportContents) -> tuple[pl.DataFrame, pl.DataFrame]:
    lines = contents.lines.with_columns(
        pl.col("invoice_ts").dt.year().alias("_year"),
        pl.col("invoice_ts").dt.month().alias("_month"),
    )
    return lines, lines.group_by("_year", "_month").len().sort("_year", "_month")


def _manifest(contents, workbook, workbook_sha256, rules, seconds, by_month, files) -> LakeManifest:
    stat = storage.stat(workbook)
    return LakeManifest(
        manifest_version=MANIFEST_VERSION,
        workbook=str(workbook),
        workbook_sha256=workbook_sha256,
        workbook_bytes=stat.size,
        workbook_mtime_ns=stat.mtime_ns,
        format=contents.format_name,
        kind=contents.kind,
        rules=(rules or ConversionRules()).as_dict(),
        notes=contents.notes,
        skipped_sheets=contents.skipped_sheets,
        seconds=seconds,
        sheets=contents.sheets,
        source_rows=contents.source_rows,
        source_amount=str(contents.source_amount),
        lake_rows=contents.lines.height,
        rejected_rows=contents.rejects.height,
        rejects_by_reason=_count_by(contents.rejects, "reason_code"),
        lines_by_month={f"{y}-{m:02d}": n for y, m, n in by_month.rows()},
        schema={name: str(dtype) for name, dtype in contents.lines.schema.items()},
        files=files,
    )


def write_workbook_to_store(
    contents: ExportContents,
    workbook: Path | str,
    workbook_sha256: str,
    lake: LakePaths,
    read_seconds: float = 0.0,
    rules: ConversionRules | None = None,
) -> LakeManifest:
    """The same as ``write_workbook_to_lake`` on a store without rename (S3): the old manifest goes
    first, each file is put whole at its final key, this export's files that the new manifest does not
    list (an older conversion's months, a killed worker's leftovers) are deleted, the manifest goes last."""
    _check_reconciled(contents, workbook)
    started = time.monotonic()
    store = lake.store
    slug = workbook_slug(workbook)
    store.delete([lake.manifest_key(workbook)])
    files: dict[str, dict] = {}
    lines, by_month = _with_month(contents)
    for year, month, _ in by_month.rows():
        part = lines.filter((pl.col("_year") == year) & (pl.col("_month") == month))
        rel = lake.line_file(slug, year, month)
        data, files[rel] = _parquet_bytes(part.drop("_year", "_month"))
        store.write_bytes(rel, data)
        del part, data
        fault_point(f"lake_month_{len(files)}", months=by_month.height, export=slug)
    rejects_rel = lake.reject_file(slug)
    data, files[rejects_rel] = _parquet_bytes(contents.rejects)
    store.write_bytes(rejects_rel, data)
    own = f"/part-{slug}.parquet"
    stale = [k for k in store.listing(f"{lake.LINES}/") if k.endswith(own) and k not in files]
    store.delete(stale)
    fault_point("lake_before_manifest", files=sorted(files))
    seconds = round(read_seconds + time.monotonic() - started, 2)
    manifest = _manifest(contents, workbook, workbook_sha256, rules, seconds, by_month, files)
    manifest.write(lake.manifest_for(workbook))
    return manifest


def write_workbook_to_lake(
    contents: ExportContents,
    workbook: Path,
    workbook_sha256: str,
    lake: LakePaths,
    read_seconds: float = 0.0,
    rules: ConversionRules | None = None,
) -> LakeManifest:
    """Write lines and rejects of one export; return the manifest (already on disk). A lake on S3 is
    written by ``write_workbook_to_store``."""
    if lake.is_remote:
        return write_workbook_to_store(contents, workbook, workbook_sha256, lake, read_seconds, rules)
    _check_reconciled(contents, workbook)
    started = time.monotonic()
    slug = workbook_slug(workbook)
    for stale in lake.staging.glob(f"{slug}-*"):  # left by a killed conversion
        shutil.rmtree(stale, ignore_errors=True)
    staging = lake.staging / f"{slug}-{uuid.uuid4().hex[:8]}"
    files: dict[str, dict] = {}  # path relative to the lake -> rows, bytes, sha256
    try:
        lines, by_month = _with_month(contents)
        # One month's rows at a time: partitioning all at once copies every line while the lines
        # are still held (docs/speed.md, "Memory").
        for year, month, _ in by_month.rows():
            part = lines.filter((pl.col("_year") == year) & (pl.col("_month") == month))
            rel = lake.line_file(slug, year, month)
            files[rel] = _write_parquet(part.drop("_year", "_month"), staging / rel)
            del part
            fault_point(f"lake_month_{len(files)}", months=by_month.height, staging=staging)
        rejects_rel = lake.reject_file(slug)
        # Always written, even when empty, so readers can rely on the file and its schema.
        files[rejects_rel] = _write_parquet(contents.rejects, staging / rejects_rel)

        manifest_path = lake.manifest_for(workbook)
        old = LakeManifest.read(manifest_path)
        manifest_path.unlink(missing_ok=True)
        for rel in files:
            (lake.lake_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, lake.lake_dir / rel)
        for rel in old.files if old else ():
            if rel not in files:
                (lake.lake_dir / rel).unlink(missing_ok=True)
        fault_point("lake_before_manifest", files=sorted(files))

        seconds = round(read_seconds + time.monotonic() - started, 2)
        manifest = _manifest(contents, workbook, workbook_sha256, rules, seconds, by_month, files)
        manifest.write(manifest_path)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _count_by(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.height == 0:
        return {}
    return dict(sorted(frame.group_by(column).len().rows()))
