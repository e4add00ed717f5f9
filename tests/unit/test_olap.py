from pipeline.lib.olap import pg_type
from pipeline.lib.postgres import redact


def test_redact_hides_passwords_in_urls_and_keyword_dsns():
    assert redact("postgresql://etl:s3cret@db:5432/retail") == "postgresql://etl:***@db:5432/retail"
    assert redact("host=db user=etl password=s3cret dbname=retail") == (
        "host=db user=etl password=*** dbname=retail"
    )
    assert (
        redact("postgresql://postgres:@/postgres?host=/tmp/x")
        == "postgresql://postgres:@/postgres?host=/tmp/x"
    )


def test_money_stays_exact_in_postgres():
    assert pg_type("DECIMAL(18,3)") == "numeric(18,3)"
    assert pg_type("VARCHAR") == "text"
    assert pg_type("TIMESTAMP") == "timestamp"
