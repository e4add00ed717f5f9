from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LUIGI = str(Path(sys.executable).with_name("luigi"))


@dataclass
class Run:
    returncode: int
    output: str

    @property
    def ran_tasks(self) -> bool:
        return "ran successfully" in self.output


@pytest.fixture
def pipeline_env(tmp_path, clean_env):
    """Environment for a pipeline subprocess: its own data dir, the repo's luigi.cfg."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "LUIGI_"))}
    env["PIPELINE_DATA_DIR"] = str(tmp_path / "data")
    env["LUIGI_CONFIG_PATH"] = str(REPO / "luigi.cfg")
    return env


COMMAND = [LUIGI, "--module", "pipeline", "RunAll", "--local-scheduler"]


@pytest.fixture
def run_pipeline(tmp_path, pipeline_env):
    def run(*args: str, env: dict | None = None) -> Run:
        result = subprocess.run(
            [*COMMAND, *args],
            cwd=tmp_path,
            env={**pipeline_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=600,
        )
        return Run(result.returncode, result.stdout + result.stderr)

    def paused(*args: str, stage: str, marker: Path, seconds: float = 600, env: dict | None = None):
        """A run in the background that stops at publish stage ``stage`` (pipeline.lib.publish's
        fault_point) for ``seconds``, writing ``marker`` when it gets there; its own session, so a test
        can kill the whole process group."""
        fault = {"PIPELINE_FAULT_PAUSE": stage, "PIPELINE_FAULT_MARKER": str(marker),
                 "PIPELINE_FAULT_PAUSE_SECONDS": str(seconds)}  # fmt: skip
        return subprocess.Popen(
            [*COMMAND, *args],
            cwd=tmp_path,
            env={**pipeline_env, **(env or {}), **fault},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    run.env = pipeline_env
    run.command = COMMAND
    run.paused = paused
    return run
