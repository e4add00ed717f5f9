"""The docker-compose file wires PostgreSQL, luigid and the pipeline (read as YAML, nothing started)."""

from __future__ import annotations

import yaml

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
