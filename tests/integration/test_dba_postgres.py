"""Against a PostgreSQL run the way a DBA runs one (tests/dba_postgres.py): password authentication over
TCP, a login role ``etl`` that owns its database and is neither superuser nor CREATEROLE. What the
pipeline needs is granted as README ("Running against your PostgreSQL") says, and every failure ends,
in bounded time, with one message and a non-zero exit."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dba_postgres
import psycopg
import pytest
from dba_postgres import ETL_PASSWORD, SUPERUSER, SUPERUSER_PASSWORD, server_binaries
from psycopg.conninfo import conninfo_to_dict
from support import REPO, SMALL_ROWS, expected_from_workbook, kill, wait_until, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

# A failure that cannot heal must end well before Luigi's old retries (3 x 30 s) would have.
FAIL_FAST_SECONDS = 20


@pytest.fixture(scope="module")
def dba_server(tmp_path_factory):
    if server_binaries() is None:
        pytest.skip("no PostgreSQL server binaries here (Debian's postgresql-15 or the pgserver wheel)")
    with dba_postgres.dba_server(tmp_path_factory.mktemp("dba")) as running:
        # What the DBA runs once (README): the BI role, which etl may not create itself.
        running.sql("create role analytics_reader nologin")
        yield running


@pytest.fixture
def fresh_db(dba_server, request):
    """A database of its own for one test, owned by etl, with no published version yet."""
    name = "retail_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    dba_server.sql(f'drop database if exists "{name}" with (force)')
    dba_server.sql(f'create database "{name}" owner etl')
    return dba_server.dsn(database=name)


@pytest.fixture
def small_workbook(tmp_path):
    return write_workbook(tmp_path / "in" / "Online Retail.xlsx", SMALL_ROWS)


def timed(run_pipeline, *args, env):
    started = time.monotonic()
    run = run_pipeline(*args, env=env)
    return run, time.monotonic() - started


def test_full_run_as_a_least_privileged_role_then_the_bi_role_reads(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    log_before = dba_server.log.stat().st_size
    run = run_pipeline("--source", str(small_workbook), env={"PIPELINE_PG_DSN": fresh_db})

    assert run.returncode == 0, run.output
    # Every connection of the run, dbt-postgres's and DuckDB's included, says who it is.
    with open(dba_server.log, encoding="utf-8", errors="replace") as log:
        log.seek(log_before)
        logins = [line for line in log if "connection authorized: user=etl" in line]
    unnamed = [line for line in logins if "application_name=online-retail-pipeline" not in line]
    assert len(logins) >= 4 and unnamed == []
    expected = expected_from_workbook(small_workbook)
    assert dba_server.sql("select count(*) from analytics.fct_sales", fresh_db) == [(expected["fact_rows"],)]
    # A BI login that is granted the read-only role sees analytics, not the ledger.
    dba_server.sql("drop role if exists bi_alice")
    dba_server.sql("create role bi_alice login password 'alice-pw' in role analytics_reader")
    alice = fresh_db.replace(f"etl:{ETL_PASSWORD}", "bi_alice:alice-pw")
    assert dba_server.sql("select count(*) from analytics.dim_country", alice)[0][0] > 0
    # ... and finds the star's joins where BI tools look for them (information_schema).
    joins = dba_server.sql(
        "select distinct pk.table_name from information_schema.referential_constraints r "
        "join information_schema.table_constraints fk using (constraint_schema, constraint_name) "
        "join information_schema.table_constraints pk on pk.constraint_schema = r.unique_constraint_schema "
        "and pk.constraint_name = r.unique_constraint_name where fk.table_name = 'fct_sales' order by 1",
        alice,
    )
    assert joins == [("dim_country",), ("dim_customer",), ("dim_date",), ("dim_product",)]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        dba_server.sql("select * from pipeline_meta.publish_ledger", alice)
    # The password appears in no log, report, marker or ledger row.
    data = tmp_path / "data"
    leaks = [p for p in data.rglob("*") if p.is_file() and p.suffix in {".log", ".json", ".html", ".txt"}
             and ETL_PASSWORD in p.read_text(errors="replace")]  # fmt: skip
    assert leaks == [] and ETL_PASSWORD not in run.output
    ledger = dba_server.sql("select row_to_json(l)::text from pipeline_meta.publish_ledger l", fresh_db)
    assert ledger and all(ETL_PASSWORD not in row for (row,) in ledger)


def test_bi_role_missing_and_not_creatable_is_named_before_any_work(
    dba_server, small_workbook, run_pipeline, tmp_path
):
    dba_server.sql("drop database if exists retail_norole with (force)")
    dba_server.sql("create database retail_norole owner etl")
    dsn = dba_server.dsn(database="retail_norole")

    run, seconds = timed(
        run_pipeline,
        "--source",
        str(small_workbook),
        "--pipeline-bi-role",
        "bi_missing",
        env={"PIPELINE_PG_DSN": dsn},
    )

    assert run.returncode != 0 and seconds < FAIL_FAST_SECONDS, (seconds, run.output)
    assert "CREATE ROLE bi_missing NOLOGIN;" in run.output and "may not create roles" in run.output
    assert run.output.count("CREATE ROLE bi_missing") == 1  # one message, once
    assert not (tmp_path / "data" / "lake").exists()  # nothing converted, nothing copied
    schemas = dba_server.sql("select nspname from pg_namespace where nspname like 'analytics%'", dsn)
    assert schemas == []


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"password": "Not-The-Pw-42"}, "password authentication failed"),
        ({"port": 1}, "Connection refused"),
        ({"database": "no_such_db"}, 'database "no_such_db" does not exist'),
        ({"host": "db.invalid"}, "the host name does not resolve"),
    ],
    ids=["wrong-password", "refused", "unknown-database", "unknown-host"],
)
def test_a_server_that_cannot_be_used_ends_the_run_fast_fresh_and_after_a_build(
    dba_server, fresh_db, small_workbook, run_pipeline, bad, words
):
    dsn = dba_server.dsn(**{"database": fresh_db.rsplit("/", 1)[1], **bad})

    fresh, seconds = timed(run_pipeline, "--source", str(small_workbook), env={"PIPELINE_PG_DSN": dsn})

    assert fresh.returncode != 0 and seconds < FAIL_FAST_SECONDS, (seconds, fresh.output)
    assert words in fresh.output and fresh.output.count(words) == 1
    assert "Traceback" not in fresh.output and "Not-The-Pw-42" not in fresh.output

    # Build and publish with the right DSN; then a re-run whose warehouse is built and whose server
    # cannot be used must end too: no hang in Luigi's completeness checks.
    good = run_pipeline("--source", str(small_workbook), env={"PIPELINE_PG_DSN": fresh_db})
    assert good.returncode == 0, good.output
    again, seconds = timed(run_pipeline, "--source", str(small_workbook), env={"PIPELINE_PG_DSN": dsn})
    assert again.returncode != 0 and seconds < FAIL_FAST_SECONDS, (seconds, again.output)
    assert words in again.output


def test_server_stopped_mid_copy_keeps_the_live_version_and_the_next_run_succeeds(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    env = {"PIPELINE_PG_DSN": fresh_db}
    assert run_pipeline("--source", str(small_workbook), env=env).returncode == 0
    [(live_before,)] = dba_server.sql(
        "select published_version from pipeline_meta.publish_ledger where status = 'live'", fresh_db
    )
    more = write_workbook(
        tmp_path / "in" / "Online Retail.xlsx", [*SMALL_ROWS, SMALL_ROWS[0][:3] + (99,) + SMALL_ROWS[0][4:]]
    )
    marker = tmp_path / "at-copy"
    proc = run_pipeline.paused("--source", str(more), stage="copy", marker=marker, seconds=3, env=env)
    try:
        wait_until(marker.exists, 120, "the publish reaching the copy", proc)
        dba_server.stop("immediate")  # the server goes away in the middle of the copy
        output, _ = proc.communicate(timeout=120)
    finally:
        kill(proc)
        dba_server.start()

    assert proc.returncode != 0, output
    assert "cannot copy to PostgreSQL" in output or "cannot publish to PostgreSQL" in output, output
    assert "std::" not in output and "Traceback" not in output  # one line, no C++ or Python stack
    assert dba_server.sql(
        "select published_version from pipeline_meta.publish_ledger where status = 'live'", fresh_db
    ) == [(live_before,)]

    rerun = run_pipeline("--source", str(more), env=env)
    assert rerun.returncode == 0, rerun.output
    assert dba_server.sql("select count(*) from analytics.fct_sales", fresh_db) == [
        (expected_from_workbook(more)["fact_rows"],)
    ]


def test_a_server_frozen_mid_copy_ends_the_run_after_the_task_timeout(small_workbook, run_pipeline, tmp_path):
    # Stopped processes (SIGSTOP: a hung storage, a VM paused) answer nothing while the kernel still
    # acknowledges TCP, so no keepalive notices. A server of its own: the module's stays usable.
    with dba_postgres.dba_server(tmp_path / "frozen") as server:
        server.sql("create role analytics_reader nologin")
        env = {"PIPELINE_PG_DSN": server.dsn()}
        timeout = 20
        marker = tmp_path / "at-copy"
        # The limit counts the wait for the publish turn too, so that wait must be shorter.
        args = ["--source", str(small_workbook), "--pipeline-postgres-task-timeout-seconds", str(timeout),
                "--pipeline-publish-turn-wait-seconds", "10"]  # fmt: skip
        proc = run_pipeline.paused(*args, stage="copy", marker=marker, seconds=3, env=env)
        postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
        frozen = []
        try:
            wait_until(marker.exists, 120, "the publish reaching the copy", proc)
            started = time.monotonic()
            children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
            frozen = [postmaster, *map(int, children)]
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
            output, _ = proc.communicate(timeout=120)
            seconds = time.monotonic() - started
        finally:
            kill(proc)
            for pid in frozen:
                os.kill(pid, signal.SIGCONT)

        assert proc.returncode == 30, output
        assert seconds < timeout + 10, seconds
        assert f"ran longer than its limit of {timeout} s and was ended. PostgreSQL answered" in output
        # Nothing went live; once the server is back, the next run publishes.
        assert server.sql("select count(*) from pipeline_meta.publish_ledger where status = 'live'",
                          server.dsn(SUPERUSER, SUPERUSER_PASSWORD)) == [(0,)]  # fmt: skip
        rerun = run_pipeline("--source", str(small_workbook), env=env)
        assert rerun.returncode == 0, rerun.output


def test_two_pipelines_in_two_data_dirs_publish_into_one_database_at_once(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    procs = [
        run_pipeline.start(
            "--source",
            str(small_workbook),
            env={"PIPELINE_PG_DSN": fresh_db, "PIPELINE_DATA_DIR": str(tmp_path / f"data-{name}")},
        )  # fmt: skip
        for name in ("a", "b")
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]

    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not any("already running" in o for o in outputs)
    # The same exports give the same warehouse version in both data directories: published once.
    versions = dba_server.sql("select warehouse_version, status from pipeline_meta.publish_ledger", fresh_db)
    assert len(versions) == 1 and versions[0][1] == "live", versions


def test_a_server_back_within_the_retry_window_lets_the_same_run_succeed(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    marker = tmp_path / "at-copy"
    env = {"PIPELINE_PG_DSN": fresh_db}
    proc = run_pipeline.paused(
        "--source", str(small_workbook), stage="copy", marker=marker, seconds=8, env=env
    )
    try:
        wait_until(marker.exists, 120, "the publish reaching the copy", proc)
        paused_at = time.monotonic()
        dba_server.stop("immediate")
        # The copy resumes 8 s after the pause began, against a stopped server, and fails; the publish
        # tries again 5 s and then 15 s later. Back at 10 s, the server is there for either try.
        time.sleep(max(0.0, paused_at + 10 - time.monotonic()))
        dba_server.start()
        output, _ = proc.communicate(timeout=180)
    finally:
        kill(proc)

    assert proc.returncode == 0, output
    assert "publish try 1/3 failed" in output
    assert dba_server.sql("select status from pipeline_meta.publish_ledger", fresh_db) == [("live",)]


def test_a_dsn_that_names_only_the_database_connects_everything_through_the_pg_environment(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    """libpq fills in what the DSN leaves out from PGHOST, PGPORT, PGUSER and PGPASSWORD, for the
    publish and for dbt-postgres's verification alike; and with ``bi_role`` empty, nothing is granted."""
    parts = conninfo_to_dict(fresh_db)
    env = {
        "PIPELINE_PG_DSN": f"dbname={parts['dbname']}",
        "PGHOST": str(parts["host"]), "PGPORT": str(parts["port"]),
        "PGUSER": str(parts["user"]), "PGPASSWORD": str(parts["password"]),
    }  # fmt: skip

    # README: "set [pipeline] bi_role = to publish without one".
    cfg = tmp_path / "luigi.cfg"
    cfg.write_text((REPO / "luigi.cfg").read_text().replace("[pipeline]\n", "[pipeline]\nbi_role =\n", 1))

    run = run_pipeline("--source", str(small_workbook), env=env | {"LUIGI_CONFIG_PATH": str(cfg)})

    assert run.returncode == 0, run.output[-4000:]
    assert (tmp_path / "data" / "warehouse" / "retail.verified.json").exists()
    granted = dba_server.sql(
        "select count(*) from information_schema.role_table_grants "
        "where grantee = 'analytics_reader' and table_schema = 'analytics'",
        fresh_db,
    )
    assert granted == [(0,)]


def test_a_ledger_schema_of_another_owner_is_named_with_the_sql_to_run(
    dba_server, fresh_db, small_workbook, run_pipeline, tmp_path
):
    # Made by the DBA, who grants etl nothing in it: etl may not even look in.
    as_dba = dba_server.dsn(SUPERUSER, SUPERUSER_PASSWORD, conninfo_to_dict(fresh_db)["dbname"])
    dba_server.sql("create schema pipeline_meta", as_dba)
    dba_server.sql("create table pipeline_meta.publish_ledger (x int)", as_dba)

    run, seconds = timed(run_pipeline, "--source", str(small_workbook), env={"PIPELINE_PG_DSN": fresh_db})

    assert run.returncode == 35 and seconds < FAIL_FAST_SECONDS, (seconds, run.output)
    assert (
        "schema pipeline_meta belongs to" in run.output
        and "ALTER SCHEMA pipeline_meta OWNER TO etl;" in run.output
    )
    assert not (tmp_path / "data" / "lake").exists()
