"""Luigi tasks: thin wiring from inputs to outputs. The work lives in ``pipeline.lib``.

    FetchWorkbook ──▶ ConvertWorkbookToParquet (one per export) ──▶ BuildWarehouse
                  ──▶ PublishToPostgres ──▶ VerifyPostgres ──▶ RunAll

Each task's output counts as complete only when the work is whole: files are renamed into place and
a manifest, marker or ledger row is written last. Heavy libraries are imported in ``run()``, so a no-op
run stays fast and tasks stay picklable for ``--workers N``. The only connections outside ``run()`` are
the quick questions of scheduling: RunAll's pre-run checks (``pipeline/guards.py``) and the ledger's
live version that PublishedVersion asks for.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import luigi

from pipeline.config import Settings, load_settings
from pipeline.guards import check_postgres, hold_data_dir
from pipeline.lib.files import read_json, write_json_atomic
from pipeline.lib.manifest import LakePaths, manifest_is_current, read_manifest
from pipeline.lib.sources import SourceError, check_distinct_slugs, is_export_name, is_url, list_sources


def current_warehouse_version(settings: Settings, source: str) -> str | None:
    """The version the warehouse must have for ``source`` now; None while an export is not converted."""
    from pipeline.lib.warehouse import warehouse_version

    listing = list_sources(source, settings.download_marker(source))
    return warehouse_version(settings, None if listing is None else listing.exports)


class FetchWorkbook(luigi.Task):
    """Download the source archive (the UCI zip by default) and unpack its workbooks into data/raw/.

    Done when ``data/raw/<name>.download.json`` lists the unpacked workbooks and their checksums.
    """

    url = luigi.Parameter()
    # download() already retries transient failures with backoff and fails at once on the others; a
    # scheduler retry on top repeated the same tries (offline: 3 x 5 DNS failures, 30 s apart).
    retry_count = 1

    def output(self):
        return luigi.LocalTarget(load_settings().download_marker(self.url))

    def run(self):
        import zipfile

        from pipeline.lib.download import download, sha256_file

        settings = load_settings()
        name = self.url.rstrip("/").rsplit("/", 1)[-1]
        self.set_status_message(f"downloading {self.url}")
        got = download(
            self.url,
            settings.raw_dir / name,
            expected_sha256=settings.source_sha256,
            attempts=settings.download_attempts,
            backoff=settings.download_backoff_seconds,
        )
        self.set_progress_percentage(80)
        workbooks = []
        if zipfile.is_zipfile(got.path):
            target_dir = settings.raw_dir / Path(name).stem.replace("+", "_")
            with zipfile.ZipFile(got.path) as archive:
                members = [m for m in archive.namelist() if is_export_name(m)]
                if not members:
                    raise SourceError(f"{got.path}: the archive holds no .xlsx, .xls or .csv export")
                check_distinct_slugs(members, got.path)
                for member in members:
                    dest = target_dir / Path(member).name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(f".{dest.name}.part")
                    with archive.open(member) as src, open(tmp, "wb") as out:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                    os.replace(tmp, dest)
                    workbooks.append(dest)
        else:
            workbooks.append(got.path)
        write_json_atomic(
            Path(self.output().path),
            {
                "url": self.url,
                "archive": str(got.path),
                "archive_sha256": got.sha256,
                "archive_bytes": got.size,
                "attempts": got.attempts,
                "workbooks": [str(p) for p in workbooks],
                "workbook_sha256": {str(p): sha256_file(p) for p in workbooks},
            },
        )


class ConvertWorkbookToParquet(luigi.Task):
    """One export (.xlsx, .xls or .csv) → typed lines in the Hive-partitioned lake, untypable rows in
    ``_rejects``; above ``max_reject_share`` of untypable rows, nothing.

    Done when ``data/lake/_manifests/<export>.json`` validates against the export, the conversion rules
    and the files.
    """

    workbook = luigi.PathParameter()
    # A workbook that cannot be converted will not convert on a second try: fail at once.
    retry_count = 1

    def output(self):
        return luigi.LocalTarget(LakePaths(load_settings().lake_dir).manifest_for(Path(self.workbook)))

    def complete(self):
        rules = load_settings().conversion_rules.as_dict()
        return manifest_is_current(Path(self.output().path), Path(self.workbook), rules)

    def run(self):
        from pipeline.lib.download import sha256_file
        from pipeline.lib.lake import write_workbook_to_lake
        from pipeline.lib.lines import check_reject_share, read_export

        settings = load_settings()
        workbook = Path(self.workbook)
        if not workbook.is_file():
            raise SourceError(
                f"source workbook not found: {workbook}. Pass an existing .xlsx file or folder, or a URL "
                "to download: make run SOURCE=/path/to/file.xlsx, or --source PATH on the luigi command "
                "line (or PIPELINE_SOURCE)."
            )
        self.set_status_message(f"reading {workbook.name}")
        self.set_progress_percentage(5)
        started = time.monotonic()
        sha256 = sha256_file(workbook)
        contents = read_export(workbook, sha256, settings.conversion_rules)
        for note in contents.notes:
            print(f"{workbook.name}: {note}", file=sys.stderr)
        check_reject_share(contents, workbook, settings.max_reject_share)
        self.set_status_message(f"writing {contents.lines.height:,} lines to the lake")
        self.set_progress_percentage(70)
        manifest = write_workbook_to_lake(
            contents,
            workbook,
            sha256,
            LakePaths(settings.lake_dir),
            time.monotonic() - started,
            settings.conversion_rules,
        )
        self.set_progress_percentage(100)
        rejects = ", ".join(f"{k} {v:,}" for k, v in manifest["rejects_by_reason"].items())
        print(
            f"converted {workbook.name}: {manifest['source_rows']:,} rows → "
            f"{manifest['lake_rows']:,} lake lines + {manifest['rejected_rows']:,} rejects"
            f"{f' ({rejects})' if rejects else ''} in {time.monotonic() - started:.1f}s",
            file=sys.stderr,
        )


class BuildWarehouse(luigi.Task):
    """dbt-duckdb builds and tests the star schema from the lake into ``data/warehouse/retail.duckdb``.

    Done when ``data/warehouse/retail.build.json`` names the current warehouse version (the converted
    workbooks plus the dbt project).
    """

    source = luigi.Parameter()
    resources = {"duckdb_warehouse": 1}
    # A failing dbt test fails the same way again: no retry.
    retry_count = 1

    def requires(self):
        settings = load_settings()
        if is_url(self.source):
            return [FetchWorkbook(url=self.source)]
        exports = list_sources(self.source, settings.download_marker(self.source)).exports
        return [ConvertWorkbookToParquet(workbook=w) for w in exports]

    def output(self):
        return luigi.LocalTarget(load_settings().warehouse_dir / "retail.build.json")

    def complete(self):
        marker = read_json(Path(self.output().path))
        if not marker or not load_settings().warehouse_path.exists():
            return False
        return marker.get("warehouse_version") == current_warehouse_version(load_settings(), self.source)

    def run(self):
        from pipeline.lib.warehouse import build_warehouse

        settings = load_settings()
        listing = list_sources(self.source, settings.download_marker(self.source))
        workbooks = listing.exports
        # Downloaded workbooks are known only now: convert them as dynamic dependencies.
        yield [ConvertWorkbookToParquet(workbook=w) for w in workbooks]

        lake = LakePaths(settings.lake_dir)
        manifests = [read_manifest(lake.manifest_for(w)) for w in workbooks]
        files = [f for m in manifests for f in m["files"]]
        self.set_status_message(f"dbt build: models, seeds, tests over {len(files)} lake files")
        self.set_progress_percentage(10)
        result = build_warehouse(
            project_dir=settings.dbt_project_dir,
            warehouse_path=settings.warehouse_path,
            work_dir=settings.dbt_work_dir,
            line_files=[str(lake.lake_dir / f) for f in files if f.startswith("invoice_lines/")],
            reject_files=[str(lake.lake_dir / f) for f in files if f.startswith("_rejects/")],
            expected_source_rows=sum(m["source_rows"] for m in manifests),
            target=settings.dbt_target,
            threads=settings.dbt_threads,
            memory_limit=settings.duckdb_memory_limit,
            unknown_max_line_percent=settings.unknown_max_line_percent,
            unknown_max_money_percent=settings.unknown_max_money_percent,
            unknown_strict=settings.unknown_strict,
        )
        unknown_values = result.pop("unknown_values")
        rejects: dict[str, int] = {}
        for m in manifests:
            for reason, n in m["rejects_by_reason"].items():
                rejects[reason] = rejects.get(reason, 0) + n
        self.set_progress_percentage(100)
        write_json_atomic(
            Path(self.output().path),
            {
                "warehouse_version": current_warehouse_version(settings, self.source),
                "source": self.source,
                "workbooks": [str(w) for w in workbooks],
                "skipped_files": listing.skipped,
                "skipped_sheets": {
                    Path(m["workbook"]).name + f" / {sheet}": why
                    for m in manifests
                    for sheet, why in m.get("skipped_sheets", {}).items()
                },
                "source_sha256": [m["workbook_sha256"] for m in manifests],
                "source_rows": sum(m["source_rows"] for m in manifests),
                "lake_rows": sum(m["lake_rows"] for m in manifests),
                "conversion_rejects_by_reason": rejects,
                "convert_seconds": round(sum(m.get("seconds", 0) for m in manifests), 2),
                "unknown_values": unknown_values,
                "dbt": result,
            },
        )


class PublishedVersion(luigi.Target):
    """Exists when PostgreSQL's publish ledger has ``version`` live.

    A server that cannot be asked counts as "not published": the publish then runs and fails with the
    reason. (An exception here would leave the task's state unknown and the worker waiting for it.)
    """

    def __init__(self, version: str | None):
        self.version = version

    def exists(self):
        if self.version is None:
            return False
        from pipeline.lib.postgres import PostgresUnavailable, live_warehouse_version

        try:
            return live_warehouse_version(load_settings().postgres_dsn()) == self.version
        except PostgresUnavailable:
            return False


class PublishToPostgres(luigi.Task):
    """Copy the marts into PostgreSQL (schema ``analytics``) through DuckDB's postgres extension.

    Done when ``pipeline_meta.publish_ledger`` has the current warehouse version live.
    """

    source = luigi.Parameter()
    resources = {"duckdb_warehouse": 1}
    # The publish retries by itself what may heal (a refused connection, a server gone mid-copy) and
    # fails at once on what cannot (a wrong password, a missing privilege): Luigi cannot tell them apart.
    retry_count = 1

    def requires(self):
        return BuildWarehouse(source=self.source)

    def output(self):
        return PublishedVersion(current_warehouse_version(load_settings(), self.source))

    def run(self):
        from pipeline.lib.postgres import redact, retry_transient
        from pipeline.lib.publish import publish

        settings = load_settings()
        build = read_json(Path(self.input().path))
        dsn = settings.postgres_dsn()
        check_postgres(settings)  # run on its own, the task checks the server before copying too
        self.set_status_message(f"publishing to {redact(dsn)}")
        result = retry_transient(
            lambda: publish(
                warehouse_path=settings.warehouse_path,
                manifest_path=settings.warehouse_manifest_path,
                dsn=dsn,
                warehouse_version=build["warehouse_version"],
                run_id=uuid.uuid4().hex,
                source=self.source,
                source_sha256=build["source_sha256"],
                rejects_by_reason=build["conversion_rejects_by_reason"],
                stage_seconds={
                    "convert": build["convert_seconds"],
                    "dbt_build": build["dbt"].get("seconds", 0),
                },
                unknown_values=build.get("unknown_values", []),
                bi_role=settings.bi_role,
                lock_timeout_ms=settings.publish_lock_timeout_ms,
            )
        )
        self.set_status_message(
            f"version {result.published_version} live: {sum(result.rows.values()):,} rows in {result.schema}"
        )
        self.set_progress_percentage(100)
        write_json_atomic(
            settings.warehouse_dir / "retail.published.json",
            {
                "published_version": result.published_version,
                "warehouse_version": build["warehouse_version"],
                "schema": result.schema,
                "rows": result.rows,
                "amounts": result.amounts,
                "seconds": result.seconds,
                "dsn": redact(dsn),
            },
        )


class VerifyPostgres(luigi.Task):
    """dbt-postgres (``dbt/olap``) tests the live tables in PostgreSQL and (re)builds the BI views.

    Done when ``data/warehouse/retail.verified.json`` names the current warehouse version.
    """

    source = luigi.Parameter()
    # A failing dbt test fails again; a server gone since the publish is found by the next run's preflight.
    retry_count = 1

    def requires(self):
        return PublishToPostgres(source=self.source)

    def output(self):
        return luigi.LocalTarget(load_settings().warehouse_dir / "retail.verified.json")

    def complete(self):
        marker = read_json(Path(self.output().path))
        version = current_warehouse_version(load_settings(), self.source)
        return bool(marker) and version is not None and marker.get("warehouse_version") == version

    def run(self):
        from pipeline.lib.verify import verify_with_dbt_postgres

        settings = load_settings()
        build = read_json(settings.warehouse_dir / "retail.build.json")
        self.set_status_message("dbt-postgres: testing the live tables")
        result = verify_with_dbt_postgres(
            project_dir=settings.dbt_olap_project_dir,
            manifest_path=settings.warehouse_manifest_path,
            dsn=settings.postgres_dsn(),
            work_dir=settings.dbt_olap_work_dir,
            expected_source_rows=build["source_rows"],
            bi_role=settings.bi_role,
        )
        write_json_atomic(
            Path(self.output().path), {"warehouse_version": build["warehouse_version"], **result}
        )


class RunAll(luigi.Task):
    """The whole pipeline for one source: workbook(s) → lake → warehouse → PostgreSQL.

    ``--source`` takes a workbook, a folder of workbooks or a URL; default: PIPELINE_SOURCE, then
    ``[pipeline] source`` in luigi.cfg, then the UCI download. Complete when the publish is.
    """

    source = luigi.Parameter(default="")
    # Its own work (report, summary) fails the same way on a retry.
    retry_count = 1

    def resolved_source(self) -> str:
        return load_settings(self.source or None).source

    def requires(self):
        return VerifyPostgres(source=self.resolved_source())

    def complete(self):
        settings = load_settings(self.source or None)
        hold_data_dir(settings)
        check_postgres(settings)
        return all(task.complete() for task in luigi.task.flatten(self.requires()))

    def run(self):
        from pipeline.report import collect_figures, write_report
        from pipeline.summary import print_summary

        settings = load_settings(self.source or None)
        figures = collect_figures(settings)
        print_summary(figures, write_report(settings, figures))


@RunAll.event_handler(luigi.Event.DEPENDENCY_PRESENT)
def _summarise_no_op(task: RunAll) -> None:
    """RunAll found complete before anything ran: a no-op run still ends with a summary."""
    from pipeline.summary import print_no_op_summary

    settings = load_settings(task.source or None)
    # Nothing ran, so the ledger's live version that the preflight read a moment ago is current.
    print_no_op_summary(settings.data_dir / "reports", check_postgres(settings).live)
