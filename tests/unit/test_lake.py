"""The lake: partitions, manifest written last, and what counts as complete."""

from __future__ import annotations

import os

import polars as pl
import pytest
from support import SMALL_ROWS, write_workbook

from pipeline.lib.download import sha256_file
from pipeline.lib.lake import write_workbook_to_lake
from pipeline.lib.lines import read_export
from pipeline.lib.manifest import LakeManifest, LakePaths, manifest_is_current
from pipeline.lib.rules import ConversionRules

RULES = ConversionRules().as_dict()


def convert(book, lake_dir):
    sha = sha256_file(book)
    lake = LakePaths(lake_dir)
    return lake, write_workbook_to_lake(read_export(book, sha), book, sha, lake)


def test_partitions_lineage_and_manifest(tmp_path):
    book = write_workbook(tmp_path / "Online Retail.xlsx", SMALL_ROWS)

    lake, manifest = convert(book, tmp_path / "lake")

    parts = sorted(p.relative_to(lake.lake_dir).as_posix() for p in lake.invoice_lines.rglob("*.parquet"))
    assert parts == [
        "invoice_lines/invoice_year=2010/invoice_month=12/part-online_retail.parquet",
        "invoice_lines/invoice_year=2011/invoice_month=01/part-online_retail.parquet",
        "invoice_lines/invoice_year=2011/invoice_month=08/part-online_retail.parquet",
    ]
    assert manifest.source_rows == manifest.lake_rows == len(SMALL_ROWS)
    assert manifest.lines_by_month == {"2010-12": 6, "2011-01": 4, "2011-08": 1}
    assert manifest.workbook_sha256 == sha256_file(book)
    lines = pl.read_parquet(lake.invoice_lines, hive_partitioning=True)
    assert lines.height == len(SMALL_ROWS)
    assert set(lines["source_sha256"]) == {manifest.workbook_sha256}
    assert sorted(lines["source_row"]) == list(range(2, len(SMALL_ROWS) + 2))
    assert pl.read_parquet(lake.rejects / "online_retail.parquet").height == 0
    assert not (lake.lake_dir / "_tmp").exists() or not any((lake.lake_dir / "_tmp").iterdir())
    assert manifest_is_current(lake.manifest_for(book), book, RULES)


def test_changed_workbook_or_missing_file_is_not_complete(tmp_path):
    book = write_workbook(tmp_path / "Online Retail.xlsx", SMALL_ROWS)
    lake, manifest = convert(book, tmp_path / "lake")
    path = lake.manifest_for(book)

    os.utime(book, ns=(0, 0))  # touched, same bytes: still converted
    assert manifest_is_current(path, book, RULES)
    # Other conversion rules may type other rows: the export is converted again.
    assert not manifest_is_current(path, book, ConversionRules(date_order="DMY").as_dict())

    write_workbook(book, SMALL_ROWS[:-1])  # new content
    assert not manifest_is_current(path, book, RULES)

    _, manifest = convert(book, tmp_path / "lake")  # re-conversion drops the month that vanished
    assert "invoice_lines/invoice_year=2011/invoice_month=08/part-online_retail.parquet" not in manifest.files
    assert not list(lake.invoice_lines.glob("invoice_year=2011/invoice_month=08/*"))
    assert manifest_is_current(path, book, RULES)

    next(lake.invoice_lines.rglob("*.parquet")).unlink()
    assert not manifest_is_current(path, book, RULES)


def test_crash_before_manifest_leaves_nothing_complete(tmp_path, monkeypatch):
    """A conversion killed after moving files in but before its manifest is not complete."""
    book = write_workbook(tmp_path / "Online Retail.xlsx", SMALL_ROWS)
    lake, _ = convert(book, tmp_path / "lake")
    write_workbook(book, SMALL_ROWS[:4])

    def die(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(LakeManifest, "write", die)
    with pytest.raises(KeyboardInterrupt):
        convert(book, tmp_path / "lake")
    assert not manifest_is_current(lake.manifest_for(book), book, RULES)
    monkeypatch.undo()

    _, manifest = convert(book, tmp_path / "lake")
    assert manifest.lake_rows == 4 and manifest_is_current(lake.manifest_for(book), book, RULES)
