"""The docker-compose file wires PostgreSQL, luigid and the pipeline (read as YAML, nothing started)."""

from __future__ import annotations

import shutil
import sys

import yaml
from support import clean_environ, run

from pipeline.config import REPO_ROOT


def test_docker_compose_wires_postgres_luigid_and_the_pipeline():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "luigid", "pipeline"} <= set(services)

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert any(v.startswith("pgdata:") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "pgdata" in compose["volumes"]

    luigid = services["luigid"]
    assert "8082:8082" in [str(p) for p in luigid["ports"]]

    pipeline = services["pipeline"]
    assert pipeline["build"]["dockerfile"] == "Dockerfile"
    env = pipeline["environment"]
    assert env["PIPELINE_PG_DSN"].startswith("${PIPELINE_PG_DSN:-postgresql://")
    assert "password" not in env["PIPELINE_PG_DSN"].split(":-")[0].lower()
    assert pipeline["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "--scheduler-host" in pipeline["command"] and "luigid" in pipeline["command"]

    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "luigi" in dockerfile


def test_the_image_runs_the_copied_tree_which_holds_the_dbt_projects(tmp_path):
    # The Dockerfile copies pipeline/ and dbt/ into /app and puts /app first on PYTHONPATH: the
    # pipeline must then find its dbt projects there, whatever the working directory.
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "WORKDIR /app" in dockerfile and "COPY pipeline ./pipeline" in dockerfile
    assert "COPY dbt ./dbt" in dockerfile and "ENV PYTHONPATH=/app" in dockerfile
    app = tmp_path / "app"
    shutil.copytree(REPO_ROOT / "pipeline", app / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "dbt", app / "dbt", ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "elsewhere").mkdir()

    found = run(
        [sys.executable, "-c", "from pipeline.config import load_settings as s; "
         "print(s().dbt_project_dir); print(s().dbt_olap_project_dir)"],
        env=clean_environ() | {"PYTHONPATH": str(app)}, cwd=tmp_path / "elsewhere", check=True,
    ).stdout.split()  # fmt: skip

    assert found == [str(app / "dbt" / "warehouse"), str(app / "dbt" / "olap")]
    assert all((app / "dbt" / name / "dbt_project.yml").is_file() for name in ("warehouse", "olap"))
