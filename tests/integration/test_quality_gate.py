"""dbt's tests gate the publish: a failing test leaves PostgreSQL on the previous complete version."""

from __future__ import annotations

import json

import psycopg
import pytest
from support import SMALL_ROWS, T3, write_workbook

from pipeline.lib.dbt import run_dbt

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

UNKNOWN_CODE = (537100, "GIFTWRAP", "GIFT WRAPPING", 1, T3, 0.5, 12583.0, "France")


def live(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("""
            select (select count(*) from analytics.fct_sales),
                   (select published_version from pipeline_meta.publish_ledger where status = 'live')
        """).fetchone()  # fmt: skip


def test_failing_dbt_test_keeps_the_previous_version(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    env = {"PIPELINE_PG_DSN": pg_dsn}
    assert run_pipeline("--source", str(book), env=env).returncode == 0
    before = live(pg_dsn)
    warehouse = tmp_path / "data" / "warehouse" / "retail.duckdb"
    built = warehouse.stat().st_mtime_ns

    # A stock code that is neither a product code nor in the stock_code_classes seed.
    write_workbook(book, [*SMALL_ROWS, UNKNOWN_CODE])
    run = run_pipeline("--source", str(book), env=env)

    assert run.returncode == 30, run.output
    assert "assert_unknown_values_within_limits" in run.output
    assert "value=GIFTWRAP" in run.output and "dbt/warehouse/seeds/stock_code_classes.csv" in run.output
    assert "The warehouse was not replaced" in run.output
    assert warehouse.stat().st_mtime_ns == built
    assert live(pg_dsn) == before


def test_dbt_docs_generate_documents_every_mart_column(tmp_path, run_pipeline, pg_dsn):
    from pipeline.config import WAREHOUSE_PROJECT_DIR

    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    assert run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn}).returncode == 0
    warehouse = tmp_path / "data" / "warehouse" / "retail.duckdb"

    run_dbt(
        ["docs", "generate"],
        project_dir=WAREHOUSE_PROJECT_DIR,
        env={
            "PIPELINE_WAREHOUSE_PATH": str(warehouse),
            "PIPELINE_DUCKDB_MEMORY_LIMIT": "256MB",
            "PIPELINE_LAKE_LINE_FILES": "[]",
            "PIPELINE_LAKE_REJECT_FILES": "[]",
        },  # fmt: skip
        work_dir=tmp_path / "docs",
    )

    catalog = json.loads((tmp_path / "docs" / "target" / "catalog.json").read_text())
    manifest = json.loads((tmp_path / "docs" / "target" / "manifest.json").read_text())
    assert "model.online_retail.fct_sales" in catalog["nodes"]
    undocumented = [
        f"{node['name']}.{col}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] in {"marts", "quality", "reports"}
        for col, spec in node["columns"].items()
        if not spec.get("description")
    ]
    assert undocumented == []
    published = {n["name"] for n in manifest["nodes"].values() if n["fqn"][1:2] == ["marts"]}
    assert set(catalog_columns(catalog, "fct_sales")) == set(
        manifest["nodes"]["model.online_retail.fct_sales"]["columns"]
    )
    assert {
        "dim_date",
        "dim_customer",
        "dim_product",
        "dim_country",
        "fct_sales",
        "fct_invoices",
    } <= published


def catalog_columns(catalog, model):
    return [c.lower() for c in catalog["nodes"][f"model.online_retail.{model}"]["columns"]]


def test_verification_fails_when_a_live_table_lost_a_key(tmp_path, run_pipeline, pg_dsn):
    # dbt-postgres does not re-scan keys that PostgreSQL enforces; it checks they are enforced.
    from pipeline.config import OLAP_PROJECT_DIR
    from pipeline.lib.dbt import DbtBuildError
    from pipeline.lib.verify import verify_with_dbt_postgres

    book = write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)
    assert run_pipeline("--source", str(book), env={"PIPELINE_PG_DSN": pg_dsn}).returncode == 0
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        [(table, name)] = conn.execute("""
            select c.conrelid::regclass::text, c.conname from pg_constraint c
            where c.contype = 'f' and c.conrelid = 'analytics.fct_sales'::regclass
              and pg_get_constraintdef(c.oid) like '%(product_key)%'
        """).fetchall()  # fmt: skip
        conn.execute(f'alter table {table} drop constraint "{name}"')

    with pytest.raises(DbtBuildError, match="assert_live_tables_carry_their_keys"):
        verify_with_dbt_postgres(
            project_dir=OLAP_PROJECT_DIR, dsn=pg_dsn, work_dir=tmp_path / "verify",
            manifest_path=tmp_path / "data" / "warehouse" / "dbt" / "target" / "manifest.json",
            expected_source_rows=-1, expected_source_amount="", bi_role="analytics_reader",
            turn_wait_seconds=60,
        )  # fmt: skip
