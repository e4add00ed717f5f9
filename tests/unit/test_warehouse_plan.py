"""plan_build: full refresh or incremental, and the change set, from the previous build marker."""

from __future__ import annotations

import dataclasses
import json

import pytest

from pipeline.lib.markers import BuildMarker
from pipeline.lib.warehouse import duckdb_text_list, plan_build

SETTINGS = {"conversion_rules": {"date_order": "auto"}, "lake_format": 2, "duckdb": "1.5.5"}
PREVIOUS = BuildMarker(
    warehouse_version="v1", source="landing", workbooks=[], source_sha256=[], source_rows=30,
    source_amount="0.000", lake_rows=30, conversion_rejects_by_reason={}, convert_seconds=1.0, dbt={},
    exports={"a.xlsx": "sha-a", "b.xlsx": "sha-b", "c.xlsx": "sha-c"},
    export_rows={"a.xlsx": 10, "b.xlsx": 10, "c.xlsx": 10},
    dbt_project="project-1", model_settings=SETTINGS,
)  # fmt: skip


def plan(previous=PREVIOUS, *, exports=None, project="project-1", settings=SETTINGS, full_refresh=False,
         warehouse_exists=True):  # fmt: skip
    return plan_build(
        previous,
        warehouse_exists=warehouse_exists,
        exports=exports if exports is not None else dict(PREVIOUS.exports),
        dbt_project=project,
        settings=settings,
        full_refresh=full_refresh,
    )


def test_added_replaced_and_removed_exports_make_an_incremental_build():
    got = plan(exports={"a.xlsx": "sha-a", "b.xlsx": "sha-b2", "d.xlsx": "sha-d"})
    assert (got.mode, got.added, got.replaced, got.removed) == (
        "incremental",
        ["d.xlsx"],
        ["b.xlsx"],
        ["c.xlsx"],
    )
    assert got.changed == ["b.xlsx", "c.xlsx", "d.xlsx"]  # their old lines go
    assert got.read == ["b.xlsx", "d.xlsx"]  # only these lake files are read
    assert got.reason == "exports changed: 1 added, 1 replaced, 1 removed"


def test_nothing_changed_is_an_incremental_build_with_an_empty_change_set():
    got = plan()
    assert (got.mode, got.changed) == ("incremental", [])


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"full_refresh": True}, "a full refresh was asked for"),
        ({"previous": None}, "no warehouse was built before"),
        ({"warehouse_exists": False}, "the warehouse file is missing"),
        ({"project": "project-2"}, "the dbt project changed"),
        ({"settings": {**SETTINGS, "duckdb": "1.6.0"}}, "a setting that shapes the model changed: duckdb"),
        ({"previous": dataclasses.replace(PREVIOUS, exports={})}, "the build marker predates incremental"),
        # A worker that only published another worker's build holds the published models, no index.
        ({"previous": dataclasses.replace(PREVIOUS, copied_from_store=True)}, "this worker's warehouse"),
    ],
)
def test_full_refresh_and_why(kwargs, reason):
    got = plan(**kwargs)
    assert got.mode == "full"
    assert got.reason.startswith(reason), got.reason


def test_a_full_refresh_still_reports_the_change_set_against_the_previous_build():
    got = plan(exports={"a.xlsx": "sha-a", "e.xlsx": "sha-e"}, project="project-2")
    assert (got.mode, got.added, got.removed) == ("full", ["e.xlsx"], ["b.xlsx", "c.xlsx"])


def test_export_names_reach_duckdb_quoted():
    assert duckdb_text_list(["b's.csv", "a.xlsx"]) == "['a.xlsx', 'b''s.csv']"


def test_unit_tests_are_remembered_per_version_of_the_code_and_build_mode(tmp_path):
    from pipeline.lib.warehouse import UnitTestRecord

    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    (project / "target").mkdir()
    model = project / "models" / "m.sql"
    model.write_text("select 1")
    full, incremental = UnitTestRecord(project, "full"), UnitTestRecord(project, "incremental")
    assert full.key != incremental.key
    assert full.passed_before() == 0
    full.record(5)
    assert UnitTestRecord(project, "full").passed_before() == 5
    assert UnitTestRecord(project, "incremental").passed_before() == 0

    model.write_text("select 2")
    assert UnitTestRecord(project, "full").passed_before() == 0
    for n in range(1, 20):  # many versions later, only the last few are kept
        model.write_text(f"select {n}")
        UnitTestRecord(project, "full").record(n)
    assert len(json.loads(full.path.read_text())) == UnitTestRecord.KEEP

    full.path.write_text("not json")
    assert UnitTestRecord(project, "full").passed_before() == 0
