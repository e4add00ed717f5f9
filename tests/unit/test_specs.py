"""How the published tables' DuckDB types are spelt in PostgreSQL, and which keys the publish gives them."""

import json

from pipeline.lib.specs import TableSpec, pg_type, published_keys, read_table_specs


def test_money_stays_exact_in_postgres():
    assert pg_type("DECIMAL(18,3)") == "numeric(18,3)"
    assert pg_type("VARCHAR") == "text"
    assert pg_type("TIMESTAMP") == "timestamp"


def test_published_keys_count_only_foreign_keys_to_published_tables():
    specs = [
        TableSpec("dim_date", "", primary_key=["date_key"]),
        TableSpec(
            "fct_sales",
            "",
            primary_key=["sales_line_key"],
            foreign_keys=[("date_key", "dim_date", "date_key"), ("note_key", "stg_notes", "note_key")],
        ),
        TableSpec("rpt_monthly", "", foreign_keys=[("date_key", "dim_date", "date_key")]),
    ]
    assert published_keys(specs) == [
        {"table_name": "dim_date", "constraint_type": "p", "expected_count": 1},
        {"table_name": "dim_date", "constraint_type": "f", "expected_count": 0},
        {"table_name": "fct_sales", "constraint_type": "p", "expected_count": 1},
        {"table_name": "fct_sales", "constraint_type": "f", "expected_count": 1},
        {"table_name": "rpt_monthly", "constraint_type": "p", "expected_count": 0},
        {"table_name": "rpt_monthly", "constraint_type": "f", "expected_count": 1},
    ]


def model(name: str, folder: str) -> dict:
    return {"resource_type": "model", "unique_id": f"model.p.{name}", "name": name,
            "fqn": ["p", folder, name], "columns": {}}  # fmt: skip


def test_foreign_keys_come_from_checks_references_and_relationships_tests(tmp_path):
    # As dbt writes them into its manifest (test_metadata.kwargs).
    checks = {
        "resource_type": "test",
        "attached_node": "model.p.fct_sales",
        "column_name": None,
        "test_metadata": {
            "name": "checks",
            "kwargs": {
                "unique": ["sales_line_key"],
                "references": {
                    "date_key": "ref('dim_date')",
                    "home_key": {"to": "ref('dim_country')", "field": "country_key"},
                },
            },
        },
    }
    relationships = {
        "resource_type": "test",
        "attached_node": "model.p.dim_customer",
        "column_name": "country_key",
        "test_metadata": {
            "name": "relationships",
            "kwargs": {"to": "ref('dim_country')", "field": "country_key"},
        },
    }
    unrelated = {
        "resource_type": "test",
        "attached_node": "model.p.fct_sales",
        "column_name": "date_key",
        "test_metadata": {"name": "not_null", "kwargs": {}},
    }
    nodes = [model("dim_customer", "marts"), model("fct_sales", "marts"), checks, relationships, unrelated]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {str(i): n for i, n in enumerate(nodes)}}))  # fmt: skip

    specs = {s.name: s for s in read_table_specs(manifest, ("marts",))}

    assert specs["fct_sales"].foreign_keys == [
        ("date_key", "dim_date", "date_key"),
        ("home_key", "dim_country", "country_key"),
    ]
    assert specs["dim_customer"].foreign_keys == [("country_key", "dim_country", "country_key")]
