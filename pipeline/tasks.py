"""Luigi tasks: thin wiring from inputs to outputs. The work lives in ``pipeline.lib``.

    FetchWorkbook ──▶ ConvertWorkbookToParquet (one per export) ──▶ BuildWarehouse
                  ──▶ PublishToPostgres ──▶ VerifyPostgres ──▶ RunAll

Each task's output counts as complete only when the work is whole: files are renamed into place and
a manifest, marker or ledger row is written last. Heavy libraries are imported in ``run()``, so a no-op
run stays fast and tasks stay picklable for ``--workers N``. The one exception is dbt: when a dbt task
is to run, the scheduling process imports it and parses the projects after forking its first task
(``_plan_dbt_parse``). The only connections outside ``run()`` are the quick questions of scheduling:
RunAll's pre-run checks (``pipeline/guards.py``) and the ledger's live version that PublishedVersion
asks for.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
import uuid
from pathlib import Path

import luigi

from pipeline.config import Settings, load_settings
from pipeline.guards import check_postgres, check_settings, check_store, hold_data_dir
from pipeline.lib.dbt import parse_after_next_fork, parse_planned, process_ends_with_its_task
from pipeline.lib.manifest import LakePaths, conversion_figures, manifest_is_current
from pipeline.lib.markers import BuildMarker, DownloadMarker, PublishedMarker, VerifiedMarker
from pipeline.lib.signals import interrupts_kept
from pipeline.lib.sources import (
    SourceError,
    SourceListing,
    is_url,
    list_sources,
    refuse_identical_exports,
)
from pipeline.lib.warehouse import dbt_project_fingerprint, warehouse_version

# When this run began (Luigi's worker processes are forked from this one and share it).
RUN_STARTED = time.time()


def _refreshed(settings, done_at: float) -> bool:
    """With a full refresh asked for (``[pipeline] full_refresh``), a stage counts as done only when it
    was done again, in full, during this run (``done_at``: when; 0 when it was not done in full)."""
    return not settings.full_refresh or done_at >= RUN_STARTED


class StoredTarget(luigi.Target):
    """A file in the lake's store: a local path, or an ``s3://`` object (pipeline/lib/storage.py)."""

    def __init__(self, location):
        self.path = str(location)

    def exists(self):
        from pipeline.lib import storage

        return storage.stat(self.path) is not None


# The exports of each source, as this run first listed them.
_listings: dict[str, SourceListing] = {}


def exports_of(settings: Settings, source: str) -> SourceListing | None:
    """The exports of ``source`` as this process first found them. A run works on those: an export that
    lands while it runs is the next run's, and its tasks agree on the version they build, publish and
    verify, also when Luigi checks each task again after it ran. The task processes that Luigi forks
    inherit the listing; the workers of a central scheduler each list for themselves. None until a
    URL's download happened, and not kept then: the download happens during the run."""
    if source not in _listings:
        listing = list_sources(source, settings.download_marker(source))
        if listing is None:
            return None
        _listings[source] = listing
    return _listings[source]


def current_version(settings: Settings, source: str) -> str | None:
    """The version the warehouse must have for ``source`` in this run; None while an export is not
    converted (or changed since it was)."""
    listing = exports_of(settings, source)
    return warehouse_version(settings, None if listing is None else listing.exports)


class FetchWorkbook(luigi.Task):
    """Download the source archive (the UCI zip by default) and unpack its workbooks into data/raw/
    (with the lake on S3: into ``<lake_url>/_sources/``, so that any worker converts them).

    Done when ``<raw>/<name>.download.json`` lists the unpacked workbooks and their checksums.
    """

    url = luigi.Parameter()
    # download() already retries transient failures with backoff and fails at once on the others; a
    # scheduler retry on top repeated the same tries (offline: 3 x 5 DNS failures, 30 s apart).
    retry_count = 1

    def output(self):
        return StoredTarget(load_settings().download_marker(self.url))

    def run(self):
        import tempfile

        from pipeline.lib import storage
        from pipeline.lib.download import download, sha256_file
        from pipeline.lib.sources import unpack_exports

        settings = load_settings()
        name = self.url.rstrip("/").rsplit("/", 1)[-1]
        folder = Path(name).stem.replace("+", "_")
        self.set_status_message(f"downloading {self.url}")
        with tempfile.TemporaryDirectory(prefix="download-") as scratch:
            # On S3 the download lands in a scratch folder and goes up whole; locally in data/raw.
            raw = Path(scratch) if settings.lake_is_remote else settings.raw_dir
            got = download(
                self.url,
                raw / name,
                expected_sha256=settings.source_sha256,
                attempts=settings.download_attempts,
                backoff=settings.download_backoff_seconds,
            )
            self.set_progress_percentage(80)
            workbooks = unpack_exports(got.path, raw / folder)
            checksums = {p: sha256_file(p) for p in workbooks}
            archive, listed = str(got.path), [str(p) for p in workbooks]
            if settings.lake_is_remote:
                store = storage.open_store(settings.raw_location)
                store.upload(got.path, name)
                listed = []
                for path in workbooks:
                    store.upload(path, f"{folder}/{path.name}")
                    listed.append(store.location(f"{folder}/{path.name}"))
                archive = store.location(name)
            DownloadMarker(
                url=self.url,
                archive=archive,
                archive_sha256=got.sha256,
                archive_bytes=got.size,
                attempts=got.attempts,
                workbooks=listed,
                workbook_sha256={loc: checksums[p] for loc, p in zip(listed, workbooks, strict=True)},
            ).write(self.output().path)


class ConvertWorkbookToParquet(luigi.Task):
    """One export (.xlsx, .xls or .csv; a local file or an ``s3://`` object) → typed lines in the
    Hive-partitioned lake, untypable rows in ``_rejects``; above ``max_reject_share`` of untypable
    rows, nothing.

    Done when ``<lake>/_manifests/<export>.json`` validates against the export, the conversion rules
    and the files.
    """

    # A local path or an s3:// URL (a PathParameter would fold the URL's "//").
    workbook = luigi.Parameter()
    # A workbook that cannot be converted will not convert on a second try: fail at once.
    retry_count = 1

    def _workbook(self) -> Path | str:
        from pipeline.lib.storage import is_remote

        return str(self.workbook) if is_remote(self.workbook) else Path(self.workbook)

    def output(self):
        return StoredTarget(LakePaths(load_settings().lake_location).manifest_for(self._workbook()))

    def complete(self):
        settings = load_settings()
        rules = settings.conversion_rules.as_dict()
        # A full refresh trusts no modification time: each export's checksum is compared.
        trust_mtime = not settings.full_refresh
        return manifest_is_current(self.output().path, self._workbook(), rules, trust_mtime=trust_mtime)

    def run(self):
        import tempfile

        from pipeline.lib import storage
        from pipeline.lib.download import sha256_file
        from pipeline.lib.lake import write_workbook_to_lake
        from pipeline.lib.lines import check_reject_share, read_export

        settings = load_settings()
        workbook = self._workbook()
        if storage.stat(workbook) is None:
            raise SourceError(
                f"source workbook not found: {workbook}. Pass an existing .xlsx file or folder, or a URL "
                "to download: make run SOURCE=/path/to/file.xlsx, or --source PATH on the luigi command "
                "line (or PIPELINE_SOURCE)."
            )
        name = storage.name_of(workbook)
        self.set_status_message(f"reading {name}")
        self.set_progress_percentage(5)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="convert-") as scratch:
            # An export on S3 is read from a local copy (readers need a seekable file), named as it is.
            local = storage.fetch(workbook, Path(scratch) / name)
            sha256 = sha256_file(local)
            contents = read_export(local, sha256, settings.conversion_rules)
        for note in contents.notes:
            print(f"{name}: {note}", file=sys.stderr)
        check_reject_share(contents, workbook, settings.max_reject_share)
        self.set_status_message(f"writing {contents.lines.height:,} lines to the lake")
        self.set_progress_percentage(70)
        manifest = write_workbook_to_lake(
            contents,
            workbook,
            sha256,
            LakePaths(settings.lake_location),
            time.monotonic() - started,
            settings.conversion_rules,
        )
        self.set_progress_percentage(100)
        rejects = ", ".join(f"{k} {v:,}" for k, v in manifest.rejects_by_reason.items())
        print(
            f"converted {name}: {manifest.source_rows:,} rows → "
            f"{manifest.lake_rows:,} lake lines + {manifest.rejected_rows:,} rejects"
            f"{f' ({rejects})' if rejects else ''} in {time.monotonic() - started:.1f}s",
            file=sys.stderr,
        )


class BuildWarehouse(luigi.Task):
    """dbt-duckdb builds and tests the star schema from the lake into ``data/warehouse/retail.duckdb``:
    incrementally (only the exports added, re-exported or removed since the last build) when it can,
    else in full (see ``pipeline.lib.warehouse.plan_build``).

    Done when ``data/warehouse/retail.build.json`` names the current warehouse version (the converted
    workbooks plus the dbt project) and, with ``[pipeline] full_refresh`` on, a full build of this run.
    """

    source = luigi.Parameter()
    resources = {"duckdb_warehouse": 1}
    # A failing dbt test fails the same way again: no retry.
    retry_count = 1

    def requires(self):
        settings = load_settings()
        if is_url(self.source):
            return [FetchWorkbook(url=self.source)]
        exports = exports_of(settings, self.source).exports
        return [ConvertWorkbookToParquet(workbook=str(w)) for w in exports]

    def output(self):
        return luigi.LocalTarget(load_settings().build_marker)

    def complete(self):
        settings = load_settings()
        if settings.shared_warehouse_location:
            # The build is done for every worker when it was handed over on the store (handoff.py); a
            # worker's own warehouse file is only a cache.
            from pipeline.lib.handoff import shared_build

            marker = shared_build(settings.shared_warehouse_location)
        else:
            marker = BuildMarker.read(settings.build_marker)
            if not settings.warehouse_path.exists():
                return False
        if marker is None:
            return False
        if not _refreshed(settings, marker.built_at if marker.mode == "full" else 0):
            return False
        return marker.warehouse_version == current_version(settings, self.source)

    def run(self):
        from pipeline.lib import storage
        from pipeline.lib.warehouse import build_warehouse, model_settings, plan_build, version_of

        settings = load_settings()
        listing = exports_of(settings, self.source)
        workbooks = listing.exports
        # Downloaded workbooks are known only now: convert them as dynamic dependencies.
        yield [ConvertWorkbookToParquet(workbook=str(w)) for w in workbooks]

        lake = LakePaths(settings.lake_location)
        manifests = {storage.name_of(w): lake.read_manifest(w) for w in workbooks}
        exports = {name: m.workbook_sha256 for name, m in manifests.items()}
        refuse_identical_exports(exports)
        # The plan compares this worker's own warehouse file with its own marker: a consistent pair
        # (with a shared warehouse location, another worker's build is a full build here).
        previous = BuildMarker.read(settings.build_marker)
        project = dbt_project_fingerprint(settings.dbt_project_dir)
        shaping = model_settings(settings)
        plan = plan_build(
            previous,
            warehouse_exists=settings.warehouse_path.exists(),
            exports=exports,
            dbt_project=project,
            settings=shaping,
            full_refresh=settings.full_refresh,
        )
        read = list(manifests) if plan.mode == "full" else plan.read
        line_files = [lake.location(f) for n in read for f in manifests[n].files_under(lake.LINES)]
        reject_files = [lake.location(f) for n in read for f in manifests[n].files_under(lake.REJECTS)]
        print(f"warehouse build: {plan.mode} ({plan.reason})", file=sys.stderr)
        files = len(line_files) + len(reject_files)
        self.set_status_message(f"dbt build ({plan.mode}): models, seeds, tests over {files} lake files")
        self.set_progress_percentage(10)
        figures = conversion_figures(list(manifests.values()))
        result = build_warehouse(
            plan=plan,
            project_dir=settings.dbt_project_dir,
            work_dir=settings.dbt_work_dir,
            warehouse_path=settings.warehouse_path,
            line_files=[str(f) for f in line_files],
            reject_files=[str(f) for f in reject_files],
            expected_source_rows=figures["source_rows"],
            expected_source_amount=figures["source_amount"],
            lines_held=figures["lake_rows"],
            target=settings.dbt_build_target,
            lake_location=settings.lake_location,
            threads=settings.dbt_threads,
            memory_limit=settings.duckdb_memory_limit,
            unknown_max_line_percent=settings.unknown_max_line_percent,
            unknown_max_money_percent=settings.unknown_max_money_percent,
            unknown_strict=settings.unknown_strict,
        )
        unknown_values = result.pop("unknown_values")
        self.set_progress_percentage(100)
        before = previous.export_rows if previous else {}
        months = {name: sorted(m.lines_by_month) for name, m in manifests.items()}
        old_months = previous.export_months if previous else {}
        touched = (
            {month for ms in months.values() for month in ms}
            if plan.mode == "full"
            else {m for n in plan.changed for m in (*old_months.get(n, []), *months.get(n, []))}
        )
        # This run's conversions: the exports new to the warehouse or re-exported, not the history's.
        figures["convert_seconds"] = round(sum(manifests[n].seconds for n in plan.read), 2)
        BuildMarker(
            # The version of what dbt read, not of the source now: an export may land, or be
            # converted by another worker, while the build runs; the next run builds it in.
            warehouse_version=version_of(settings, manifests, project),
            source=self.source,
            workbooks=[str(w) for w in workbooks],
            skipped_files=listing.skipped,
            unknown_values=unknown_values,
            dbt=result,
            exports=exports,
            export_rows={name: m.source_rows for name, m in manifests.items()},
            export_months=months,
            dbt_project=project,
            model_settings=shaping,
            mode=plan.mode,
            mode_reason=plan.reason,
            added=plan.added,
            replaced=plan.replaced,
            removed=plan.removed,
            lines_loaded=sum(manifests[n].source_rows for n in read),
            lines_removed=sum(before.get(n, 0) for n in (*plan.replaced, *plan.removed)),
            months_touched=sorted(touched),
            built_at=time.time(),
            **figures,
        ).write(settings.build_marker)
        if settings.shared_warehouse_location:
            from pipeline.lib.handoff import export_build

            self.set_status_message(
                "handing the marts, dbt's manifest and the build marker over to the store"
            )
            export_build(
                warehouse_path=settings.warehouse_path,
                dbt_manifest_path=settings.warehouse_manifest_path,
                build_marker_path=settings.build_marker,
                location=settings.shared_warehouse_location,
            )
        # An export re-exported or removed while dbt read it: the warehouse holds what was read, and
        # the run cannot publish the source as it is now (Luigi's check after the task would fail).
        rules = settings.conversion_rules.as_dict()
        changed = [
            storage.name_of(w) for w in workbooks if not manifest_is_current(lake.manifest_for(w), w, rules)
        ]
        if changed:
            raise SourceError(
                f"{', '.join(changed)} changed while the warehouse was built from {self.source}: it "
                "holds the exports as they were read. Run again to build the change in."
            )


def local_build(settings) -> BuildMarker:
    """The build marker, with this worker's warehouse file and dbt manifest those of the build: with the
    lake on S3 the build may have run on another worker, and is copied from the store (handoff.py)."""
    if settings.shared_warehouse_location:
        from pipeline.lib.handoff import copy_to_local

        return copy_to_local(
            location=settings.shared_warehouse_location,
            warehouse_path=settings.warehouse_path,
            manifest_path=settings.warehouse_manifest_path,
            build_marker_path=settings.build_marker,
        )
    return BuildMarker.read(settings.build_marker)


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
        from pipeline.lib.postgres import PostgresUnavailable
        from pipeline.lib.preflight import live_warehouse_version

        try:
            return live_warehouse_version(load_settings().postgres_dsn()) == self.version
        except PostgresUnavailable:
            return False


class _EndsInBoundedTime:
    """A task that works on PostgreSQL: Luigi ends it after ``postgres_task_timeout_seconds``. A server
    that froze mid-statement (stopped, swapped out, a hung storage) answers nothing, and its kernel
    still acknowledges TCP keepalives, so nothing else ends the wait."""

    timeout_advice = (
        "PostgreSQL answered nothing for that long, or another pipeline held the publish turn: check that "
        "the server runs and is not stopped or swamped. The previous version stays live; the next run "
        "publishes. The limit is [pipeline] postgres_task_timeout_seconds."
    )

    @property
    def worker_timeout(self) -> int | None:
        return load_settings().postgres_task_timeout_seconds or None


class PublishToPostgres(_EndsInBoundedTime, luigi.Task):
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
        return PublishedVersion(current_version(load_settings(), self.source))

    def complete(self):
        settings = load_settings()
        marker = PublishedMarker.read(settings.published_marker)
        version = current_version(settings, self.source)
        # A full refresh rebuilds the version that is live already: copy all of it again, once.
        refreshed = marker and _refreshed(settings, marker.published_at if marker.full_refresh else 0)
        if settings.full_refresh and not refreshed:
            return False
        # The run's report reads this data directory's marker. When another data directory made the
        # version live, the publish runs here too: it finds the version live, copies nothing, and
        # records the live figures in the marker.
        if marker is None or marker.warehouse_version != version:
            return False
        return PublishedVersion(version).exists()

    def run(self):
        from pipeline.lib.postgres import redact, retry_transient
        from pipeline.lib.publish import PublishRequest, publish

        settings = load_settings()
        build = local_build(settings)
        dsn = settings.postgres_dsn()
        check_postgres(settings)  # run on its own, the task checks the server before copying too
        self.set_status_message(f"publishing to {redact(dsn)}")
        request = PublishRequest(
            warehouse_path=settings.warehouse_path,
            manifest_path=settings.warehouse_manifest_path,
            dsn=dsn,
            warehouse_version=build.warehouse_version,
            run_id=uuid.uuid4().hex,
            source=self.source,
            source_sha256=build.source_sha256,
            rejects_by_reason=build.conversion_rejects_by_reason,
            stage_seconds={"convert": build.convert_seconds, "dbt_build": build.dbt.get("seconds", 0)},
            unknown_values=build.unknown_values,
            bi_role=settings.bi_role,
            lock_timeout_ms=settings.publish_lock_timeout_ms,
            turn_wait_seconds=settings.publish_turn_wait_seconds,
            # A full refresh asked for copies every month too, not only those whose fingerprint changed.
            full_refresh=settings.full_refresh,
        )
        result = retry_transient(lambda: publish(request))
        self.set_status_message(
            f"version {result.published_version} live: {sum(result.rows.values()):,} rows, "
            f"{sum(result.rows_copied.values()):,} of them copied"
        )
        self.set_progress_percentage(100)
        PublishedMarker(
            published_version=result.published_version,
            warehouse_version=build.warehouse_version,
            schema=result.schema,
            rows=result.rows,
            amounts=result.amounts,
            seconds=result.seconds,
            dsn=redact(dsn),
            rows_copied=result.rows_copied,
            months_touched=result.months_touched,
            full_refresh=request.full_refresh,
            published_at=time.time(),
        ).write(settings.published_marker)


class VerifyPostgres(_EndsInBoundedTime, luigi.Task):
    """dbt-postgres (``dbt/olap``) tests the live tables in PostgreSQL and (re)builds the BI views.

    Done when ``data/warehouse/retail.verified.json`` names the current warehouse version and the
    dbt-postgres project as it is now.
    """

    source = luigi.Parameter()
    # A failing dbt test fails again; a server gone since the publish is found by the next run's preflight.
    retry_count = 1

    def requires(self):
        return PublishToPostgres(source=self.source)

    def output(self):
        return StoredTarget(load_settings().verified_marker)

    def complete(self):
        settings = load_settings()
        marker = VerifiedMarker.read(settings.verified_marker)
        version = current_version(settings, self.source)
        return (
            marker is not None
            and version is not None
            and marker.warehouse_version == version
            and marker.olap_project == dbt_project_fingerprint(settings.dbt_olap_project_dir)
            # After restore-previous the live version is another: the next run publishes this one
            # again, and verifies it.
            and PublishedVersion(version).exists()
            and _refreshed(settings, marker.verified_at)
        )

    def run(self):
        from pipeline.lib.verify import verify_with_dbt_postgres

        settings = load_settings()
        build = local_build(settings)
        self.set_status_message("dbt-postgres: testing the live tables")
        result = verify_with_dbt_postgres(
            project_dir=settings.dbt_olap_project_dir,
            manifest_path=settings.warehouse_manifest_path,
            dsn=settings.postgres_dsn(),
            work_dir=settings.dbt_olap_work_dir,
            expected_source_rows=build.source_rows,
            expected_source_amount=build.source_amount,
            bi_role=settings.bi_role,
            turn_wait_seconds=settings.publish_turn_wait_seconds,
        )
        VerifiedMarker(
            warehouse_version=build.warehouse_version,
            olap_project=dbt_project_fingerprint(settings.dbt_olap_project_dir),
            verified_at=time.time(),
            **result,
        ).write(settings.verified_marker)


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
        check_settings(settings)
        hold_data_dir(settings)
        check_store(settings)  # before PostgreSQL, which may start an embedded server
        check_postgres(settings)
        return all(task.complete() for task in luigi.task.flatten(self.requires()))

    def run(self):
        from pipeline.report import collect_figures, write_report
        from pipeline.summary import print_summary

        settings = load_settings(self.source or None)
        local_build(settings)  # the report reads the warehouse: this worker may not have built it
        figures = collect_figures(settings)
        print_summary(figures, write_report(settings, figures))


@luigi.Task.event_handler(luigi.Event.START)
@interrupts_kept
def _task_started(task: luigi.Task) -> None:
    """With more than one worker, Luigi forks a process for each task (its ``TaskProcess``), which ends
    through ``os._exit`` once the task is done: what dbt leaves there is not worth collecting."""
    if isinstance(multiprocessing.current_process(), luigi.worker.TaskProcess):
        process_ends_with_its_task()


@BuildWarehouse.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
@VerifyPostgres.event_handler(luigi.Event.DEPENDENCY_DISCOVERED)
@interrupts_kept
def _plan_dbt_parse(task: luigi.Task, dependency: luigi.Task) -> None:
    """Luigi fires this while it schedules a dbt task that is not done, in its scheduling process, once
    per dependency. When a task it depends on is still to run too, that task is forked first, and dbt
    is imported and the task's project parsed in this process meanwhile, for the task processes forked
    after it (pipeline/lib/dbt.py). A dbt task forked before that (its dependencies were done) imports
    and parses on its own. Once planned, a task's other dependencies are not asked again; until then,
    BuildWarehouse asks its exports in turn (Luigi asks them too: on S3, a listing each)."""
    from pipeline.lib import verify, warehouse

    name, request = (
        ("warehouse", warehouse.parse_request)
        if isinstance(task, BuildWarehouse)
        else ("olap", verify.parse_request)
    )
    if not parse_planned(name) and not dependency.complete():
        try:
            planned = request(load_settings())
        except Exception:
            return  # the task parses itself, and reports what keeps it from doing so
        parse_after_next_fork(name, planned)


@RunAll.event_handler(luigi.Event.DEPENDENCY_PRESENT)
@interrupts_kept
def _summarise_no_op(task: RunAll) -> None:
    """RunAll found complete before anything ran: a no-op run still ends with a summary."""
    from pipeline.summary import print_no_op_summary

    settings = load_settings(task.source or None)
    # Nothing ran, so the ledger's live version that the preflight read a moment ago is current.
    print_no_op_summary(settings.reports_dir, check_postgres(settings).live)
