"""Fixtures for every tier; their logic lives in support.py (tests/ is on pytest's pythonpath, see
pyproject.toml). Tests import from support.py, never from a conftest."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from support import REAL_WORKBOOK

# Fixtures that give a test a PostgreSQL server: such a test must carry the ``postgres`` marker, so
# that ``-m "not postgres"`` (and ``make test-fast``) never starts one. Checked at collection.
SERVER_FIXTURES = {"pg_server", "pg_dsn", "dba_server"}


def pytest_collection_modifyitems(config, items):
    unmarked = [
        item.nodeid
        for item in items
        if SERVER_FIXTURES & set(item.fixturenames) and item.get_closest_marker("postgres") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use a PostgreSQL server but are not marked postgres "
            f"(pytestmark = pytest.mark.postgres): {', '.join(unmarked)}"
        )


@pytest.fixture
def real_workbook() -> Path:
    if not REAL_WORKBOOK.exists():
        pytest.skip(f"the real workbook is not on this machine (looked for {REAL_WORKBOOK})")
    return REAL_WORKBOOK


@pytest.fixture(scope="session")
def online_retail_ii(tmp_path_factory) -> Path:
    """The two-sheet Online Retail II workbook, built once per session from the Parquet copies (it
    takes about 30 s: 1,067,370 rows)."""
    import realdata

    missing = realdata.missing_data()
    if missing:
        pytest.skip(
            f"the Online Retail data is not on this machine (looked for {', '.join(map(str, missing))})"
        )
    path = tmp_path_factory.mktemp("online_retail_ii") / realdata.II_WORKBOOK_NAME
    seconds = realdata.write_online_retail_ii(path)
    print(f"\nbuilt {path} in {seconds:.1f} s", file=sys.stderr)
    return path


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    """One embedded PostgreSQL for the session (the pgserver wheel), deleted at the end."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "cluster", cleanup_mode="delete")
    yield server
    server.cleanup()


@pytest.fixture
def pg_dsn(pg_server, request) -> str:
    """A fresh database on the session server for one test."""
    import psycopg

    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:50]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
        conn.execute(f'create database "{name}"')
    return pg_server.get_uri(name)


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith(("PIPELINE_", "LUIGI_")):
            monkeypatch.delenv(key)
    return monkeypatch


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """One S3-compatible server for the session (moto's server mode on 127.0.0.1, authentication on;
    tests/s3_server.py), stopped at the end."""
    from s3_server import start_s3_server

    server = start_s3_server(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server, request) -> str:
    """A fresh bucket on the session's S3 server for one test."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:50] or "bucket"
    return s3_server.make_bucket(name)
