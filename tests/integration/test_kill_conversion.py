"""SIGKILL a conversion at exact points of its lake writing, held there by fault points
(pipeline/lib/faults.py) instead of a guessed delay: mid-write, with some of its month files in the
staging folder, and after the files are renamed into the lake but before the manifest. Nothing partial
ever counts as complete, and the next run clears the leftovers and writes the whole, correct lake."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from support import kill, read_marker, wait_until

from pipeline.lib.download import sha256_file
from pipeline.lib.lines import read_export
from pipeline.lib.manifest import LakePaths, manifest_is_current
from pipeline.lib.rules import ConversionRules
from pipeline.synth import write_workbooks

pytestmark = pytest.mark.integration

RULES = ConversionRules().as_dict()
LINES = 40_000
PAUSE_AFTER_MONTHS = 3
CONVERT = "ConvertWorkbookToParquet"


def published(lake: LakePaths) -> list[str]:
    """Every file of the lake outside its staging folder, relative to the lake."""
    staging_root = lake.lake_dir / "_tmp"
    return sorted(
        p.relative_to(lake.lake_dir).as_posix()
        for p in lake.lake_dir.rglob("*")
        if p.is_file() and staging_root not in p.parents
    )


def rows(files: list[Path]) -> int:
    return pl.scan_parquet(files).select(pl.len()).collect().item()


def test_sigkill_mid_write_never_leaves_a_complete_looking_lake(tmp_path, run_pipeline):
    [book] = write_workbooks(tmp_path / "in", lines=LINES, seed=5)
    lake = LakePaths(tmp_path / "data" / "lake")
    manifest = lake.manifest_for(book)
    convert = ("--workbook", str(book))

    # 1. Mid-write: held after the third month file is written to the staging folder.
    marker = tmp_path / "mid-write.json"
    stage = f"lake_month_{PAUSE_AFTER_MONTHS}"
    proc = run_pipeline.paused(*convert, task=CONVERT, stage=stage, marker=marker)
    try:
        wait_until(marker.exists, 120, f"the conversion reaching {stage}", proc)
        reached = read_marker(marker)
        staging = Path(reached["staging"])
        written = sorted(staging.rglob("*.parquet"))
        # Some of the months, not all: partial output exists, in the staging folder only.
        assert staging.parent == lake.lake_dir / "_tmp"
        assert len(written) == PAUSE_AFTER_MONTHS < reached["months"], reached
        assert 0 < rows(written) < LINES
        assert published(lake) == [] and not manifest.exists()
    finally:
        kill(proc)  # the whole process group, as a lost machine or `kill -9` of the run would

    # The kill landed mid-write: a conversion that had ended, well or badly, removes its staging folder.
    assert sorted(staging.rglob("*.parquet")) == written
    assert published(lake) == [] and not manifest_is_current(manifest, book, RULES)

    # 2. Held after every file is renamed into the lake, before the manifest: still not complete.
    marker = tmp_path / "before-manifest.json"
    proc = run_pipeline.paused(*convert, task=CONVERT, stage="lake_before_manifest", marker=marker)
    try:
        wait_until(marker.exists, 120, "the conversion reaching lake_before_manifest", proc)
        assert not staging.exists()  # the killed run's leftovers were cleared before writing
        in_place = read_marker(marker)["files"]
        assert published(lake) == in_place and len(in_place) == reached["months"] + 1  # + the rejects
        assert rows([lake.lake_dir / rel for rel in in_place if rel.startswith("invoice_lines/")]) == LINES
    finally:
        kill(proc)
    assert not manifest.exists() and not manifest_is_current(manifest, book, RULES)

    # 3. The next run converts again and leaves the whole, correct lake and nothing else.
    done = run_pipeline(*convert, task=CONVERT)

    assert done.returncode == 0, done.output[-3000:]
    assert manifest_is_current(manifest, book, RULES)
    assert list((lake.lake_dir / "_tmp").iterdir()) == []
    assert published(lake) == sorted([*in_place, manifest.relative_to(lake.lake_dir).as_posix()])
    lines = pl.read_parquet(sorted(lake.invoice_lines.rglob("*.parquet")), hive_partitioning=False)
    expected = read_export(book, sha256_file(book)).lines
    assert lines.sort("source_row").equals(expected.sort("source_row"))
