"""The rows behind a dbt test that warned or failed: its compiled query, run again on the warehouse
file that dbt built (pipeline/lib/dbt.py, rows_of_failing_tests). dbt does not store them."""

from __future__ import annotations

import json
import os

import duckdb
import polars as pl
import pytest
from support import write_duckdb_project

from pipeline.lib.dbt import format_test_rows, rows_of_failing_tests


def result(name: str, status: str, failures: int, sql: str) -> dict:
    return {"unique_id": f"test.online_retail.{name}", "status": status, "failures": failures,
            "compiled_code": sql}  # fmt: skip


def test_a_failing_test_query_runs_again_in_dbt_work_directory_on_the_built_file(tmp_path, monkeypatch):
    # As in a build: the lake's paths in the staging view are relative to dbt's work directory.
    work_dir = tmp_path / "data" / "warehouse" / "dbt"
    (work_dir / "target").mkdir(parents=True)
    lake = tmp_path / "data" / "lake"
    lake.mkdir()
    pl.DataFrame({"invoice_no": ["536365", None, None], "source_row": [2, 3, 4]}).write_parquet(
        lake / "lines.parquet"
    )
    database = tmp_path / "data" / "warehouse" / "retail.building.duckdb"
    monkeypatch.chdir(work_dir)  # where dbt creates the view
    with duckdb.connect(str(database)) as con:
        con.execute("create view lines as select * from read_parquet('../../lake/lines.parquet')")
        con.execute("create table codes as select 'XMASWRAP' as value, 6 as line_count")
    (work_dir / "target" / "run_results.json").write_text(json.dumps({"results": [
        result("not_null_lines_invoice_no", "fail", 2,
               '\nselect *\nfrom "retail"."main"."lines"\nwhere invoice_no is null\n-- a trailing comment'),
        result("assert_unknown_values_listed", "warn", 1, 'select * from "retail"."main"."codes"'),
        result("unique_lines_source_row", "pass", 0, "select 1 as wrong"),
        {"unique_id": "model.online_retail.lines", "status": "success", "compiled_code": "select 1"},
    ]}))  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    found = rows_of_failing_tests(work_dir, database)

    assert [(t["test"], t["status"], t["failures"]) for t in found] == [
        ("not_null_lines_invoice_no", "fail", 2),
        ("assert_unknown_values_listed", "warn", 1),
    ]
    assert found[0]["columns"] == ["invoice_no", "source_row"]
    assert found[0]["rows"] == [[None, "3"], [None, "4"]]
    assert os.getcwd() == str(elsewhere)
    assert format_test_rows(found).splitlines() == [
        "dbt test not_null_lines_invoice_no (fail, 2 rows):",
        "    invoice_no=None, source_row=3",
        "    invoice_no=None, source_row=4",
        "",
        "dbt test assert_unknown_values_listed (warn, 1 rows):",
        "    value=XMASWRAP, line_count=6",
    ]


def test_the_rows_of_a_test_that_stored_its_failures_are_read_from_its_table(tmp_path):
    # Its model lived in memory for the build only: its query would not run again.
    work_dir = tmp_path / "dbt"
    (work_dir / "target").mkdir(parents=True)
    database = tmp_path / "retail.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema main_dbt_test__audit")
        con.execute(
            "create table main_dbt_test__audit.checks_int_invoice_lines_classified as "
            "select 'primary_key' as failed_check, 'a.xlsx, Sheet1, 7' as found, 2 as row_count"
        )
    stored = result("checks_int_invoice_lines_classified", "fail", 1,
                    'select * from "transient"."main"."int_invoice_lines_classified"')  # fmt: skip
    stored["relation_name"] = '"retail"."main_dbt_test__audit"."checks_int_invoice_lines_classified"'
    (work_dir / "target" / "run_results.json").write_text(json.dumps({"results": [stored]}))

    [found] = rows_of_failing_tests(work_dir, database)

    assert "error" not in found
    assert found["columns"] == ["failed_check", "found", "row_count"]
    assert found["rows"] == [["primary_key", "a.xlsx, Sheet1, 7", "2"]]


def test_a_query_that_cannot_run_again_says_why_and_keeps_the_others(tmp_path):
    work_dir = tmp_path / "dbt"
    (work_dir / "target").mkdir(parents=True)
    database = tmp_path / "retail.duckdb"
    duckdb.connect(str(database)).close()
    (work_dir / "target" / "run_results.json").write_text(json.dumps({"results": [
        result("relationships_gone", "fail", 3, 'select * from "retail"."main"."dropped_since"'),
        result("accepted_values_kind", "fail", 1, "select 'pallet' as value_kind"),
    ]}))  # fmt: skip

    found = rows_of_failing_tests(work_dir, database)

    assert "dropped_since" in found[0]["error"] and found[0]["rows"] == []
    assert found[1]["rows"] == [["pallet"]]
    assert "(its rows could not be read: " in format_test_rows(found)


def test_a_warehouse_that_cannot_be_opened_is_reported_for_each_test_not_raised(tmp_path):
    # Called inside the handler of dbt's own error: an exception here would hide that error.
    work_dir = tmp_path / "dbt"
    (work_dir / "target").mkdir(parents=True)
    database = tmp_path / "retail.duckdb"
    database.write_text("not a DuckDB file\n")
    (work_dir / "target" / "run_results.json").write_text(json.dumps({"results": [
        result("checks_fct_sales", "fail", 1, "select 1 as x"),
    ]}))  # fmt: skip

    [found] = rows_of_failing_tests(work_dir, database)

    assert found["test"] == "checks_fct_sales" and found["rows"] == []
    assert found["error"].split(":")[0] in {"IOException", "InvalidInputException", "SerializationException"}


def test_a_dbt_run_that_fails_before_running_anything_leaves_no_results_of_an_earlier_run(tmp_path):
    from pipeline.lib.dbt import DbtBuildError, run_dbt

    project = tmp_path / "project"
    project.mkdir()
    # No profiles.yml beside it: dbt stops before it runs anything.
    (project / "dbt_project.yml").write_text("name: unprofiled\nversion: '1.0.0'\nprofile: nowhere\n")
    work_dir = tmp_path / "work"
    (work_dir / "target").mkdir(parents=True)
    earlier = work_dir / "target" / "run_results.json"
    earlier.write_text(json.dumps({"results": [result("checks_fct_sales", "fail", 3, "select 1")]}))

    with pytest.raises(DbtBuildError, match="Could not find profile named 'nowhere'"):
        run_dbt(["build"], project_dir=project, work_dir=work_dir)

    assert not earlier.exists()
    assert rows_of_failing_tests(work_dir, tmp_path / "retail.duckdb") == []


def test_the_rows_of_a_failing_test_on_a_model_kept_in_memory_are_read_from_where_dbt_stored_them(tmp_path):
    # As the warehouse does (dbt/warehouse/profiles.yml, transient): the model is gone after the build.
    from pipeline.lib.dbt import DbtBuildError, run_dbt

    project = write_duckdb_project(tmp_path / "project", "kept", attach="transient")
    (project / "models").mkdir()
    (project / "models" / "lines.sql").write_text(
        "{{ config(materialized='table', database='transient') }}\n"
        "select * from (values (7, 'a'), (7, 'b')) as v(source_row, invoice_no)\n"
    )
    (project / "models" / "schema.yml").write_text(
        "version: 2\nmodels:\n  - name: lines\n    columns:\n      - name: source_row\n"
        "        data_tests: [{unique: {config: {store_failures: true}}}]\n"
    )
    work_dir = tmp_path / "work"

    with pytest.raises(DbtBuildError, match="unique_lines_source_row"):
        run_dbt(["build"], project_dir=project, work_dir=work_dir)

    [found] = rows_of_failing_tests(work_dir, work_dir / "kept.duckdb")
    assert "error" not in found
    assert (found["test"], found["status"]) == ("unique_lines_source_row", "fail")
    assert found["rows"] == [["7", "2"]]
