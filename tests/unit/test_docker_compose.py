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


def test_docker_compose_scales_workers_on_a_lake_in_minio():
    """`docker compose up --scale worker=3`: MinIO, its bucket, and workers that share nothing local."""
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"minio", "minio-bucket", "worker"} <= set(services)

    minio = services["minio"]
    assert minio["image"].startswith("minio/minio:") and not minio["image"].endswith(":latest")
    assert "MINIO_ROOT_PASSWORD" in minio["environment"]["MINIO_ROOT_PASSWORD"]  # from .env, not a value
    assert "mc" in minio["healthcheck"]["test"] and any(v.startswith("minio:") for v in minio["volumes"])
    assert "minio" in compose["volumes"]
    bucket = services["minio-bucket"]
    assert "mc mb --ignore-existing local/retail-lake" in " ".join(bucket["entrypoint"])
    assert bucket["depends_on"]["minio"]["condition"] == "service_healthy"

    worker = services["worker"]
    # Scalable: no fixed name, no host port, no volume shared with another replica.
    assert not {"container_name", "ports", "volumes", "profiles"} & set(worker)
    env = worker["environment"]
    assert env["PIPELINE_LAKE_URL"].startswith("${PIPELINE_LAKE_URL:-s3://retail-lake/")
    assert env["PIPELINE_SOURCE"].startswith("${PIPELINE_SOURCE:-s3://retail-lake/")
    assert env["AWS_ENDPOINT_URL"] == "${AWS_ENDPOINT_URL:-http://minio:9000}"
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} <= set(env)
    assert "${" in env["AWS_SECRET_ACCESS_KEY"]  # interpolated from the environment, never a literal
    assert worker["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"
    command = worker["command"]
    assert command[command.index("--scheduler-host") + 1] == "luigid" and "--local-scheduler" not in command

    # The single run on a local lake starts only when named, so `up` starts the workers alone.
    assert services["pipeline"]["profiles"] == ["single"]
    # luigid reads the central scheduler's settings, which the image carries.
    assert services["luigid"]["environment"]["LUIGI_CONFIG_PATH"] == "/app/luigid.cfg"
    assert "luigid.cfg" in (REPO_ROOT / "Dockerfile").read_text()
    assert "prune_on_get_work = true" in (REPO_ROOT / "luigid.cfg").read_text()


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
