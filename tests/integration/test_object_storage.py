"""The lake on S3-compatible object storage (a real server on 127.0.0.1: moto's server mode, see
tests/s3_server.py): the same figures as a local lake, nothing of the lake on local disk, and a bad
store configuration refused before any work, without a secret in the output."""

from __future__ import annotations

import time

import psycopg
import pytest
from support import SHARED_DATA, Pipeline, pipeline_env, write_landing_months

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MONTHS = ["2011-01", "2011-02", "2011-03"]
FIGURES = """
    select (select count(*) from analytics.fct_sales), (select sum(line_amount) from analytics.fct_sales),
           (select count(*) from analytics.rejected_invoice_lines),
           (select sum(line_amount) from analytics.rejected_invoice_lines),
           (select string_agg(reason_code || '=' || n, ',' order by reason_code) from (
               select reason_code, count(*) as n from analytics.rejected_invoice_lines group by 1) r)
"""


def new_database(pg_server, name: str) -> str:
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return pg_server.get_uri(name)


def figures(dsn: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(FIGURES).fetchone()


@pytest.fixture
def landing(tmp_path):
    if not (SHARED_DATA / "online_retail.parquet").exists():
        pytest.skip(f"the Online Retail data is not on this machine (looked in {SHARED_DATA})")
    return write_landing_months(tmp_path / "landing", MONTHS)


def upload(s3_server, bucket: str, books, prefix: str = "landing") -> str:
    client = s3_server.client()
    for book in books:
        client.upload_file(str(book), bucket, f"{prefix}/{book.name}")
    return f"s3://{bucket}/{prefix}"


def test_a_lake_on_s3_gives_the_figures_of_a_local_lake(tmp_path, landing, s3_server, s3_bucket, pg_server):
    local_dsn = new_database(pg_server, "t_s3_local_lake")
    s3_dsn = new_database(pg_server, "t_s3_remote_lake")
    local = Pipeline(tmp_path, pipeline_env(tmp_path / "local-data", PIPELINE_PG_DSN=local_dsn))
    done = local("--source", str(landing[0].parent))
    assert done.returncode == 0, done.output

    # Nothing local is shared: the landing folder is on the store too, the data directory is new.
    source = upload(s3_server, s3_bucket, landing)
    lake_url = f"s3://{s3_bucket}/lake"
    env = pipeline_env(tmp_path / "s3-data", PIPELINE_PG_DSN=s3_dsn, PIPELINE_LAKE_URL=lake_url)
    remote = Pipeline(tmp_path, env | s3_server.env())
    done = remote("--source", source)
    assert done.returncode == 0, done.output

    expected = figures(local_dsn)
    assert expected[0] > 3000 and expected[2] > 0  # real lines, and some quarantined
    assert figures(s3_dsn) == expected
    keys = s3_server.keys(s3_bucket, "lake/")
    assert {k for k in keys if k.startswith("lake/_manifests/")} == {
        f"lake/_manifests/{m.replace('-', '_')}.json" for m in MONTHS
    }
    assert sum(k.startswith("lake/invoice_lines/invoice_year=2011/") for k in keys) == len(MONTHS)
    # No lake file on local disk: no Parquet, no manifest anywhere under the run's data directory.
    on_disk = [
        p for p in (tmp_path / "s3-data").rglob("*") if p.suffix == ".parquet" or "_manifests" in p.parts
    ]
    assert on_disk == []
    assert s3_server.secret not in done.output

    again = remote("--source", source)
    assert again.returncode == 0 and not again.ran_tasks, again.output


@pytest.mark.parametrize("case", ["no bucket", "wrong credentials", "no server"])
def test_a_bad_store_is_refused_before_any_work(tmp_path, landing, s3_server, case):
    from support import free_port

    aws = s3_server.env()
    bucket = "no-such-bucket"
    if case == "wrong credentials":
        bucket = s3_server.make_bucket(f"bad-credentials-{int(time.time())}")
        aws |= {"AWS_ACCESS_KEY_ID": "AKIAWRONGKEY", "AWS_SECRET_ACCESS_KEY": "wrong-Secret-0815"}
    elif case == "no server":
        aws |= {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    # PostgreSQL on a port where nothing listens: the store must be refused first (no embedded server).
    env = pipeline_env(
        tmp_path / "data",
        PIPELINE_LAKE_URL=f"s3://{bucket}/lake",
        PIPELINE_PG_DSN=f"postgresql://etl:pg-Secret-4711@127.0.0.1:{free_port()}/retail",
    )

    started = time.monotonic()
    done = Pipeline(tmp_path, env | aws)("--source", str(landing[0].parent), timeout=120)
    took = time.monotonic() - started

    assert done.returncode != 0, done.output
    expected = {"no bucket": "does not exist", "wrong credentials": "refused the credentials",
                "no server": "does not answer"}[case]  # fmt: skip
    assert expected in done.output and bucket in done.output, done.output
    assert "PostgreSQL" not in done.output  # refused before the database was even asked
    assert aws["AWS_SECRET_ACCESS_KEY"] not in done.output and "pg-Secret-4711" not in done.output
    assert "running  ConvertWorkbookToParquet" not in done.output
    assert not (tmp_path / "data" / "lake").exists() and not (tmp_path / "data" / "warehouse").exists()
    assert took < 60, f"the refusal took {took:.0f} s"
