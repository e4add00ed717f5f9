"""Benchmark the pipeline: per-stage medians, the calamine floor, the seed-style baseline, no-op
re-runs, and growth with synthetic data. Prints a Markdown table and writes JSON + Markdown.

    python -m benchmarks --runs 3 --scales 1,4 --baseline
    python -m benchmarks --runs 3 --small 0 --incremental 10     # issue 17: one export into 10× history

Every run gets a fresh data directory and an empty PostgreSQL database on one embedded server
(started once, outside the timings). dbt's parse caches, which derive from the code only, are kept
(see pipeline/lib/dbt.py); one extra cold run without them shows the first run after a clone.
Stage figures come from running the Luigi tasks one at a time (Convert → BuildWarehouse →
PublishToPostgres → VerifyPostgres), each timed with the peak RSS of its whole process tree (Luigi's
task processes, dbt in them); the end-to-end figure is a separate cold RunAll, with its CPU time: the
pipeline's process tree and the PostgreSQL server's backends. Their sum ÷ the cores is the least time
in which any scheduling of that work could end, at the speed the machine had during the run (which
varies from hour to hour on a shared machine, the CPU time with it). A small synthetic workbook
(``--small``, 1,000 lines) shows the pipeline's fixed cost, and the table ends with issue 16's
targets, met or missed.

``--incremental N`` times what a landing folder's growth costs: a history of N× synthetic lines is run
cold once; then one later monthly export (45,000 lines, its own month and invoice numbers) is added
and removed again ``--runs`` times, each a RunAll on the same data directory and database, beside the
same export run alone into an empty data directory (issue 17's targets).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import psutil

from pipeline.config import OLAP_PROJECT_DIR, WAREHOUSE_PROJECT_DIR
from pipeline.lib.dbt import PARSE_CACHE

REPO = Path(__file__).resolve().parent.parent
REAL_WORKBOOK = REPO.parent / "shared" / "data" / "online_retail_reconstructed.xlsx"
LUIGI_RUN = [str(Path(sys.executable).with_name("luigi")), "--module", "pipeline", "--local-scheduler"]
PARSE_CACHES = [WAREHOUSE_PROJECT_DIR / PARSE_CACHE, OLAP_PROJECT_DIR / PARSE_CACHE]
REAL_LINES = 541_909
MONTHLY_EXPORT_LINES = 45_000
CORES = len(os.sched_getaffinity(0))  # the cores this process and its children may run on


class Measured(NamedTuple):
    seconds: float  # wall time
    peak_rss: int  # bytes, summed over the process tree
    returncode: int
    # CPU time (user + system) of the process and every descendant reaped before it ended: Luigi's
    # task processes and the threads of dbt and DuckDB in them. On N cores, work that takes this much
    # CPU time cannot end in less than cpu_seconds / N.
    cpu_seconds: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(command: list[str], env: dict, cwd: Path) -> Measured:
    """Run ``command`` to its end; one at a time (the CPU time is that of this process's children)."""
    start, cpu_before = time.monotonic(), _children_cpu()
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        sys.stderr.write(stderr.decode()[-3000:])
    return Measured(time.monotonic() - start, peak, proc.returncode, _children_cpu() - cpu_before)


def floor_seconds(workbooks: list[Path]) -> float:
    """Parse the workbooks with calamine (fastexcel) alone: nothing is faster here."""
    import fastexcel

    start = time.monotonic()
    for workbook in workbooks:
        reader = fastexcel.read_excel(workbook)
        for name in reader.sheet_names:
            reader.load_sheet(name).to_arrow()
    return time.monotonic() - start


class Postgres:
    """One embedded server for the whole benchmark; every run gets an empty database."""

    NAME = "bench"

    def __init__(self, server):
        self.server = server  # a pgserver.PostgresServer
        self._own_backends: list[int] = []  # of the harness's connections, which cpu_seconds waits out

    @classmethod
    def start(cls, root: Path) -> Postgres:
        import pgserver

        return cls(pgserver.get_server(root / "pg", cleanup_mode="delete"))

    def fresh_dsn(self) -> str:
        """An empty database under the same name each time, as a user's DSN would stay the same (and
        dbt's parse cache is keyed on the connection values)."""
        import psycopg

        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            self._own_backends.append(conn.info.backend_pid)
            conn.execute(f"drop database if exists {self.NAME} with (force)")
            conn.execute(f"create database {self.NAME}")
        return self.server.get_uri(self.NAME)

    def cpu_seconds(self) -> float:
        """CPU time of the server so far: the postmaster's own and that of every process it has reaped,
        read once the benchmark database has no client and the harness's own connections have ended.
        That is each connection's backend, and any autovacuum worker that ended by then (the server's
        own work after a load); the background processes that are still running (checkpointer, WAL
        writer) are not in it."""
        import psycopg

        postmaster = psutil.Process(int((Path(self.server.pgdata) / "postmaster.pid").read_text().split()[0]))
        clients = (
            "select count(*) from pg_stat_activity where datname = %s and backend_type = 'client backend'"
        )
        with psycopg.connect(self.server.get_uri(), autocommit=True) as conn:
            self._own_backends.append(conn.info.backend_pid)
            _wait_for(lambda: not conn.execute(clients, (self.NAME,)).fetchone()[0], "clients to disconnect")
        # A backend leaves pg_stat_activity before it exits; its CPU time reaches the postmaster's
        # children's only once the postmaster has reaped it.
        _wait_for(
            lambda: not any(map(psutil.pid_exists, self._own_backends)) and not _unreaped(postmaster),
            "the server to reap its ended backends",
        )
        self._own_backends.clear()
        times = postmaster.cpu_times()
        return times.user + times.system + times.children_user + times.children_system


def _unreaped(process: psutil.Process) -> bool:
    for child in process.children():
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            pass  # reaped since the listing
    return False


def _wait_for(done, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {seconds} s for {what}")
        time.sleep(0.02)


def pipeline_env(data: Path, pg: Postgres) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_", "LUIGI_"))}
    env |= {"PIPELINE_DATA_DIR": str(data / "data"), "LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg"),
            "PIPELINE_PG_DSN": pg.fresh_dsn()}  # fmt: skip
    return env


def first_run_seconds(source: Path, pg: Postgres, root: Path) -> float:
    """A cold run without dbt's parse caches, as the first run after a clone or a model change."""
    for cache in PARSE_CACHES:
        cache.unlink(missing_ok=True)
    data = Path(tempfile.mkdtemp(dir=root))
    run = measure([*LUIGI_RUN, "RunAll", "--source", str(source)], pipeline_env(data, pg), data)
    assert run.returncode == 0, "cold RunAll without parse caches failed"
    shutil.rmtree(data, ignore_errors=True)
    return run.seconds


def run_pipeline_once(source: Path, workbooks: list[Path], pg: Postgres, root: Path) -> dict:
    data = Path(tempfile.mkdtemp(dir=root))
    env = pipeline_env(data, pg)
    result: dict = {"stages": {}}

    server_cpu = pg.cpu_seconds()
    run = measure([*LUIGI_RUN, "RunAll", "--source", str(source)], env, data)
    assert run.returncode == 0, "cold RunAll failed"
    postgres_cpu = pg.cpu_seconds() - server_cpu
    result["end_to_end"] = {"seconds": run.seconds, "peak_rss": run.peak_rss, "cpu": run.cpu_seconds,
                            "postgres_cpu": postgres_cpu,
                            "least": (run.cpu_seconds + postgres_cpu) / CORES}  # fmt: skip
    noop = [measure([*LUIGI_RUN, "RunAll", "--source", str(source)], env, data).seconds for _ in range(3)]
    result["noop_seconds"] = statistics.median(noop)

    # The same work stage by stage, on a fresh data directory and database.
    env |= {"PIPELINE_DATA_DIR": str(data / "staged"), "PIPELINE_PG_DSN": pg.fresh_dsn()}
    convert = [
        measure([*LUIGI_RUN, "ConvertWorkbookToParquet", "--workbook", str(w)], env, data) for w in workbooks
    ]
    result["stages"]["convert"] = {
        "seconds": sum(c.seconds for c in convert),
        "peak_rss": max(c.peak_rss for c in convert),
    }
    for stage, task in (("dbt build", "BuildWarehouse"), ("publish", "PublishToPostgres"),
                        ("dbt-postgres", "VerifyPostgres")):  # fmt: skip
        run = measure([*LUIGI_RUN, task, "--source", str(source)], env, data)
        assert run.returncode == 0, f"{task} failed"
        result["stages"][stage] = {"seconds": run.seconds, "peak_rss": run.peak_rss}
    shutil.rmtree(data, ignore_errors=True)
    return result


def median_of(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in path:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def bench_source(
    label: str, source: Path, lines: int, runs: int, pg: Postgres, root: Path, baseline: bool, first: bool
) -> dict:
    workbooks = sorted(source.glob("*.xlsx")) if source.is_dir() else [source]
    print(f"[{label}] {len(workbooks)} workbook(s), {lines:,} lines, {runs} run(s)", file=sys.stderr)
    floors, results = [], []
    first_run = first_run_seconds(source, pg, root) if first else None
    for i in range(runs):
        floors.append(floor_seconds(workbooks))
        results.append(run_pipeline_once(source, workbooks, pg, root))
        print(f"[{label}] run {i + 1}: end to end {results[-1]['end_to_end']['seconds']:.1f} s, "
              f"floor {floors[-1]:.1f} s", file=sys.stderr)  # fmt: skip
    floor = statistics.median(floors)
    end_to_end = median_of(results, "end_to_end", "seconds")
    summary = {
        "label": label,
        "lines": lines,
        "workbooks": len(workbooks),
        "runs": runs,
        "floor_seconds": round(floor, 3),
        "end_to_end_seconds": round(end_to_end, 2),
        "end_to_end_over_floor": round(end_to_end / floor, 2),
        "end_to_end_peak_rss_mb": round(median_of(results, "end_to_end", "peak_rss") / 1e6),
        "end_to_end_cpu_seconds": round(median_of(results, "end_to_end", "cpu"), 2),
        "end_to_end_postgres_cpu_seconds": round(median_of(results, "end_to_end", "postgres_cpu"), 2),
        "cores": CORES,
        "least_seconds": round(median_of(results, "end_to_end", "least"), 2),
        "least_over_floor": round(median_of(results, "end_to_end", "least") / floor, 2),
        "noop_seconds": round(median_of(results, "noop_seconds"), 2),
        "first_run_seconds": round(first_run, 2) if first_run else None,
        "stages": {
            stage: {
                "seconds": round(median_of(results, "stages", stage, "seconds"), 2),
                "rows_per_second": round(lines / median_of(results, "stages", stage, "seconds")),
                "peak_rss_mb": round(median_of(results, "stages", stage, "peak_rss") / 1e6),
            }
            for stage in results[0]["stages"]
        },
    }
    if baseline:
        from benchmarks.baseline import run_baseline

        print(f"[{label}] seed-style baseline (pandas + openpyxl + to_sql)...", file=sys.stderr)
        base = run_baseline(workbooks, pg.fresh_dsn())
        summary["baseline_seconds"] = round(base["seconds"]["total"], 2)
        summary["baseline_breakdown"] = {k: round(v, 2) for k, v in base["seconds"].items()}
        summary["baseline_over_pipeline"] = round(base["seconds"]["total"] / end_to_end, 2)
    return summary


def write_monthly_export(folder: Path) -> Path:
    """One export of the month after the synthetic history, continuing its invoice numbers."""
    from pipeline.synth import write_workbooks

    (path,) = write_workbooks(folder, MONTHLY_EXPORT_LINES, seed=8, prefix="export_2012_01",
                              start=dt.datetime(2012, 1, 2, 8), days=30, first_invoice=600_000)  # fmt: skip
    return path


def run_report_stages(data: Path) -> dict[str, float]:
    """The stage seconds the last run's report gives (``reports/latest.json`` of its data directory)."""
    report = json.loads((data / "data" / "reports" / "latest.json").read_text())
    return report["stage_seconds"]


def bench_incremental(scale: int, runs: int, pg: Postgres, root: Path) -> dict:
    """A monthly export added to (and removed from) an N× history, against the same export alone."""
    from pipeline.synth import write_workbooks

    label = f"incremental: one export into {scale}× history"
    landing, alone = root / f"landing-{scale}x", root / "alone"
    write_workbooks(landing, REAL_LINES * scale, seed=7)
    export = write_monthly_export(alone)
    print(f"[{label}] history {REAL_LINES * scale:,} lines, export {export.name}", file=sys.stderr)

    alone_seconds = []
    for _ in range(runs):
        data = Path(tempfile.mkdtemp(dir=root))
        run = measure([*LUIGI_RUN, "RunAll", "--source", str(alone)], pipeline_env(data, pg), data)
        assert run.returncode == 0, "the export alone failed"
        alone_seconds.append(run.seconds)
        shutil.rmtree(data, ignore_errors=True)

    data = Path(tempfile.mkdtemp(dir=root))
    env = pipeline_env(data, pg)
    run_all = [*LUIGI_RUN, "RunAll", "--source", str(landing)]
    history = measure(run_all, env, data)
    assert history.returncode == 0, "the history's cold run failed"
    added, removed, noop, stages = [], [], [], []
    for i in range(runs):
        shutil.copy2(export, landing / export.name)
        run = measure(run_all, env, data)
        assert run.returncode == 0, "the run with the export added failed"
        added.append((run.seconds, run.peak_rss))
        stages.append(run_report_stages(data))
        if i == 0:
            noop.append(measure(run_all, env, data).seconds)
        (landing / export.name).unlink()
        run = measure(run_all, env, data)
        assert run.returncode == 0, "the run with the export removed failed"
        removed.append(run.seconds)
        print(f"[{label}] run {i + 1}: added {added[-1][0]:.1f} s, removed {run.seconds:.1f} s, alone "
              f"{alone_seconds[i]:.1f} s", file=sys.stderr)  # fmt: skip
    shutil.rmtree(data, ignore_errors=True)
    add = statistics.median(wall for wall, _ in added)
    return {
        "label": label,
        "scale": scale,
        "history_lines": REAL_LINES * scale,
        "export_lines": MONTHLY_EXPORT_LINES,
        "runs": runs,
        "history_cold_seconds": round(history.seconds, 2),
        "history_cold_peak_rss_mb": round(history.peak_rss / 1e6),
        "alone_seconds": round(statistics.median(alone_seconds), 2),
        "added_seconds": round(add, 2),
        "added_peak_rss_mb": round(statistics.median(rss for _, rss in added) / 1e6),
        "removed_seconds": round(statistics.median(removed), 2),
        "noop_seconds": round(noop[0], 2),
        "added_over_alone": round(add / statistics.median(alone_seconds), 2),
        # Where the added run's time goes, from its run report (medians per stage).
        "added_stages": {k: round(statistics.median(s[k] for s in stages), 2) for k in stages[0]},
    }


def targets(results: list[dict]) -> list[tuple[str, str, bool]]:
    """Issue 16's targets against this run's figures: (target, measured, met)."""
    by_label = {r["label"]: r for r in results}
    real = by_label.get("real workbook")
    rows = []
    if real:
        rows.append(("cold run ≤ 2.5× the floor", f"{real['end_to_end_over_floor']}×",
                     real["end_to_end_over_floor"] <= 2.5))  # fmt: skip
        if "baseline_over_pipeline" in real:
            rows.append(("≥ 10× faster than the seed-style baseline", f"{real['baseline_over_pipeline']}×",
                         real["baseline_over_pipeline"] >= 10))  # fmt: skip
        rows.append(("no-op re-run ≤ 0.5 s", f"{real['noop_seconds']} s", real["noop_seconds"] <= 0.5))
        peak = max(r["end_to_end_peak_rss_mb"] for r in results)
        rows.append(("peak RSS ≤ 1.5 GB", f"{peak} MB", peak <= 1500))
        ten = by_label.get("synthetic 10×")
        if ten:
            time_ratio = round(ten["end_to_end_seconds"] / real["end_to_end_seconds"], 2)
            memory_ratio = round(ten["end_to_end_peak_rss_mb"] / real["end_to_end_peak_rss_mb"], 2)
            rows.append(("at 10× the data, time ≤ 10×", f"{time_ratio}×", time_ratio <= 10))
            rows.append(("at 10× the data, memory ≤ 2×", f"{memory_ratio}×", memory_ratio <= 2))
    for inc in (r for r in results if r["label"].startswith("incremental")):
        rows.append((f"an export added to {inc['scale']}× history ≤ 2× the export alone",
                     f"{inc['added_over_alone']}×", inc["added_over_alone"] <= 2))  # fmt: skip
        rows.append(("no-op after the export", f"{inc['noop_seconds']} s", inc["noop_seconds"] <= 0.5))
    small = next((r for r in results if r["label"].startswith("small")), None)
    if small:
        rows.append((f"{small['lines']:,}-line workbook end to end ≤ 3 s", f"{small['end_to_end_seconds']} s",
                     small["end_to_end_seconds"] <= 3))  # fmt: skip
    return rows


def markdown(results: list[dict], command: str) -> str:
    memory = psutil.virtual_memory().total / 2**30
    machine = f"{CORES} cores, {memory:.0f} GiB, Python {platform.python_version()}"
    lines = [f"Measured {dt.date.today().isoformat()} on {machine} with `{command}` (medians)."]
    sources = [r for r in results if "stages" in r]
    if sources:
        lines += [
            "",
            "| source | lines | floor (calamine) | end to end | ÷ floor | CPU: pipeline + PostgreSQL "
            "| peak RSS | no-op | baseline | baseline ÷ pipeline |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
    for r in sources:
        cpu = (
            f"{r['end_to_end_cpu_seconds']} s + {r['end_to_end_postgres_cpu_seconds']} s"
            if "end_to_end_cpu_seconds" in r
            else "–"
        )
        lines.append(
            f"| {r['label']} | {r['lines']:,} | {r['floor_seconds']} s | {r['end_to_end_seconds']} s | "
            f"{r['end_to_end_over_floor']}× | {cpu} | {r['end_to_end_peak_rss_mb']} MB | "
            f"{r['noop_seconds']} s | "
            f"{str(r.get('baseline_seconds', '–')) + ' s' if 'baseline_seconds' in r else '–'} | "
            f"{str(r['baseline_over_pipeline']) + '×' if 'baseline_over_pipeline' in r else '–'} |"
        )
    incremental = [r for r in results if r["label"].startswith("incremental")]
    if incremental:
        lines += [
            "",
            "| history | export | history cold | export alone | export added | ÷ alone | removed | no-op "
            "| peak RSS (added) |",
            "|" + " ---: |" * 9,
        ]
        for r in incremental:
            lines.append(
                f"| {r['history_lines']:,} ({r['scale']}×) | {r['export_lines']:,} | "
                f"{r['history_cold_seconds']} s | {r['alone_seconds']} s | {r['added_seconds']} s | "
                f"{r['added_over_alone']}× | {r['removed_seconds']} s | {r['noop_seconds']} s | "
                f"{r['added_peak_rss_mb']} MB |"
            )
        for r in incremental:
            split = ", ".join(f"{stage} {seconds} s" for stage, seconds in r.get("added_stages", {}).items())
            lines += ["", f"{r['label']}, the run with the export added, by stage: {split}."]
    for r in (r for r in sources if "least_seconds" in r):
        lines += ["", f"{r['label']}: CPU time of the pipeline's process tree + of the PostgreSQL server's "
                  f"backends; on {r['cores']} cores, at the machine's speed during these runs, no run of "
                  f"this work could end before {r['least_seconds']} s (their sum ÷ cores), "
                  f"{r['least_over_floor']}× the floor."]  # fmt: skip
    for r in results:
        if r.get("first_run_seconds"):
            lines += ["", f"{r['label']}: the first cold run after a clone or a model change, when dbt "
                      f"parses both projects in full: {r['first_run_seconds']} s (one run)."]  # fmt: skip
    checked = targets(results)
    if checked:
        lines += ["", "| target | measured | |", "| --- | ---: | --- |"]
        lines += [f"| {name} | {value} | {'met' if met else '**missed**'} |" for name, value, met in checked]
    if sources:
        lines += ["", "| source | stage | seconds | rows/s | peak RSS |", "| --- | --- |" + " ---: |" * 3]
    for r in sources:
        for stage, st in r["stages"].items():
            rate, rss = f"{st['rows_per_second']:,}", f"{st['peak_rss_mb']} MB"
            lines.append(f"| {r['label']} | {stage} | {st['seconds']} | {rate} | {rss} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, default=REAL_WORKBOOK, help="workbook or folder (1× real data)"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scales", default="", help="synthetic multiples of the real line count, e.g. 1,4,10"
    )
    parser.add_argument("--synthetic-runs", type=int, default=1)
    parser.add_argument(
        "--small", type=int, default=1000, help="lines of the small synthetic workbook (fixed cost); 0: none"
    )
    parser.add_argument(
        "--baseline", action="store_true", help="also time the pandas/openpyxl/to_sql baseline"
    )
    parser.add_argument(
        "--incremental", type=int, default=0, help="N: one monthly export into N× synthetic history; 0: none"
    )
    parser.add_argument("--real", action=argparse.BooleanOptionalAction, default=True,
                        help="benchmark the real workbook (--no-real: only the other cases)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"{args.source} does not exist: pass --source with the Online Retail workbook")
    # Every run works in a data directory of its own: a relative path would not resolve there.
    args.source = args.source.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="bench-"))
    pg = Postgres.start(root)
    results = []
    try:
        if args.real:
            results.append(bench_source("real workbook", args.source, REAL_LINES, args.runs, pg, root,
                                        args.baseline, True))  # fmt: skip
        from pipeline.synth import write_workbooks

        if args.small:
            folder = root / "small"
            write_workbooks(folder, args.small, seed=7)
            results.append(bench_source(f"small ({args.small:,} lines)", folder, args.small, args.runs,
                                        pg, root, False, False))  # fmt: skip
        for scale in [int(s) for s in args.scales.split(",") if s]:
            folder = root / f"synth-{scale}x"
            write_workbooks(folder, REAL_LINES * scale, seed=7)
            results.append(bench_source(f"synthetic {scale}×", folder, REAL_LINES * scale,
                                        args.synthetic_runs, pg, root, False, False))  # fmt: skip
        if args.incremental:
            results.append(bench_incremental(args.incremental, args.runs, pg, root))
    finally:
        pg.server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    table = markdown(results, command)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.json").write_text(json.dumps(results, indent=2))
    (args.out / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
