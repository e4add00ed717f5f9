"""SIGKILL a conversion at several points: nothing partial ever counts as complete, and the next run
recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import polars as pl
import pytest
from conftest import REPO

from pipeline.lib.manifest import LakePaths, manifest_is_current
from pipeline.lib.rules import ConversionRules
from pipeline.synth import write_workbooks

pytestmark = pytest.mark.integration


RULES = ConversionRules().as_dict()


def convert_command(book):
    from integration.conftest import LUIGI

    return [LUIGI, "--module", "pipeline", "ConvertWorkbookToParquet", "--workbook", str(book),
            "--local-scheduler"]  # fmt: skip


def lake_rows(lake: LakePaths) -> int:
    files = list(lake.invoice_lines.rglob("*.parquet"))
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0


def test_sigkill_during_conversion_never_leaves_a_complete_looking_lake(tmp_path, pipeline_env):
    [book] = write_workbooks(tmp_path / "in", lines=150_000, seed=5)
    lake = LakePaths(tmp_path / "data" / "lake")
    manifest = lake.manifest_for(book)
    env = {**pipeline_env, "LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg")}

    for delay in (0.5, 1.5, 2.5, 3.5):
        manifest.unlink(missing_ok=True)  # force a fresh conversion each round
        proc = subprocess.Popen(convert_command(book), cwd=tmp_path, env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(delay)
        # The conversion runs in a worker process of its own: kill the whole run, as a lost machine
        # or a `kill -9` of its process group would.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if manifest_is_current(manifest, book, RULES):
            # Finished before the kill: then the lake must be whole.
            assert lake_rows(lake) == 150_000

    done = subprocess.run(convert_command(book), cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert manifest_is_current(manifest, book, RULES)
    assert lake_rows(lake) == 150_000
    assert not any((lake.lake_dir / "_tmp").iterdir())
