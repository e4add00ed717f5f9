"""dbt-postgres connects where, as whom and how the publish did.

The publish's connections are psycopg's: libpq reads the DSN, then its PG* environment for what the
DSN leaves out. dbt-postgres is given host, port, user, database and password by dbt/olap/profiles.yml
from the env that ``verify.parse_env`` makes, and its own libpq reads the PG* environment for the rest.
"""

from __future__ import annotations

import pytest

from pipeline.lib import verify

PG_ENV = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGSSLMODE", "PGSSLROOTCERT")


@pytest.fixture(autouse=True)
def no_pg_env(monkeypatch):
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)


def test_what_the_dsn_states_is_what_dbt_is_given():
    env = verify.parse_env("postgresql://etl:s3cret@db.example:6432/retail", "reader")

    assert {k: env[k] for k in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE")} == {
        "PGHOST": "db.example", "PGPORT": "6432", "PGUSER": "etl", "PGDATABASE": "retail",
    }  # fmt: skip
    assert env["DBT_ENV_SECRET_PGPASSWORD"] == "s3cret"
    assert env["PIPELINE_BI_ROLE"] == "reader"


def test_what_the_dsn_leaves_out_comes_from_the_pg_environment_as_for_the_publish(monkeypatch):
    monkeypatch.setenv("PGHOST", "/run/custom-socket")
    monkeypatch.setenv("PGPORT", "6543")
    monkeypatch.setenv("PGUSER", "etl")
    monkeypatch.setenv("PGPASSWORD", "from-env")

    env = verify.parse_env("dbname=retail", "")

    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"]) == (
        "/run/custom-socket", "6543", "etl", "retail",
    )  # fmt: skip
    assert env["DBT_ENV_SECRET_PGPASSWORD"] == "from-env"


def test_the_dsns_tls_settings_reach_dbt_postgres_libpq():
    dsn = "host=db.example dbname=retail user=etl sslmode=verify-full sslrootcert=/etc/ca.pem"

    env = verify.parse_env(dsn, "reader")

    assert (env["PGSSLMODE"], env["PGSSLROOTCERT"]) == ("verify-full", "/etc/ca.pem")


def test_no_bi_role_is_passed_as_none():
    # [pipeline] bi_role = (empty): the publish grants nothing, and neither do dbt-postgres's views.
    assert verify.parse_env("dbname=retail host=h", "")["PIPELINE_BI_ROLE"] == ""
