"""The real dataset (../shared/data): the lake matches the workbook, checked against the independent
Parquet copy described in SOURCES.md."""

from __future__ import annotations

import polars as pl
import pytest
from support import SHARED_DATA

from pipeline.lib.download import sha256_file
from pipeline.lib.lake import write_workbook_to_lake
from pipeline.lib.lines import read_export
from pipeline.lib.manifest import LakePaths

pytestmark = pytest.mark.integration


def test_lake_matches_the_independent_copy(real_workbook, tmp_path):
    independent = SHARED_DATA / "online_retail.parquet"
    if not independent.exists():
        pytest.skip(f"the independent copy {independent} is not on this machine")
    sha = sha256_file(real_workbook)
    lake = LakePaths(tmp_path / "lake")

    manifest = write_workbook_to_lake(read_export(real_workbook, sha), real_workbook, sha, lake)

    assert (manifest.source_rows, manifest.lake_rows, manifest.rejected_rows) == (
        541_909,
        541_909,
        0,
    )
    lines = pl.read_parquet(lake.invoice_lines, hive_partitioning=True)
    ref = pl.read_parquet(independent)
    assert lines.height == ref.height
    assert lines["invoice_no"].n_unique() == ref["InvoiceNo"].n_unique()
    assert lines["stock_code"].n_unique() == ref["StockCode"].str.strip_chars().n_unique()
    assert lines["customer_id"].drop_nulls().n_unique() == ref["CustomerID"].drop_nulls().n_unique()
    assert lines["country"].n_unique() == ref["Country"].n_unique() == 38
    ref_months = ref.group_by(pl.col("InvoiceDate").dt.strftime("%Y-%m").alias("m")).len().sort("m")
    assert manifest.lines_by_month == dict(ref_months.rows())
    lake_months = lines.group_by("invoice_year", "invoice_month").len().sort("invoice_year", "invoice_month")
    assert lake_months["len"].to_list() == ref_months["len"].to_list()
    # Row by row: the same values in the same order (text trimmed, money exact).
    ordered = lines.sort("source_row")
    assert ordered["invoice_no"].to_list() == ref["InvoiceNo"].to_list()
    assert ordered["quantity"].to_list() == ref["Quantity"].to_list()
    assert (ordered["unit_price"].cast(pl.Float64) - ref["UnitPrice"]).abs().max() < 1e-9


def test_the_uci_data_as_csv_reads_like_the_workbook(tmp_path):
    """The UCI data as it is passed around as CSV (US dates ``12/1/2010 8:26``, customer ids ``17850.0``,
    Windows-1252), built from the independent Parquet copy: every line typed, values equal."""
    independent = SHARED_DATA / "online_retail.parquet"
    if not independent.exists():
        pytest.skip(f"the independent copy {independent} is not on this machine")
    ref = pl.read_parquet(independent)
    text = ref.with_columns(
        pl.col("InvoiceDate").dt.strftime("%-m/%-d/%Y %-H:%M"), pl.col("CustomerID").cast(pl.String)
    ).write_csv()
    export = tmp_path / "Online Retail.csv"
    export.write_bytes(text.encode("cp1252"))

    got = read_export(export, "sha")

    assert (got.lines.height, got.rejects.height) == (541_909, 0)
    assert "slash dates read MDY (shown by the export)" in got.notes
    lines = got.lines.sort("source_row")
    assert lines["source_row"].to_list() == list(range(2, 541_911))
    assert lines["invoice_no"].to_list() == ref["InvoiceNo"].to_list()
    assert lines["invoice_ts"].to_list() == ref["InvoiceDate"].to_list()
    assert lines["customer_id"].to_list() == ref["CustomerID"].cast(pl.Int64).to_list()
    assert lines["description"].to_list() == ref["Description"].str.strip_chars().replace("", None).to_list()
    assert (lines["unit_price"].cast(pl.Float64) - ref["UnitPrice"]).abs().max() < 1e-9
