"""A parse made in Luigi's scheduling process is what a dbt task forked after it starts from, and only
while it is the parse dbt would make itself (pipeline/lib/dbt.py, parse_after_next_fork and
_handed_parse). Each case runs in a fresh interpreter: the parse is planned there, made at a fork, and
the build runs in a process forked after it, as Luigi forks a task."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
from support import dbt_invocations, write_duckdb_project


def build_after_a_planned_parse(project: Path, work: Path, *, parsed_with: str, built_with: str,
                                between: str = "", options: str = "") -> dict:  # fmt: skip
    """Plan the parse of ``project`` with SHAPE=``parsed_with``, fork once (the parse is made then),
    run ``between`` (Python), then ``dbt build <options>`` in a forked process with SHAPE=``built_with``.
    Returns the relations built, whether the build's invocation parsed and what the pipeline said."""
    code = f"""
        import os
        from pathlib import Path
        import pipeline.lib.dbt as dbt

        project, work = Path({str(project)!r}), Path({str(work)!r})
        dbt.parse_after_next_fork("p", dbt.ParseRequest(project, work, None, {{"SHAPE": {parsed_with!r}}}))

        def forked(body):
            pid = os.fork()
            if pid == 0:
                body()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0

        forked(lambda: None)  # the parse is made in this process right after this fork
        assert project.resolve() in dbt._parses
        {between}
        forked(lambda: dbt.run_dbt(["build", *{options.split()!r}], project_dir=project, work_dir=work,
                                   env={{"SHAPE": {built_with!r}}}, write_json=False))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with duckdb.connect(str(work / "handover.duckdb"), read_only=True) as con:
        tables = con.execute("select table_name from information_schema.tables").fetchall()
        built = {name: con.execute(f"select * from {name}").fetchall() for (name,) in tables}
    (parse, parsed), (build, build_parsed) = dbt_invocations(work)
    assert (parse, parsed, build) == ("parse", True, "build")
    said = [line for line in done.stderr.splitlines() if line.startswith("dbt parses")]
    return {"built": built, "build parsed": build_parsed, "said": said}


def project_with_a_parse_time_choice(tmp_path: Path) -> Path:
    """A model whose name is chosen while dbt parses (its alias, from SHAPE)."""
    project = write_duckdb_project(tmp_path / "project", "handover")
    (project / "models").mkdir()
    (project / "models" / "chosen.sql").write_text(
        "{{ config(materialized='table', alias='shape_' ~ env_var('SHAPE', 'none')) }}\nselect 1 as one\n"
    )
    return project


def test_a_build_forked_after_the_parse_starts_from_it(tmp_path):
    project = project_with_a_parse_time_choice(tmp_path)
    # A parse directory left by a scheduling process that was killed: the next parse removes it.
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    left = tmp_path / "work" / "target" / f"parsed-{ended.stdout.strip()}-left"
    left.mkdir(parents=True)
    got = build_after_a_planned_parse(project, tmp_path / "work", parsed_with="a", built_with="a")
    # Neither it nor the parse's own directory (the process that parsed has ended) is left.
    assert list((tmp_path / "work" / "target").glob("parsed-*")) == []
    assert got == {"built": {"shape_a": [(1,)]}, "build parsed": False, "said": []}
    # The build made the parse's manifest the work directory's, which the publish reads (specs.py).
    manifest = json.loads((tmp_path / "work" / "target" / "manifest.json").read_text())
    assert "model.handover.chosen" in manifest["nodes"]


def test_a_value_read_while_parsing_that_changed_since_makes_dbt_parse_again(tmp_path):
    # E.g. the build mode, by which the warehouse's models choose their SQL: the build must follow
    # the value it is given, not the one the parse saw.
    project = project_with_a_parse_time_choice(tmp_path)
    got = build_after_a_planned_parse(project, tmp_path / "work", parsed_with="a", built_with="b")
    assert got == {
        "built": {"shape_b": [(1,)]},
        "build parsed": True,
        "said": [f"dbt parses {project.resolve()} itself: SHAPE changed since the run parsed it"],
    }


def test_a_project_file_changed_since_the_parse_makes_dbt_parse_again(tmp_path):
    project = project_with_a_parse_time_choice(tmp_path)
    model = project / "models" / "chosen.sql"
    changed = model.read_text().replace("select 1 as one", "select 2 as two")
    got = build_after_a_planned_parse(
        project, tmp_path / "work", parsed_with="a", built_with="a",
        between=f"Path({str(model)!r}).write_text({changed!r})",
    )  # fmt: skip
    assert got == {
        "built": {"shape_a": [(2,)]},
        "build parsed": True,
        "said": [
            f"dbt parses {project.resolve()} itself: the project's files changed since the run parsed it"
        ],
    }


def test_options_that_may_change_the_parse_make_dbt_parse_again(tmp_path):
    project = project_with_a_parse_time_choice(tmp_path)
    got = build_after_a_planned_parse(
        project, tmp_path / "work", parsed_with="a", built_with="a", options="--vars {}"
    )
    assert got == {
        "built": {"shape_a": [(1,)]},
        "build parsed": True,
        "said": [
            f"dbt parses {project.resolve()} itself: "
            "the options (--vars {}) changed since the run parsed it"
        ],
    }


def test_the_work_directorys_manifest_is_the_parses_only_once_a_build_from_it_succeeded(tmp_path):
    # The publish reads the warehouse's manifest.json as the last build's: a parse made for a build
    # that then fails must not have replaced it.
    project = project_with_a_parse_time_choice(tmp_path)
    (project / "models" / "broken.sql").write_text("select * from no_such_table\n")
    work = tmp_path / "work"
    code = f"""
        import os
        from pathlib import Path
        import pipeline.lib.dbt as dbt

        project, work = Path({str(project)!r}), Path({str(work)!r})
        dbt.parse_after_next_fork("p", dbt.ParseRequest(project, work, None, {{}}))
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        assert project in dbt._parses and not (work / "target" / "manifest.json").exists()
        try:
            dbt.run_dbt(["build"], project_dir=project, work_dir=work, write_json=False)
        except dbt.DbtBuildError:
            print("build failed")
        print("manifest.json" if (work / "target" / "manifest.json").exists() else "no manifest.json")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-4:] == ["build", "failed", "no", "manifest.json"]
    assert dbt_invocations(work) == [("parse", True), ("build", False)]


def test_a_parse_removed_before_the_build_makes_dbt_parse_again(tmp_path):
    project = project_with_a_parse_time_choice(tmp_path)
    work = tmp_path / "work"
    removed = f"import shutil; [shutil.rmtree(d) for d in Path({str(work / 'target')!r}).glob('parsed-*')]"
    got = build_after_a_planned_parse(project, work, parsed_with="a", built_with="a", between=removed)
    assert got == {
        "built": {"shape_a": [(1,)]},
        "build parsed": True,
        "said": [f"dbt parses {project.resolve()} itself: the parse's files changed since the run parsed it"],
    }
    assert "model.handover.chosen" in json.loads((work / "target" / "manifest.json").read_text())["nodes"]
