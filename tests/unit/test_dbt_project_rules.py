"""The rules of dbt-project-evaluator, checked on both dbt projects' manifests: every model is
documented and has a primary-key test, only staging models read sources, and SQL names no relation
except through ref() or source(). (The evaluator itself is a dbt package fetched from the network
that builds its checks as models into the warehouse; these few rules read dbt's own manifest.)

Exceptions are listed below with their reason, as the evaluator's exceptions seed would hold them.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from pipeline.config import OLAP_PROJECT_DIR, WAREHOUSE_PROJECT_DIR

# (project name, model name) -> why the rule does not apply.
NO_PRIMARY_KEY_TEST = {
    ("online_retail", "int_invoice_lines_duplicates_flagged"): (
        "a view read once by the table int_invoice_lines_classified, one row per row of it, whose "
        "primary_key test covers the grain; testing the view too ran its window a second time (24 s "
        "at 10x the data)"
    ),
    ("online_retail_olap", "sales_enriched"): (
        "a view joining each live fct_sales line to its dimensions on their primary keys: a line cannot "
        "repeat while the keys are there (assert_live_tables_carry_their_keys) and none is lost "
        "(assert_enriched_view_loses_no_line); a unique test cost 1.3 s on every run"
    ),
}
READS_SOURCES_OUTSIDE_STAGING = {
    ("online_retail_olap", "sales_enriched"): (
        "the project's sources are the published tables, which the warehouse built and tested as "
        "marts; pass-through staging views would add views to the schema BI users browse"
    ),
}

# A relation named in SQL as schema.table (or database.schema.table) after from or join.
HARD_CODED_RELATION = re.compile(r"\b(?:from|join)\s+((?:\"?\w+\"?\.){1,2}\"?\w+\"?)", re.IGNORECASE)
JINJA_OR_COMMENT = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|--[^\n]*", re.DOTALL)


@pytest.fixture(scope="module", params=[WAREHOUSE_PROJECT_DIR, OLAP_PROJECT_DIR], ids=["warehouse", "olap"])
def manifest(request, tmp_path_factory) -> dict:
    """The project's manifest from ``dbt parse`` on its offline ``lint`` target (no connection)."""
    from dbt.cli.main import dbtRunner

    project = request.param
    work = tmp_path_factory.mktemp(project.name)
    result = dbtRunner().invoke(
        ["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--target", "lint",
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--no-partial-parse",
         "--quiet"]
    )  # fmt: skip
    assert result.success, result.exception
    return json.loads((work / "target" / "manifest.json").read_text())


def models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def test_every_model_is_documented(manifest):
    assert [m["name"] for m in models(manifest) if not m["description"].strip()] == []


def test_every_source_is_documented(manifest):
    sources = manifest["sources"].values()
    assert [f"{s['source_name']}.{s['name']}" for s in sources if not s["description"].strip()] == []
    assert [s["source_name"] for s in sources if not s["source_description"].strip()] == []


def has_primary_key_test(model: dict, tests: list[dict]) -> bool:
    """A primary_key test or a checks test with a primary_key (macros/test_checks.sql), or a column
    that is unique (a unique test, or in a checks test's unique) and not null (a not_null test, in its
    not_null, or an enforced not_null constraint)."""
    mine = [t for t in tests if t.get("attached_node") == model["unique_id"]]
    unique, not_null = set(), set()
    for test in mine:
        name, kwargs = test["test_metadata"]["name"], test["test_metadata"]["kwargs"]
        if name == "primary_key" or (name == "checks" and kwargs.get("primary_key")):
            return True
        if name in ("unique", "not_null"):
            (unique if name == "unique" else not_null).add(test["column_name"])
        if name == "checks":
            unique |= set(kwargs.get("unique", []))
            not_null |= set(kwargs.get("not_null", []))
    for column in unique:
        constraints = model["columns"].get(column, {}).get("constraints", [])
        if column in not_null or any(c["type"] == "not_null" for c in constraints):
            return True
    return False


def test_every_model_has_a_primary_key_test(manifest):
    tests = [n for n in manifest["nodes"].values() if n["resource_type"] == "test" and n.get("test_metadata")]
    missing = [
        m["name"]
        for m in models(manifest)
        if (m["package_name"], m["name"]) not in NO_PRIMARY_KEY_TEST and not has_primary_key_test(m, tests)
    ]
    assert missing == []


def test_references_are_checked_apart_from_the_model_own_checks(manifest):
    """In dbt build a failing test stops the models built after its table only if every table it reads
    is upstream of them: a checks test that reads the parents too would let them be built on a wrong
    key (dbt/warehouse/macros/test_checks.sql)."""
    mixed = [
        node["name"]
        for node in manifest["nodes"].values()
        if (node.get("test_metadata") or {}).get("name") == "checks"
        and node["test_metadata"]["kwargs"].get("references")
        and set(node["test_metadata"]["kwargs"]) - {"references", "model"}
    ]
    assert mixed == []


def attached_databases(project_name: str) -> dict[str, set[str]]:
    """For each target of the project's profile but the offline lint one, the aliases of the databases
    it attaches (dbt-duckdb's ``attach``)."""
    [project] = [
        p for p in (WAREHOUSE_PROJECT_DIR, OLAP_PROJECT_DIR)
        if yaml.safe_load((p / "dbt_project.yml").read_text())["name"] == project_name
    ]  # fmt: skip
    [profile] = yaml.safe_load((project / "profiles.yml").read_text()).values()
    return {
        target: {attached["alias"] for attached in output.get("attach", [])}
        for target, output in profile["outputs"].items()
        if target != "lint"
    }


def test_a_model_kept_in_memory_is_attached_by_every_target_and_its_tests_store_their_failures(manifest):
    """A model that names its database lives in one the profile attaches (profiles.yml: transient, in
    memory for the build only). Every target that builds must attach it, and every test that reads it
    must store its failures in tables: rows_of_failing_tests could not query its rows after the build.
    No view may read it either: kept in the file, the view would name a table that is gone."""
    targets = attached_databases(manifest["metadata"]["project_name"])
    placed = {
        m["unique_id"]: m["config"]["database"] for m in models(manifest) if m["config"].get("database")
    }
    unattached = {target: sorted(set(placed.values()) - aliases) for target, aliases in targets.items()}
    assert unattached == {target: [] for target in targets}
    nodes = manifest["nodes"].values()
    readers = [n for n in nodes if set(n.get("depends_on", {}).get("nodes", [])) & placed.keys()]
    losing_rows = [
        node["name"]
        for node in readers
        if node["resource_type"] == "test"
        and not (node["config"].get("store_failures") and node["config"].get("store_failures_as") != "view")
    ]
    assert losing_rows == []
    assert [n["name"] for n in readers if n["config"].get("materialized") == "view"] == []


@pytest.mark.parametrize("manifest", [OLAP_PROJECT_DIR], ids=["olap"], indirect=True)
def test_every_bi_view_is_granted_to_the_bi_role(manifest):
    # dbt_project.yml cannot render an empty list for a pipeline run without a BI role, so each
    # BI-facing view says it in its own config (see sales_enriched.sql); parsed here with no role.
    # (The warehouse's tables are granted by the publish.)
    ungranted = [m["name"] for m in models(manifest) if "select" not in m["config"]["grants"]]
    assert ungranted == []


def test_only_staging_models_read_sources(manifest):
    readers = [
        m["name"]
        for m in models(manifest)
        if any(d.startswith("source.") for d in m["depends_on"]["nodes"])
        and not m["name"].startswith("stg_")
        and (m["package_name"], m["name"]) not in READS_SOURCES_OUTSIDE_STAGING
    ]
    assert readers == []


def test_no_relation_is_hard_coded(manifest):
    found = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] in ("model", "test", "seed") and node.get("raw_code"):
            sql = JINJA_OR_COMMENT.sub(" ", node["raw_code"])
            if relations := HARD_CODED_RELATION.findall(sql):
                found[node["original_file_path"]] = relations
    assert found == {}


def test_exceptions_name_models_that_exist(manifest):
    """An exception outlives its model only by mistake."""
    names = {(m["package_name"], m["name"]) for m in models(manifest)}
    project = manifest["metadata"]["project_name"]
    listed = {key for key in (*NO_PRIMARY_KEY_TEST, *READS_SOURCES_OUTSIDE_STAGING) if key[0] == project}
    assert listed <= names


ENV_VAR_READ = re.compile(r"env_var\(\s*['\"](\w+)['\"]")


@pytest.mark.parametrize("project", [WAREHOUSE_PROJECT_DIR, OLAP_PROJECT_DIR], ids=lambda p: p.name)
def test_what_the_profile_and_project_read_of_the_pipelines_values_is_in_the_parse_env(
    project, tmp_path, monkeypatch
):
    # A dbt task may start from a parse made before its per-run values were known (pipeline/lib/dbt.py,
    # parse_after_next_fork). dbt records what models read while parsing, and the task compares that;
    # what profiles.yml and dbt_project.yml read it does not record, so each such value the pipeline
    # passes must be one that the parse is given too (DBT_TARGET and DBT_THREADS are the user's own).
    from pipeline.lib import verify, warehouse

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    if project == WAREHOUSE_PROJECT_DIR:
        given = warehouse.parse_env(
            work_dir=tmp_path, warehouse_path=tmp_path / "retail.duckdb", memory_limit="1GB",
            mode="full", lake_location="s3://bucket/lake",
        )  # fmt: skip
    else:
        given = verify.parse_env("postgresql://user:pw@host:5432/db", "reader")
    read = {
        name
        for config in ("profiles.yml", "dbt_project.yml")
        for name in ENV_VAR_READ.findall((project / config).read_text())
    }
    assert read - set(given) <= {"DBT_TARGET", "DBT_THREADS"}
