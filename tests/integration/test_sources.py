"""Sources: a landing folder of workbooks (converted one task each) and a URL served on 127.0.0.1."""

from __future__ import annotations

import psycopg
import pytest
from support import SMALL_ROWS, T3, expected_from_workbook, fast_luigi_cfg, serve_http, write_workbook, zipped

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MORE_ROWS = [
    (540001, 22728, "ALARM CLOCK BAKELIKE PINK", 1, T3.replace(month=3), 3.75, 12583.0, "France"),
    (540002, "POST", "POSTAGE", 1, T3.replace(month=3), 15.0, 12583.0, "France"),
]


def fact_count(dsn):
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*), sum(line_amount) from analytics.fct_sales").fetchone()


def test_landing_folder_converts_only_the_new_workbook(tmp_path, run_pipeline, pg_dsn):
    landing = tmp_path / "landing"
    write_workbook(landing / "2010-12.xlsx", SMALL_ROWS)
    env = {"PIPELINE_PG_DSN": pg_dsn}

    first = run_pipeline("--source", str(landing), "--workers", "2", env=env)
    assert first.returncode == 0, first.output
    assert fact_count(pg_dsn)[0] == expected_from_workbook(landing / "2010-12.xlsx")["fact_rows"]

    write_workbook(landing / "2011-03.xlsx", MORE_ROWS)
    second = run_pipeline("--source", str(landing), "--workers", "2", env=env)

    assert second.returncode == 0, second.output
    assert "ConvertWorkbookToParquet(workbook=" + str(landing / "2011-03.xlsx") in second.output
    ran = second.output.split("ran successfully:")[1].split("\n\n")[0]
    assert "2011-03.xlsx" in ran and "2010-12.xlsx" not in ran
    count, amount = fact_count(pg_dsn)
    both = [expected_from_workbook(landing / n) for n in ("2010-12.xlsx", "2011-03.xlsx")]
    assert count == sum(e["fact_rows"] for e in both)
    assert amount == sum(e["fact_amount"] for e in both)


def test_url_source_is_downloaded_unzipped_and_published(tmp_path, run_pipeline, pg_dsn):
    book = write_workbook(tmp_path / "src" / "Online Retail.xlsx", SMALL_ROWS)
    payload = zipped({"Online Retail.xlsx": book})

    with serve_http(payload) as server:
        run = run_pipeline("--source", f"{server.url}/static/public/352/online+retail.zip",
                           env={"PIPELINE_PG_DSN": pg_dsn})  # fmt: skip

    assert run.returncode == 0, run.output
    assert server.requests == ["/static/public/352/online+retail.zip"]
    assert (tmp_path / "data" / "raw" / "online+retail.zip").read_bytes() == payload
    assert (tmp_path / "data" / "raw" / "online_retail" / "Online Retail.xlsx").exists()
    assert fact_count(pg_dsn)[0] == expected_from_workbook(book)["fact_rows"]


def test_archive_whose_workbooks_would_overwrite_each_other_is_refused(tmp_path, run_pipeline):
    book = write_workbook(tmp_path / "src" / "Online Retail.xlsx", SMALL_ROWS)
    payload = zipped({"2010/Online Retail.xlsx": book, "2011/Online Retail.xlsx": book})
    # The download task is retried (transient failures); one second apart keeps the test short.
    config = fast_luigi_cfg(tmp_path / "luigi.cfg")

    with serve_http(payload) as server:
        run = run_pipeline("--source", f"{server.url}/exports.zip", env={"LUIGI_CONFIG_PATH": str(config)})

    assert run.returncode == 30, run.output
    assert "2010/Online Retail.xlsx; 2011/Online Retail.xlsx" in run.output
    assert "share one set of lake files" in run.output
    assert not (tmp_path / "data" / "raw" / "exports").exists()
