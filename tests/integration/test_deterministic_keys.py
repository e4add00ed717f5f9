"""The same source gives the same keys on every run: two independent builds, compared key by key."""

from __future__ import annotations

import duckdb
import pytest
from support import SMALL_ROWS, write_workbook

pytestmark = pytest.mark.integration

KEYS = {
    "fct_sales": "select sales_line_key, product_key, customer_key, country_key, date_key, source_row "
    "from fct_sales order by source_row",
    "dim_product": "select product_key, stock_code, description from dim_product order by stock_code",
    "rejected_invoice_lines": "select rejected_line_key, source_row from rejected_invoice_lines order by 2",
}


def build(tmp_path, name, book, run_pipeline):
    run = run_pipeline(
        "--source", str(book), task="BuildWarehouse", env={"PIPELINE_DATA_DIR": str(tmp_path / name)}
    )
    assert run.returncode == 0, run.stderr[-3000:]
    with duckdb.connect(str(tmp_path / name / "warehouse" / "retail.duckdb"), read_only=True) as con:
        return {table: con.execute(sql).fetchall() for table, sql in KEYS.items()}


def test_two_builds_give_identical_keys(tmp_path, run_pipeline):
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)

    first = build(tmp_path, "one", book, run_pipeline)
    second = build(tmp_path, "two", book, run_pipeline)

    assert first == second
    assert len(first["fct_sales"]) == len(SMALL_ROWS) - 1
    assert len({row[0] for row in first["fct_sales"]}) == len(first["fct_sales"])
