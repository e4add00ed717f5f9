"""How the published tables' DuckDB types are spelt in PostgreSQL, and which keys the publish gives them."""

from pipeline.lib.specs import TableSpec, pg_type, published_keys


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
