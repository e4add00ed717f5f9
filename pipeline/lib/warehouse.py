"""Build the DuckDB warehouse from the lake with dbt-duckdb, and only swap it in when every test passed.

In: the lake files of the current source (from the conversion manifests) and the dbt project.
Out: ``data/warehouse/retail.duckdb``. dbt builds into a fresh file beside it; the file is renamed over
the live one only after ``dbt build`` (models, seeds, data tests, unit tests) succeeded, so a failing
test never leaves a half-built or untested warehouse where the publish step would read it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from pipeline.lib.dbt import DbtBuildError, count_results, run_dbt, sql_list

DBT_PROJECT_FILES = ("*.yml", "*.yaml", "*.sql", "*.csv", "*.md")


def dbt_project_fingerprint(project_dir: Path) -> str:
    """Checksum of every file that shapes the warehouse, so a model change rebuilds it."""
    digest = hashlib.sha256()
    for pattern in DBT_PROJECT_FILES:
        for path in sorted(project_dir.rglob(pattern)):
            rel = path.relative_to(project_dir)
            # dbt/olap is the PostgreSQL-side project: it does not shape the warehouse.
            if rel.parts[0] in {"target", "logs", "dbt_packages", "olap"}:
                continue
            digest.update(str(rel).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_warehouse(
    *,
    project_dir: Path,
    warehouse_path: Path,
    line_files: list[str],
    reject_files: list[str],
    expected_source_rows: int,
    target: str,
    threads: int,
    memory_limit: str,
) -> dict:
    """``dbt build`` into a new file, then rename it over the live warehouse. Returns timing and results."""
    kept = (
        f"The warehouse was not replaced: {warehouse_path} still holds the last good build."
        if warehouse_path.exists()
        else "No warehouse was built, so nothing was published."
    )
    if not line_files:
        # DuckDB cannot read an empty list of files; say why there is nothing to read instead.
        raise DbtBuildError(
            "No export holds a line that could be typed: every row was rejected at conversion (see the "
            f"rejects in {len(reject_files)} file(s) under the lake's _rejects/). {kept}"
        )
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    building = warehouse_path.with_name(f"{warehouse_path.stem}.building{warehouse_path.suffix}")
    building.unlink(missing_ok=True)
    building.with_name(building.name + ".wal").unlink(missing_ok=True)
    started = time.monotonic()
    try:
        work_dir = warehouse_path.parent / "dbt"
        result = run_dbt(
            ["build", "--target", target, "--threads", str(threads)],
            project_dir=project_dir,
            work_dir=work_dir,
            env={
                # Relative to dbt's work directory, so the profile is the same in every data directory.
                "PIPELINE_WAREHOUSE_PATH": os.path.relpath(building.resolve(), work_dir.resolve()),
                "PIPELINE_DUCKDB_MEMORY_LIMIT": memory_limit,
                "PIPELINE_LAKE_LINE_FILES": sql_list(line_files, relative_to=work_dir),
                "PIPELINE_LAKE_REJECT_FILES": sql_list(reject_files, relative_to=work_dir),
                "PIPELINE_EXPECTED_SOURCE_ROWS": str(expected_source_rows),
            },
        )
        os.replace(building, warehouse_path)
    except DbtBuildError as err:
        raise DbtBuildError(f"{err}\n{kept}") from None
    finally:
        building.unlink(missing_ok=True)
    return {
        "dbt_results": count_results(warehouse_path.parent / "dbt"),
        "seconds": round(time.monotonic() - started, 2),
        "stdout_tail": result.stdout.splitlines()[-3:],
    }
