"""How the published tables' DuckDB types are spelt in PostgreSQL."""

from pipeline.lib.specs import pg_type


def test_money_stays_exact_in_postgres():
    assert pg_type("DECIMAL(18,3)") == "numeric(18,3)"
    assert pg_type("VARCHAR") == "text"
    assert pg_type("TIMESTAMP") == "timestamp"
