"""The lake on S3-compatible object storage (a real server on 127.0.0.1: moto's server mode, see
tests/s3_server.py): the same figures as a local lake, nothing of the lake on local disk, and a bad
store configuration refused before any work, without a secret in the output."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from support import (
    SHARED_DATA,
    Pipeline,
    new_database,
    pipeline_env,
    published_figures,
    write_landing_months,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MONTHS = ["2011-01", "2011-02", "2011-03"]


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

    expected = published_figures(local_dsn)
    assert expected[0] > 3000 and expected[2] > 0  # real lines, and some quarantined
    assert published_figures(s3_dsn) == expected
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
    # The secret reached boto3 and DuckDB, never a file: not dbt's log, Luigi's log, a marker, a report.
    for path in (tmp_path / "s3-data").rglob("*"):
        if path.is_file() and path.suffix not in {".duckdb", ".msgpack"}:
            assert s3_server.secret.encode() not in path.read_bytes(), path

    again = remote("--source", source)
    assert again.returncode == 0 and not again.ran_tasks, again.output

    # What the publish reads is on the store: the build's models, dbt's manifest, the marker last.
    handed = s3_server.keys(s3_bucket, "lake/_warehouse/")
    assert "lake/_warehouse/retail.build.json" in handed
    assert any(k.endswith("/tables/fct_sales.parquet") for k in handed)
    assert any(k.endswith("/manifest.json") for k in handed)

    # So another worker, with a data directory of its own and no warehouse, publishes the same build
    # (to another database) without converting or building anything. (Its own task: RunAll would find
    # the verification of this lake done, as it is for the database the lake is published to.)
    other_dsn = new_database(pg_server, "t_s3_other_worker")
    other_env = pipeline_env(tmp_path / "other-data", PIPELINE_PG_DSN=other_dsn, PIPELINE_LAKE_URL=lake_url)
    other = Pipeline(tmp_path, other_env | s3_server.env())("--source", source, task="PublishToPostgres")
    assert other.returncode == 0, other.output
    assert "ConvertWorkbookToParquet" not in other.output and "running  BuildWarehouse" not in other.output
    assert "running  PublishToPostgres" in other.output
    assert published_figures(other_dsn) == expected


def test_the_publish_reads_the_handed_over_models_from_the_store(tmp_path, s3_server, s3_bucket, monkeypatch):
    """open_shared_warehouse: the tables a publish reads (wh.main.<model>) from the Parquet on the store."""
    import duckdb

    from pipeline.lib import handoff, storage
    from pipeline.lib.markers import BuildMarker

    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    storage._CLIENT.clear()
    warehouse = tmp_path / "retail.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create table fct_sales as select 1 as sales_key, 2.50::decimal(18,2) as line_amount")
        con.execute("create table stg_hidden as select 1 as x")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {"model.p.fct_sales": {
        "resource_type": "model", "fqn": ["p", "marts", "fct_sales"], "name": "fct_sales",
        "unique_id": "model.p.fct_sales", "columns": {}}}}))  # fmt: skip
    marker = tmp_path / "build.json"
    fields = dict(source="s", workbooks=[], source_sha256=[], source_rows=1, source_amount="2.500",
                  lake_rows=1, conversion_rejects_by_reason={}, convert_seconds=0, dbt={})  # fmt: skip
    BuildMarker(warehouse_version="v1", **fields).write(marker)
    location = f"s3://{s3_bucket}/lake/_warehouse"

    assert handoff.shared_build(location) is None
    handoff.export_build(warehouse_path=warehouse, dbt_manifest_path=manifest, build_marker_path=marker,
                         location=location)  # fmt: skip

    assert handoff.shared_build(location).warehouse_version == "v1"
    con = handoff.open_shared_warehouse(location)
    try:
        assert con.execute("select * from wh.main.fct_sales").fetchall() == [(1, Decimal("2.50"))]
        tables = con.execute("select table_name from duckdb_tables() where database_name = 'wh'").fetchall()
        assert tables == [("fct_sales",)]  # only what the publish copies
    finally:
        con.close()

    # Later builds: the current version and the one before it stay, older ones and leftovers go.
    s3_server.client().put_object(Bucket=s3_bucket, Key="lake/_warehouse/killed/tables/x.parquet", Body=b"x")
    for version in ("v2", "v3"):
        BuildMarker(warehouse_version=version, **fields).write(marker)
        handoff.export_build(warehouse_path=warehouse, dbt_manifest_path=manifest, build_marker_path=marker,
                             location=location)  # fmt: skip
    versions = {k.split("/")[2] for k in s3_server.keys(s3_bucket, "lake/_warehouse/") if k.count("/") > 2}
    assert versions == {"v2", "v3"} and handoff.shared_build(location).warehouse_version == "v3"
    storage._CLIENT.clear()


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


def test_a_download_lands_on_the_store_and_converts_from_there(tmp_path, s3_server, s3_bucket):
    """A URL source with the lake on S3: the archive and its exports go to ``_sources/``, the download
    marker last, and the conversion reads the export from there; nothing lands on local disk."""
    from support import SMALL_ROWS, expected_from_workbook, serve_http, write_workbook, zipped

    book = write_workbook(tmp_path / "src" / "Online Retail.xlsx", SMALL_ROWS)
    payload = zipped({"Online Retail.xlsx": book})
    env = pipeline_env(tmp_path / "data", PIPELINE_LAKE_URL=f"s3://{s3_bucket}/lake") | s3_server.env()

    with serve_http(payload) as server:
        url = f"{server.url}/static/public/352/online+retail.zip"
        # BuildWarehouse: the download, the conversion and the dbt build, no PostgreSQL.
        done = Pipeline(tmp_path, env, server_allowed=False)("--source", url, task="BuildWarehouse")

    assert done.returncode == 0, done.output
    keys = s3_server.keys(s3_bucket, "lake/_sources/")
    assert keys == {
        "lake/_sources/online+retail.zip": len(payload),
        "lake/_sources/online_retail/Online Retail.xlsx": book.stat().st_size,
        "lake/_sources/online+retail.zip.download.json": keys[
            "lake/_sources/online+retail.zip.download.json"
        ],
    }
    manifest = json.loads(
        s3_server.client()
        .get_object(Bucket=s3_bucket, Key="lake/_manifests/online_retail.json")["Body"]
        .read()
    )
    assert manifest["workbook"] == f"s3://{s3_bucket}/lake/_sources/online_retail/Online Retail.xlsx"
    assert manifest["lake_rows"] + manifest["rejected_rows"] == expected_from_workbook(book)["source_rows"]
    assert not (tmp_path / "data" / "raw").exists() and not (tmp_path / "data" / "lake").exists()
