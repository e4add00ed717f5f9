"""What a connection failure says: one line, the password never, and whether a retry can help.
The failures are real ones from psycopg (a refused port on 127.0.0.1, malformed DSNs); servers that
answer are in tests/integration/test_dba_postgres.py."""

from __future__ import annotations

import socket

import psycopg
import pytest

from pipeline.lib.postgres import describe_failure, redact, scrub


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://etl:s3cret@db:5432/retail", "postgresql://etl:***@db:5432/retail"),
        ("postgresql://etl@db/retail?password=s3cret&sslmode=require",
         "postgresql://etl@db/retail?password=***&sslmode=require"),
        ("host=db password='s3 cr et' user=etl", "host=db password=*** user=etl"),
        ("host=db password=s3cret dbname=retail", "host=db password=*** dbname=retail"),
        ("postgresql://postgres:@/postgres?host=/data/postgres", "postgresql://postgres:@/postgres?host=/data/postgres"),
    ],
)  # fmt: skip
def test_redact_hides_every_form_of_password(dsn, shown):
    assert redact(dsn) == shown
    assert "s3" not in scrub(f"error while using {dsn}: s3cret rejected", dsn).replace("s3cret", "")


def test_a_short_password_is_hidden_where_it_stands_alone_and_nowhere_else():
    dsn = "postgresql://etl:x@db.example/retail"
    assert scrub("connection timeout expired", dsn) == "connection timeout expired"
    assert scrub("login etl:x@db.example refused; password x is wrong", dsn) == (
        "login etl:***@db.example refused; password *** is wrong"
    )


def test_a_service_name_is_refused_before_any_connection():
    from pipeline.lib.postgres import PostgresUnavailable
    from pipeline.lib.preflight import preflight

    with pytest.raises(PostgresUnavailable, match=r"service name \(service=\) is read by libpq but not"):
        preflight("service=prod dbname=retail", "analytics_reader")


def failure(dsn: str):
    try:
        psycopg.connect(dsn, connect_timeout=3)
    except psycopg.Error as err:
        return describe_failure(err, dsn)
    raise AssertionError("connected")


def refused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_refused_is_retryable_and_malformed_is_not():
    refused = failure(f"postgresql://etl:s3cret@127.0.0.1:{refused_port()}/retail")
    assert refused.retryable and "Connection refused" in str(refused) and "s3cret" not in str(refused)

    for malformed in ("host=h password=s3cret foo", "postgresql://etl:s3cret@127.0.0.1:abc/retail"):
        err = failure(malformed)
        assert not err.retryable and "the DSN is malformed" in str(err) and "s3cret" not in str(err)
        assert str(err).endswith("PIPELINE_PG_DSN.") and "\n" not in str(err)
