"""dbt's JSON artifacts when the pipeline writes them (``run_dbt(..., write_json=False)``,
pipeline/lib/dbt.py): dbt serialises nothing itself, run_results.json comes from the invocation's result
and manifest.json from the parse it used, kept once per parse."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from support import write_duckdb_project

from pipeline.config import WAREHOUSE_PROJECT_DIR
from pipeline.lib.dbt import PARSE_CACHE, DbtBuildError, rows_of_failing_tests, run_dbt
from pipeline.lib.specs import PUBLISHED_FOLDERS, read_table_specs


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def project(tmp_path):
    project = write_duckdb_project(tmp_path / "project", "tiny")
    write(project / "models" / "sales.sql", "select * from (values (1, 2.5), (2, 4.0)) as v(id, amount)\n")
    write(project / "models" / "schema.yml", """
        version: 2
        models:
          - name: sales
            description: one row per sale
            columns:
              - name: id
                data_tests: [unique, not_null]
        """)  # fmt: skip
    return project


def kept_manifests(project) -> list:
    return sorted((project / PARSE_CACHE).parent.glob("manifest-*.json"))


def test_dbt_writes_no_artifact_and_the_pipeline_writes_the_two_it_reads(project, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"

    run_dbt(["build"], project_dir=project, work_dir=first, write_json=False)

    # --no-write-json took effect: dbt writes its semantic manifest with every manifest.
    assert not (first / "target" / "semantic_manifest.json").exists()
    results = json.loads((first / "target" / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"].split(".")[2] for r in results) == [
        "not_null_sales_id", "sales", "unique_sales_id",
    ]  # fmt: skip
    assert {r["status"] for r in results} == {"success", "pass"}
    [kept] = kept_manifests(project)
    manifest = json.loads((first / "target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.tiny.sales"]["description"] == "one row per sale"

    # Another work directory reuses the parse cache and the manifest kept beside it.
    run_dbt(["build"], project_dir=project, work_dir=second, write_json=False)

    assert (second / "target" / "manifest.json").read_bytes() == kept.read_bytes()
    assert not (second / PARSE_CACHE).exists()  # dbt did not parse again
    assert kept_manifests(project) == [kept]


def test_a_changed_project_gets_the_manifest_of_its_new_parse(project, tmp_path):
    run_dbt(["build"], project_dir=project, work_dir=tmp_path / "before", write_json=False)
    [before] = kept_manifests(project)
    schema = project / "models" / "schema.yml"
    schema.write_text(schema.read_text().replace("one row per sale", "one row per sale line"))

    run_dbt(["build"], project_dir=project, work_dir=tmp_path / "after", write_json=False)

    [after] = kept_manifests(project)
    assert after != before
    manifest = json.loads((tmp_path / "after" / "target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.tiny.sales"]["description"] == "one row per sale line"


def test_the_results_of_a_failing_build_are_written_and_its_rows_found(project, tmp_path):
    write(project / "models" / "sales.sql", "select * from (values (1, 2.5), (1, 4.0)) as v(id, amount)\n")
    work_dir = tmp_path / "work"

    with pytest.raises(DbtBuildError, match="unique_sales_id"):
        run_dbt(["build"], project_dir=project, work_dir=work_dir, write_json=False)

    [found] = rows_of_failing_tests(work_dir, work_dir / "tiny.duckdb")
    assert (found["test"], found["status"], found["failures"]) == ("unique_sales_id", "fail", 1)
    assert found["rows"] == [["1", "2"]]


def test_the_manifest_taken_from_the_parse_describes_the_published_tables_as_dbt_own_does(tmp_path):
    """What the publish reads (specs.py) in the manifest serialised from the parse cache, against the
    manifest dbt writes itself, on the warehouse project."""
    project = tmp_path / "warehouse"
    shutil.copytree(WAREHOUSE_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    work_dir = tmp_path / "work"
    lint = ["--target", "lint"]

    run_dbt(["parse", *lint], project_dir=project, work_dir=work_dir)  # dbt writes manifest.json itself
    shutil.copyfile(work_dir / "target" / "manifest.json", tmp_path / "own.json")
    run_dbt(["parse", *lint], project_dir=project, work_dir=work_dir, write_json=False)

    taken = work_dir / "target" / "manifest.json"
    assert taken.read_bytes() == kept_manifests(project)[0].read_bytes()
    own = tmp_path / "own.json"
    assert read_table_specs(taken, PUBLISHED_FOLDERS) == read_table_specs(own, PUBLISHED_FOLDERS)
    assert json.loads(taken.read_text())["nodes"].keys() == json.loads(own.read_text())["nodes"].keys()


def test_a_kept_manifest_that_another_process_removed_is_serialised_again(project, tmp_path):
    run_dbt(["build"], project_dir=project, work_dir=tmp_path / "first", write_json=False)
    [kept] = kept_manifests(project)
    kept.unlink()  # as a build of another parse does, keeping its own

    run_dbt(["build"], project_dir=project, work_dir=tmp_path / "second", write_json=False)

    taken = json.loads((tmp_path / "second" / "target" / "manifest.json").read_text())
    assert taken["nodes"]["model.tiny.sales"]["description"] == "one row per sale"
    assert kept_manifests(project) == [kept]


def test_the_parse_of_a_build_that_failed_reaches_the_project_cache_with_the_next_build(project, tmp_path):
    # The model reads a file that is not part of the project: the build fails, then passes unchanged.
    write(project / "models" / "sales.sql", "select * from read_csv('sales.csv')\n")
    work_dir = tmp_path / "work"
    with pytest.raises(DbtBuildError, match="sales.csv"):
        run_dbt(["build"], project_dir=project, work_dir=work_dir, write_json=False)
    assert not (project / PARSE_CACHE).exists()
    (work_dir / "sales.csv").write_text("id,amount\n1,2.5\n")

    run_dbt(["build"], project_dir=project, work_dir=work_dir, write_json=False)

    assert (project / PARSE_CACHE).read_bytes() == (work_dir / PARSE_CACHE).read_bytes()
    assert len(kept_manifests(project)) == 1


def test_a_parse_run_writes_no_run_results(project, tmp_path):
    run_dbt(["parse"], project_dir=project, work_dir=tmp_path / "work", write_json=False)

    assert not (tmp_path / "work" / "target" / "run_results.json").exists()
    assert (tmp_path / "work" / "target" / "manifest.json").exists()
