"""The summary's connect line: a command that works as printed and never shows a password."""

from __future__ import annotations

import pytest

from pipeline.lib.postgres import redact
from pipeline.summary import connect_command


@pytest.fixture
def no_env_dsn(monkeypatch):
    monkeypatch.delenv("PIPELINE_PG_DSN", raising=False)


def test_embedded_server_dsn_is_printed_as_it_is(no_env_dsn):
    dsn = "postgresql://postgres:@/postgres?host=/home/me/Online Retail/data/postgres"
    assert connect_command(redact(dsn)) == f'psql "{dsn}"'


def test_dsn_from_the_environment_is_named_not_printed(monkeypatch):
    monkeypatch.setenv("PIPELINE_PG_DSN", "postgresql://etl:s3cret@db:5432/retail")
    assert connect_command(redact("postgresql://etl:s3cret@db:5432/retail")) == 'psql "$PIPELINE_PG_DSN"'


@pytest.mark.parametrize(
    ("configured", "printed"),
    [
        ("postgresql://etl:s3cret@db:5432/retail", 'psql "postgresql://etl@db:5432/retail"'),
        ("host=db user=etl password=s3cret dbname=retail", 'psql "host=db user=etl dbname=retail"'),
    ],
)
def test_dsn_from_luigi_cfg_loses_its_password_so_psql_asks(no_env_dsn, configured, printed):
    assert connect_command(redact(configured)) == printed


def test_a_dsn_the_shell_would_expand_is_single_quoted(no_env_dsn):
    dsn = "postgresql://postgres:@/postgres?host=/srv/$data/postgres"
    assert connect_command(dsn) == f"psql '{dsn}'"
