"""The benchmark harness measures what it claims: wall time, CPU time and the peak RSS of a process
tree."""

from __future__ import annotations

import os
import sys

import psutil
import pytest

from benchmarks.__main__ import Postgres, markdown, measure, parse_args, targets

ALLOCATE = (
    "import time; block = bytearray(300 * 1024 * 1024); "
    "block[::4096] = b'x' * len(block[::4096]); time.sleep(0.5)"
)


def test_measure_sees_a_childs_memory(tmp_path):
    # The measured process starts a child that holds 300 MB: the tree's peak must include it.
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {ALLOCATE!r}], check=True)"

    run = measure([sys.executable, "-c", parent], dict(os.environ), tmp_path)

    assert run.returncode == 0
    assert run.seconds >= 0.5
    assert run.peak_rss > 300 * 1024 * 1024


def test_measure_counts_the_cpu_of_a_childs_child_not_its_sleep(tmp_path):
    # A grandchild spins for 0.6 s of CPU, then the child sleeps 0.6 s: the CPU time must hold the
    # grandchild's work (Luigi's task processes are grandchildren) and not the sleep.
    spin = "import time; end = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    parent = (
        f"import subprocess, sys, time; subprocess.run([sys.executable, '-c', {spin!r}], check=True); "
        "time.sleep(0.6)"
    )

    run = measure([sys.executable, "-c", parent], dict(os.environ), tmp_path)
    after = measure([sys.executable, "-c", "pass"], dict(os.environ), tmp_path)

    assert run.returncode == 0
    assert run.seconds >= 1.2
    assert 0.6 <= run.cpu_seconds < run.seconds - 0.5
    assert after.cpu_seconds < 0.5  # each measure counts its own command only


def test_markdown_table_carries_every_figure():
    result = {
        "label": "real workbook", "lines": 541_909, "floor_seconds": 3.1, "end_to_end_seconds": 31.0,
        "end_to_end_over_floor": 10.0, "end_to_end_peak_rss_mb": 900, "noop_seconds": 0.6,
        "end_to_end_cpu_seconds": 40.5, "end_to_end_postgres_cpu_seconds": 9.5, "cores": 2,
        "least_seconds": 25.0, "least_over_floor": 8.06,
        "baseline_seconds": 120.0, "baseline_over_pipeline": 3.87, "first_run_seconds": 38.2,
        "stages": {"convert": {"seconds": 4.0, "rows_per_second": 135_477, "peak_rss_mb": 700}},
    }  # fmt: skip

    table = markdown([result], "python -m benchmarks --runs 3")

    row = "| real workbook | 541,909 | 3.1 s | 31.0 s | 10.0× | 40.5 s + 9.5 s | 900 MB | 0.6 s | 120.0 s |"
    assert row + " 3.87× |" in table
    assert "no run of this work could end before 25.0 s (their sum ÷ cores), 8.06× the floor" in table
    assert "| real workbook | convert | 4.0 | 135,477 | 700 MB |" in table
    assert "`python -m benchmarks --runs 3`" in table
    assert "parses both projects in full: 38.2 s" in table


def test_a_relative_source_is_resolved_before_runs_change_directory(tmp_path, monkeypatch):
    # Each run starts in a data directory of its own, where ../shared/... would name nothing.
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "book.xlsx").write_bytes(b"PK")
    monkeypatch.chdir(tmp_path / "in")

    args = parse_args(["--source", "../in/book.xlsx"])

    assert args.source == tmp_path / "in" / "book.xlsx"
    assert args.source.is_absolute()


def test_targets_are_checked_against_the_figures():
    real = {
        "label": "real workbook",
        "end_to_end_seconds": 10.0,
        "end_to_end_over_floor": 2.4,
        "baseline_over_pipeline": 8.0,
        "noop_seconds": 0.4,
        "end_to_end_peak_rss_mb": 600,
    }
    ten = {"label": "synthetic 10×", "end_to_end_seconds": 120.0, "end_to_end_peak_rss_mb": 1100}
    small = {"label": "small (1,000 lines)", "lines": 1000, "end_to_end_seconds": 3.5,
             "end_to_end_peak_rss_mb": 300}  # fmt: skip

    checked = {name: (value, met) for name, value, met in targets([real, small, ten])}

    assert checked["cold run ≤ 2.5× the floor"] == ("2.4×", True)
    assert checked["≥ 10× faster than the seed-style baseline"] == ("8.0×", False)
    assert checked["no-op re-run ≤ 0.5 s"] == ("0.4 s", True)
    assert checked["peak RSS ≤ 1.5 GB"] == ("1100 MB", True)
    assert checked["at 10× the data, time ≤ 10×"] == ("12.0×", False)
    assert checked["at 10× the data, memory ≤ 2×"] == ("1.83×", True)
    assert checked["1,000-line workbook end to end ≤ 3 s"] == ("3.5 s", False)
    table_fields = {
        "lines": 1,
        "floor_seconds": 1.0,
        "end_to_end_over_floor": 1.0,
        "noop_seconds": 0.1,
        "stages": {},
    }
    table = markdown([{**table_fields, **r} for r in (real, small, ten)], "python -m benchmarks")
    assert "| at 10× the data, time ≤ 10× | 12.0× | **missed** |" in table
    assert "| cold run ≤ 2.5× the floor | 2.4× | met |" in table
    assert "| 10.0 s | 2.4× | – | 600 MB |" in table  # results from before the CPU was counted


def test_incremental_case_has_its_table_and_its_targets():
    incremental = {
        "label": "incremental: one export into 10× history", "scale": 10, "history_lines": 5_419_090,
        "export_lines": 45_000, "runs": 3, "history_cold_seconds": 70.0, "history_cold_peak_rss_mb": 1200,
        "alone_seconds": 7.0, "added_seconds": 15.0, "added_peak_rss_mb": 800, "removed_seconds": 12.0,
        "noop_seconds": 0.3, "added_over_alone": 2.14,
    }  # fmt: skip

    table = markdown([incremental], "python -m benchmarks --incremental 10")

    assert "| 5,419,090 (10×) | 45,000 | 70.0 s | 7.0 s | 15.0 s | 2.14× | 12.0 s | 0.3 s | 800 MB |" in table
    assert "| an export added to 10× history ≤ 2× the export alone | 2.14× | **missed** |" in table
    assert "| no-op after the export | 0.3 s | met |" in table
    assert "| source | lines |" not in table  # no empty table for cases not run


@pytest.mark.postgres
def test_the_servers_cpu_holds_the_work_of_a_backend_that_has_ended(pg_server):
    # The run's queries run in backends, which end with their connections: their CPU time must count.
    import psycopg

    bench = Postgres(pg_server)
    dsn = bench.fresh_dsn()
    before = bench.cpu_seconds()
    with psycopg.connect(dsn) as conn:
        conn.execute("select sum(i) from generate_series(1, 4000000) as i").fetchone()
        pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        spent = sum(psutil.Process(pid).cpu_times()[:2])

    assert spent > 0.1
    # The backend's work, and little else: the harness's own connections are counted before.
    assert 0.95 * spent <= bench.cpu_seconds() - before <= spent + 0.3
