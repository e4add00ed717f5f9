"""The warehouse's `checks` test (dbt/warehouse/macros/test_checks.sql): every kind of check finds what
it should, and only that, in a small dbt project that uses the project's own macro file."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest
from support import write_duckdb_project

from pipeline.config import WAREHOUSE_PROJECT_DIR
from pipeline.lib.dbt import DbtBuildError, rows_of_failing_tests, run_dbt

CHECKS = """
      - checks:
          name: checks_{model}
          arguments:
            primary_key: [id, part]
            unique: [code]
            not_null: [code, amount]
            accepted_values:
              kind: [sale, "o'clock"]
            references:
              parent_id: ref('parent')
              other_parent: {{to: ref('parent'), field: parent_id}}
"""


def write(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    project = write_duckdb_project(tmp_path_factory.mktemp("checks"), "checks")
    (project / "macros").mkdir()
    shutil.copy(WAREHOUSE_PROJECT_DIR / "macros" / "test_checks.sql", project / "macros")
    write(project / "models" / "parent.sql", "select * from (values (1), (2)) as v(parent_id)\n")
    columns = "v(id, part, code, amount, kind, parent_id, other_parent)"
    write(project / "models" / "good.sql", f"""
        select * from (values
            (1, 'a', 'x', 1.5, 'sale', 1, 2),
            (1, 'b', 'y', 2.5, 'o''clock', null, null)
        ) as {columns}
        """)  # fmt: skip
    write(project / "models" / "bad.sql", f"""
        select * from (values
            (1, 'a', 'x', 1.5, 'sale', 1, 1),
            (1, 'a', 'y', 2.5, 'sale', 2, 2),
            (2, null, 'z', null, 'refund', 3, 1),
            (3, 'c', 'x', 4.0, 'refund', 1, 7),
            (4, 'd', null, 5.0, null, null, null)
        ) as {columns}
        """)  # fmt: skip
    # The mapping form without a field: the parent's column has the child's name.
    default_field = """
      - checks:
          name: references_bad
          arguments:
            references:
              parent_id: {to: ref('parent')}
"""
    write(project / "models" / "schema.yml", "version: 2\nmodels:\n" + "".join(
        f"  - name: {model}\n    data_tests:{CHECKS.format(model=model)}" for model in ("good", "bad")
    ) + default_field)  # fmt: skip
    work_dir = project / "work"
    with pytest.raises(DbtBuildError) as failed:
        run_dbt(["build"], project_dir=project, work_dir=work_dir)
    results = json.loads((work_dir / "target" / "run_results.json").read_text())["results"]
    return failed.value, results, rows_of_failing_tests(work_dir, work_dir / "checks.duckdb")


def test_a_clean_table_passes_every_check(build):
    _, results, _ = build
    status = {
        r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")
    }
    assert status == {"checks_good": "pass", "checks_bad": "fail", "references_bad": "fail"}


def test_each_finding_names_its_check_the_value_and_the_rows(build):
    error, _, found = build
    assert "checks_bad" in str(error)
    bad, references = sorted(found, key=lambda test: test["test"])
    assert references["test"] == "references_bad"
    assert references["rows"] == [["references(parent_id -> parent.parent_id)", "3", "1"]]
    assert bad["columns"] == ["failed_check", "found", "row_count"]
    assert sorted(map(tuple, bad["rows"])) == sorted([
        ("primary_key(id, part)", "1, a", "2"),
        ("primary_key(id, part)", "2, null", "1"),
        ("unique(code)", "x", "2"),
        ("not_null(code)", None, "1"),
        ("not_null(amount)", None, "1"),
        ("accepted_values(kind)", "refund", "2"),
        ("references(parent_id -> parent.parent_id)", "3", "1"),
        ("references(other_parent -> parent.parent_id)", "7", "1"),
    ])  # fmt: skip
    assert bad["failures"] == 8
