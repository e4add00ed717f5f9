"""Run dbt as a subprocess with the pipeline's paths, and turn a failure into a readable error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


class DbtBuildError(RuntimeError):
    pass


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(
    args: list[str],
    *,
    project_dir: Path,
    work_dir: Path,
    env: dict[str, str] | None = None,
    variables: dict | None = None,
) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` in ``project_dir`` with target and logs under ``work_dir``.

    Raises DbtBuildError with the tail of dbt's output when dbt fails.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
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
    result = subprocess.run(
        command,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", **(env or {})},
        cwd=project_dir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-60:])
        raise DbtBuildError(
            f"`dbt {' '.join(args)}` in {project_dir} failed (exit {result.returncode}).\n"
            f"{tail}\n{result.stderr[-2000:]}\nFull log: {work_dir / 'logs' / 'dbt.log'}"
        )
    return result


def count_results(work_dir: Path) -> dict[str, int]:
    """dbt's results of the last run in ``work_dir`` by kind and status, e.g. ``{"test_pass": 85}``."""
    try:
        results = json.loads((work_dir / "target" / "run_results.json").read_text())["results"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return {}
    counts: dict[str, int] = {}
    for item in results:
        key = f"{item['unique_id'].split('.')[0]}_{item['status']}"
        counts[key] = counts.get(key, 0) + 1
    return counts
