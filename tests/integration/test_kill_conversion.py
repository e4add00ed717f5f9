"""SIGKILL a conversion at several points: nothing partial ever counts as complete, and the next run
recovers."""

from __future__ import annotations

import time

import polars as pl
import pytest
from support import kill

from pipeline.lib.manifest import LakePaths, manifest_is_current
from pipeline.lib.rules import ConversionRules
from pipeline.synth import write_workbooks

pytestmark = pytest.mark.integration


RULES = ConversionRules().as_dict()


def lake_rows(lake: LakePaths) -> int:
    files = list(lake.invoice_lines.rglob("*.parquet"))
    return pl.scan_parquet(files).select(pl.len()).collect().item() if files else 0


def test_sigkill_during_conversion_never_leaves_a_complete_looking_lake(tmp_path, run_pipeline):
    [book] = write_workbooks(tmp_path / "in", lines=150_000, seed=5)
    lake = LakePaths(tmp_path / "data" / "lake")
    manifest = lake.manifest_for(book)

    for delay in (0.5, 1.5, 2.5, 3.5):
        manifest.unlink(missing_ok=True)  # force a fresh conversion each round
        proc = run_pipeline.start("--workbook", str(book), task="ConvertWorkbookToParquet")
        time.sleep(delay)
        # The conversion runs in a worker process of its own: kill the whole run, as a lost machine
        # or a `kill -9` of its process group would.
        kill(proc)
        if manifest_is_current(manifest, book, RULES):
            # Finished before the kill: then the lake must be whole.
            assert lake_rows(lake) == 150_000

    done = run_pipeline("--workbook", str(book), task="ConvertWorkbookToParquet")
    assert done.returncode == 0, done.stderr
    assert manifest_is_current(manifest, book, RULES)
    assert lake_rows(lake) == 150_000
    assert not any((lake.lake_dir / "_tmp").iterdir())
