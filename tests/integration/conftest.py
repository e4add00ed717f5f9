"""Fixtures that run the pipeline in a test's own world (support.Pipeline)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import support


@pytest.fixture
def pipeline_env(tmp_path, clean_env) -> dict[str, str]:
    """Environment for a pipeline subprocess: its own data dir, the repo's luigi.cfg."""
    return support.pipeline_env(tmp_path / "data")


@pytest.fixture
def run_pipeline(tmp_path, pipeline_env, request) -> Iterator[support.Pipeline]:
    """The pipeline's command lines, run in ``tmp_path`` with ``pipeline_env``; tasks that need
    PostgreSQL only in tests marked ``postgres``. Stops the embedded server a run started."""
    marked = request.node.get_closest_marker("postgres") is not None
    pipeline = support.Pipeline(tmp_path, pipeline_env, server_allowed=marked)
    yield pipeline
    # A run with no DSN starts the embedded server under data/ and leaves it running (for psql
    # afterwards): it goes with the test, instead of one server left per test on the machine.
    if (tmp_path / "data" / "postgres" / "postmaster.pid").exists():
        pipeline.cli("stop-postgres", check=True)
