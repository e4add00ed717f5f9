"""Build the DuckDB warehouse from the lake with dbt-duckdb, and only swap it in when every test passed.

In: the lake files of the current source (from the conversion manifests) and the dbt project.
Out: ``data/warehouse/retail.duckdb``. dbt builds into a fresh file beside it; the file is renamed over
the live one only after ``dbt build`` (models, seeds, data tests, unit tests) succeeded, so a failing
test never leaves a half-built or untested warehouse where the publish step would read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DBT_PROJECT_FILES = ("*.yml", "*.yaml", "*.sql", "*.csv", "*.md")


class DbtBuildError(RuntimeError):
    pass


def dbt_project_fingerprint(project_dir: Path) -> str:
    """Checksum of every file that shapes the warehouse, so a model change rebuilds it."""
    digest = hashlib.sha256()
    for pattern in DBT_PROJECT_FILES:
        for path in sorted(project_dir.rglob(pattern)):
            rel = path.relative_to(project_dir)
            if rel.parts[0] in {"target", "logs", "dbt_packages"}:
                continue
            digest.update(str(rel).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    *,
    project_dir: Path,
    warehouse_path: Path,
    target: str,
    threads: int,
    work_dir: Path,
    variables: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run one dbt command against ``warehouse_path``; raise DbtBuildError with dbt's output on failure."""
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PIPELINE_WAREHOUSE_PATH": str(warehouse_path),
        "DBT_TARGET": target,
        "DBT_THREADS": str(threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
    command = [
        dbt_executable(),
        *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    if variables:
        command += ["--vars", json.dumps(variables)]
    result = subprocess.run(command, env=env, cwd=project_dir, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-60:])
        raise DbtBuildError(
            f"`dbt {' '.join(args)}` failed (exit {result.returncode}); the warehouse was not replaced.\n"
            f"{tail}\n{result.stderr[-2000:]}\nFull log: {work_dir / 'logs' / 'dbt.log'}"
        )
    return result


def build_warehouse(
    *,
    project_dir: Path,
    warehouse_path: Path,
    line_files: list[str],
    reject_files: list[str],
    expected_source_rows: int,
    target: str = "duckdb",
    threads: int = 2,
) -> dict:
    """``dbt build`` into a new file, then rename it over the live warehouse. Returns timing and results."""
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    building = warehouse_path.with_name(f"{warehouse_path.stem}.building{warehouse_path.suffix}")
    building.unlink(missing_ok=True)
    building.with_name(building.name + ".wal").unlink(missing_ok=True)
    started = time.monotonic()
    try:
        result = run_dbt(
            ["build"],
            project_dir=project_dir,
            warehouse_path=building,
            target=target,
            threads=threads,
            work_dir=warehouse_path.parent / "dbt",
            variables={
                "lake_invoice_line_files": sorted(line_files),
                "lake_reject_files": sorted(reject_files),
                "expected_source_rows": expected_source_rows,
            },
        )
        os.replace(building, warehouse_path)
    finally:
        building.unlink(missing_ok=True)
    summary = _read_run_results(warehouse_path.parent / "dbt" / "target" / "run_results.json")
    summary["seconds"] = round(time.monotonic() - started, 2)
    summary["stdout_tail"] = result.stdout.splitlines()[-3:]
    return summary


def _read_run_results(path: Path) -> dict:
    try:
        results = json.loads(path.read_text())["results"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return {}
    counts: dict[str, int] = {}
    for item in results:
        kind = item["unique_id"].split(".")[0]
        counts[f"{kind}_{item['status']}"] = counts.get(f"{kind}_{item['status']}", 0) + 1
    return {"dbt_results": counts}
