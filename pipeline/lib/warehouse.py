"""Build the DuckDB warehouse from the lake with dbt-duckdb, and only swap it in when every test passed.

In: the lake files of the current source (from the conversion manifests), the dbt project and what
the warehouse holds now (the build marker). Out: ``data/warehouse/retail.duckdb``.

Two modes, decided here (``plan_build``), never by dbt:

- full refresh: dbt builds every model into a new, empty file from every export's lake files (no
  warehouse yet, the dbt project or a setting that shapes the model changed, or ``full_refresh``);
- incremental: the live file is copied to the building file and ``dbt build`` applies the change set
  there: the exports added or re-exported (same name, new sha256) are read, and their old lines and
  those of removed exports are replaced (the models' ``is_incremental()`` branches).

Either way the building file is renamed over the live one only after ``dbt build`` (models, seeds,
data tests, unit tests) succeeded, so a failing test never leaves a half-built or untested warehouse
where the publish step would read it. A change set applied twice (a crash between the rename and
the marker) gives the same warehouse: the incremental models delete before they append.

Unit tests check the code against fixed inputs, never the data: they run in the first build of each
version of the code, dbt and DuckDB, in each build mode, and are left out of later builds of the same
(``UnitTestRecord``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.lib.dbt import (
    DbtBuildError,
    ParseRequest,
    count_results,
    format_test_rows,
    rows_of_failing_tests,
    run_dbt,
    sql_list,
)
from pipeline.lib.faults import fault_point
from pipeline.lib.manifest import MANIFEST_VERSION, LakeManifest, LakePaths, manifest_is_current
from pipeline.lib.storage import dbt_env, install_httpfs, is_remote, name_of

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.lib.markers import BuildMarker

DBT_PROJECT_FILES = ("*.yml", "*.yaml", "*.sql", "*.csv", "*.md")


def dbt_project_fingerprint(project_dir: Path) -> str:
    """Checksum of every file of a dbt project (its code, not what dbt writes), so a change to a model,
    a test or a seed runs the project again."""
    digest = hashlib.sha256()
    for pattern in DBT_PROJECT_FILES:
        for path in sorted(project_dir.rglob(pattern)):
            rel = path.relative_to(project_dir)
            if rel.parts[0] in {"target", "logs", "dbt_packages"}:
                continue
            digest.update(str(rel).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def warehouse_version(settings: Settings, workbooks: list[Path | str] | None) -> str | None:
    """The version of a warehouse built from ``workbooks`` now (``version_of``); None while any of them
    is not converted (or changed since it was)."""
    if workbooks is None:
        return None
    lake = LakePaths(settings.lake_location)
    rules = settings.conversion_rules.as_dict()
    manifests = {}
    for workbook in workbooks:
        manifest_path = lake.manifest_for(workbook)
        if not manifest_is_current(manifest_path, workbook, rules):
            return None
        manifests[name_of(workbook)] = LakeManifest.read(manifest_path)
    return version_of(settings, manifests, dbt_project_fingerprint(settings.dbt_project_dir))


def version_of(settings: Settings, manifests: dict[str, LakeManifest], dbt_project: str) -> str:
    """What the warehouse is built from, as a content address: the exports (name and sha256, from their
    lake ``manifests`` by name), the conversion rules and format, the dbt project's fingerprint and the
    unknown-value limits (they decide whether a build passes, so a changed limit checks the data again).
    The same exports give the same version in any data directory, on any machine, so a version already
    live is not published again."""
    inputs = {
        "dbt_project": dbt_project,
        "unknown_limits": [
            settings.unknown_max_line_percent,
            settings.unknown_max_money_percent,
            settings.unknown_strict,
        ],
        "exports": [
            [name, m.workbook_sha256, m.manifest_version, m.rules] for name, m in sorted(manifests.items())
        ],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def model_settings(settings: Settings) -> dict:
    """The settings that shape what the models hold, beyond the exports themselves: the conversion
    rules and the lake's format decide every line of the lake, so a change to either rebuilds the
    whole warehouse (the exports' sha256 stay the same). The unknown-value limits only decide whether
    the tests pass: a change there runs an incremental build with no change set, which tests again.
    The DuckDB version: the index's value_hash is DuckDB's hash(), which a new version may change."""
    from importlib.metadata import version

    return {
        "conversion_rules": settings.conversion_rules.as_dict(),
        "lake_format": MANIFEST_VERSION,
        "duckdb": version("duckdb"),
    }


@dataclass(frozen=True)
class BuildPlan:
    """What one build does: ``mode`` ``full`` or ``incremental``, why (``reason``, for people), and the
    exports added, replaced (same name, new sha256) and removed since the warehouse was last built
    (relative to the previous marker, in both modes; a first build adds every export)."""

    mode: str
    reason: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> list[str]:
        """The exports whose lines this build replaces: their old lines go, new ones (if any) come."""
        return sorted({*self.added, *self.replaced, *self.removed})

    @property
    def read(self) -> list[str]:
        """The exports whose lake files an incremental build reads."""
        return sorted({*self.added, *self.replaced})


def plan_build(
    previous: BuildMarker | None,
    *,
    warehouse_exists: bool,
    exports: dict[str, str],
    dbt_project: str,
    settings: dict,
    full_refresh: bool,
) -> BuildPlan:
    """Full refresh or incremental, from the previous build marker and what the build must hold now
    (``exports``: export file name -> sha256; the dbt project's fingerprint; ``model_settings``)."""
    before = previous.exports if previous else {}
    added = sorted(name for name in exports if name not in before)
    replaced = sorted(name for name in exports if name in before and before[name] != exports[name])
    removed = sorted(name for name in before if name not in exports)
    change = {"added": added, "replaced": replaced, "removed": removed}

    def full(reason: str) -> BuildPlan:
        return BuildPlan("full", reason, **change)

    if full_refresh:
        return full("a full refresh was asked for ([pipeline] full_refresh)")
    if previous is None:
        return full("no warehouse was built before in this data directory")
    if not warehouse_exists:
        return full("the warehouse file is missing")
    if previous.copied_from_store:
        return full("this worker's warehouse is a copy of another worker's build (published models only)")
    if not previous.exports or not previous.dbt_project:
        return full("the build marker predates incremental builds")
    if previous.dbt_project != dbt_project:
        return full("the dbt project changed")
    if previous.model_settings != settings:
        names = sorted(k for k in {*settings, *previous.model_settings}
                       if settings.get(k) != previous.model_settings.get(k))  # fmt: skip
        return full(f"a setting that shapes the model changed: {', '.join(names)}")
    counts = [f"{len(v)} {k}" for k, v in change.items() if v]
    reason = (
        f"exports changed: {', '.join(counts)}"
        if counts
        # The version changed all the same: an unknown-value limit, or a build marker that named none.
        else "no export changed since the last build; its tests run again on the warehouse as it is"
    )
    return BuildPlan("incremental", reason, **change)


class UnitTestRecord:
    """The unit tests that passed, by what their outcome depends on: the dbt project's code, the build
    mode (it chooses the incremental models' refs), and the versions of dbt, its adapter and DuckDB.

    Kept beside dbt's parse cache in ``<project>/target/`` (derived from the code only, ignored by
    git), so a run into a new data directory uses it too; a read-only checkout runs them every time.
    """

    PATH = Path("target") / "unit_tests_passed.json"
    KEEP = 8  # versions remembered: both modes of the last few versions of the code

    def __init__(self, project_dir: Path, mode: str):
        from importlib.metadata import version

        self.path = project_dir / self.PATH
        parts = [dbt_project_fingerprint(project_dir), mode]
        parts += [f"{p}=={version(p)}" for p in ("dbt-core", "dbt-duckdb", "duckdb")]
        self.key = hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _read(self) -> dict[str, int]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def passed_before(self) -> int:
        """How many unit tests passed for this key (0: never, so they run)."""
        return self._read().get(self.key, 0)

    def record(self, passed: int) -> None:
        """Remember that ``passed`` unit tests passed for this key (a build only ends when all did)."""
        if not passed:
            return
        kept = {k: v for k, v in self._read().items() if k != self.key}
        kept = dict(list(kept.items())[-(self.KEEP - 1) :]) | {self.key: passed}
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        try:
            tmp.write_text(json.dumps(kept))
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)


def duckdb_text_list(values: list[str]) -> str:
    """A DuckDB list literal of text values, e.g. ``['a.xlsx', 'b''s.csv']``."""
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(values)) + "]"


def building_path(warehouse_path: Path) -> Path:
    """Where dbt builds the next warehouse, renamed over ``warehouse_path`` once its tests passed."""
    return warehouse_path.with_name(f"{warehouse_path.stem}.building{warehouse_path.suffix}")


def parse_env(
    *, work_dir: Path, warehouse_path: Path, memory_limit: str, mode: str, lake_location: str
) -> dict[str, str]:
    """The env vars of a build that dbt reads while it parses the project: the profile's (the building
    file, relative to dbt's work directory so that the profile is the same in every data directory;
    the memory limit; the S3 secret's parts with the lake on S3, storage.dbt_env) and the build mode,
    by which models choose their SQL (macros/change_set.sql). Every other value of a build is read
    only when dbt executes."""
    building = building_path(warehouse_path).resolve()
    return {
        "PIPELINE_WAREHOUSE_PATH": os.path.relpath(building, work_dir.resolve()),
        "PIPELINE_DUCKDB_MEMORY_LIMIT": memory_limit,
        "PIPELINE_BUILD_MODE": mode,
        **dbt_env(lake_location),
    }


def parse_request(settings: Settings) -> ParseRequest:
    """The warehouse project's parse, as the next build will ask for it: its mode is the plan's, which
    the exports do not decide (plan_build), so it is known before they are converted."""
    from pipeline.lib.markers import BuildMarker

    mode = plan_build(
        BuildMarker.read(settings.build_marker),
        warehouse_exists=settings.warehouse_path.exists(),
        exports={},
        dbt_project=dbt_project_fingerprint(settings.dbt_project_dir),
        settings=model_settings(settings),
        full_refresh=settings.full_refresh,
    ).mode
    env = parse_env(
        work_dir=settings.dbt_work_dir,
        warehouse_path=settings.warehouse_path,
        memory_limit=settings.duckdb_memory_limit,
        mode=mode,
        lake_location=str(settings.lake_location),
    )
    return ParseRequest(settings.dbt_project_dir, settings.dbt_work_dir, settings.dbt_build_target, env)


def build_warehouse(
    *,
    plan: BuildPlan,
    project_dir: Path,
    work_dir: Path,
    warehouse_path: Path,
    line_files: list[str],
    reject_files: list[str],
    expected_source_rows: int,
    expected_source_amount: str,
    lines_held: int,
    target: str,
    threads: int,
    memory_limit: str,
    unknown_max_line_percent: float,
    unknown_max_money_percent: float,
    unknown_strict: bool,
    lake_location: Path | str = "",
) -> dict:
    """``dbt build`` into the building file (new for a full refresh, a copy of the live warehouse for
    an incremental build), then rename it over the live warehouse; dbt runs in ``work_dir`` (its
    target/ and logs). ``line_files`` and ``reject_files`` are the lake files of the exports this
    build reads (all of them for a full refresh), ``expected_source_rows`` and
    ``expected_source_amount`` the source rows and their money (manifest.LakeManifest) of every export
    the warehouse will hold, ``lines_held`` their typed lines (none: the build fails, in either mode).
    Returns timing, results, the rows of tests that warned, and the
    stock codes and countries no seed knows (``unknown_values``).

    The unknown-value limits reach dbt's test assert_unknown_values_within_limits as env vars, the
    mode and the change set the incremental models as PIPELINE_BUILD_MODE and PIPELINE_CHANGED_EXPORTS
    (dbt/warehouse/macros/change_set.sql).
    With the lake on S3 (``lake_location``), httpfs is installed from its wheel and the S3 secret's
    parts reach the profile's ``*_s3`` target as env vars (storage.dbt_env).
    """
    kept = (
        f"The warehouse was not replaced: {warehouse_path} still holds the last good build."
        if warehouse_path.exists()
        else "No warehouse was built, so nothing was published."
    )
    if lines_held == 0:
        # A star schema of nothing: say why instead (a full build could not even read an empty list of
        # files, and an incremental one must not succeed where the full build of the same exports fails).
        raise DbtBuildError(
            "No export holds a line that could be typed: every row was rejected at conversion (see the "
            f"rejects in {len(reject_files)} file(s) under the lake's _rejects/). {kept}"
        )
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    building = building_path(warehouse_path)
    building_files = (building, building.with_name(building.name + ".wal"))
    # A build killed before its rename leaves its building file: never build on top of it.
    for left in building_files:
        left.unlink(missing_ok=True)
    started = time.monotonic()
    if is_remote(lake_location):
        install_httpfs()
    unit_tests = UnitTestRecord(project_dir, plan.mode)
    passed_before = unit_tests.passed_before()
    args = ["build", "--target", target, "--threads", str(threads)]
    if passed_before:
        args += ["--exclude-resource-type", "unit_test"]
    try:
        if plan.mode == "incremental":
            # dbt changes the copy; the live file stays as it was until the rename, whatever happens.
            shutil.copyfile(warehouse_path, building)
        run_dbt(
            args,
            project_dir=project_dir,
            work_dir=work_dir,
            write_json=False,
            env={
                **parse_env(
                    work_dir=work_dir,
                    warehouse_path=warehouse_path,
                    memory_limit=memory_limit,
                    mode=plan.mode,
                    lake_location=str(lake_location),
                ),
                "PIPELINE_LAKE_LINE_FILES": sql_list(line_files, relative_to=work_dir),
                "PIPELINE_LAKE_REJECT_FILES": sql_list(reject_files, relative_to=work_dir),
                "PIPELINE_EXPECTED_SOURCE_ROWS": str(expected_source_rows),
                "PIPELINE_EXPECTED_SOURCE_AMOUNT": expected_source_amount,
                "PIPELINE_UNKNOWN_MAX_LINE_PERCENT": repr(float(unknown_max_line_percent)),
                "PIPELINE_UNKNOWN_MAX_MONEY_PERCENT": repr(float(unknown_max_money_percent)),
                "PIPELINE_UNKNOWN_STRICT": "true" if unknown_strict else "false",
                "PIPELINE_CHANGED_EXPORTS": duckdb_text_list(plan.changed),
            },
        )
        warnings = rows_of_failing_tests(work_dir, building, str(lake_location))
        unknown_values = read_unknown_values(building)
        fault_point("warehouse_before_swap", mode=plan.mode)
        os.replace(building, warehouse_path)
        # The marker is written by the caller after this: a crash here leaves the new warehouse under
        # the previous marker, and the next build applies the same change set again (harmlessly).
        fault_point("warehouse_swapped", mode=plan.mode)
    except DbtBuildError as err:
        # dbt says only "Got N results": name what the failing and warning tests found.
        found = format_test_rows(rows_of_failing_tests(work_dir, building, str(lake_location)))
        raise DbtBuildError((f"{found}\n\n" if found else "") + f"{err}\n{kept}") from None
    except OSError as err:  # the disk, the file system: no retry heals it
        full = err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        advice = (
            "Free space there, or give the run another data directory (PIPELINE_DATA_DIR), and run again."
            if full
            else f"({err.filename or building})"
        )
        raise DbtBuildError(
            f"could not write the warehouse build in {building.parent}: {err.strerror or err}. {advice} "
            f"{kept}"
        ) from err
    finally:
        for left in building_files:
            left.unlink(missing_ok=True)
    if warnings:
        print(format_test_rows(warnings), file=sys.stderr)
    results = count_results(work_dir)
    unit_tests.record(results.get("unit_test_pass", 0))
    if passed_before:
        results["unit_test_passed_before"] = passed_before
    return {
        "dbt_results": results,
        "seconds": round(time.monotonic() - started, 2),
        "test_warnings": warnings,
        "unknown_values": unknown_values,
    }


def read_unknown_values(database: Path) -> list[dict]:
    """The rows of the quality model unknown_reference_values, JSON-ready (money as exact text)."""
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select value_kind, value, line_count, line_amount, absolute_amount, line_percent, "
            "money_percent, seed_file from unknown_reference_values "
            "order by value_kind, line_count desc, value"
        ).fetchall()
    return [
        {
            "kind": kind,
            "value": value,
            "lines": lines,
            "amount": str(amount),
            "absolute_amount": str(absolute),
            "line_percent": round(line_pct, 4),
            "money_percent": round(money_pct, 4),
            "seed_file": seed_file,
        }
        for kind, value, lines, amount, absolute, line_pct, money_pct, seed_file in rows
    ]
