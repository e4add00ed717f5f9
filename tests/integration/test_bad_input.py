"""Each kind of unusable workbook, through the luigi command line: a clear error naming the file and
the problem, a non-zero exit, and nothing in the lake."""

from __future__ import annotations

import openpyxl
import pytest
from support import HEADER, SMALL_ROWS, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def truncated(path):
    whole = write_workbook(path.with_name("whole.xlsx"), SMALL_ROWS).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def html_page(path):
    path.write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")


def empty_sheet(path):
    openpyxl.Workbook().save(path)


def missing_column(path):
    write_workbook(path, [r[:-1] for r in SMALL_ROWS], header=HEADER[:-1])


def other_dataset(path):
    write_workbook(path, [(5.1, 3.5, "setosa")], header=["sepal_length", "sepal_width", "species"])


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (truncated, "truncated or corrupt"),
        (html_page, "an HTML page, not an export"),
        (empty_sheet, "the sheet is empty"),
        (missing_column, "missing column 'Country'"),
        (other_dataset, "does not look like an Online Retail export"),
    ],
)
def test_bad_workbook_fails_clearly_with_no_lake_output(tmp_path, run_pipeline, make, problem):
    book = tmp_path / "in" / "Online Retail.xlsx"
    book.parent.mkdir()
    make(book)

    run = run_pipeline("--source", str(book))

    assert run.returncode == 30, run.output
    assert f"{book}" in run.output and problem in run.output
    lake = tmp_path / "data" / "lake"
    assert not [p for p in lake.rglob("*") if p.is_file()]


def test_workbooks_that_would_share_lake_files_are_refused(tmp_path, run_pipeline):
    folder = tmp_path / "landing"
    folder.mkdir()
    write_workbook(folder / "Sales 2011.xlsx", SMALL_ROWS)
    write_workbook(folder / "sales_2011.xlsx", SMALL_ROWS)

    run = run_pipeline("--source", str(folder))

    assert run.returncode == 35, run.output  # refused while scheduling, before any task ran
    assert "Sales 2011.xlsx; sales_2011.xlsx" in run.output and "share one set of lake files" in run.output
    lake = tmp_path / "data" / "lake"
    assert not [p for p in lake.rglob("*") if p.is_file()]
