"""Several machines, simulated honestly: one central scheduler (``luigid`` on 127.0.0.1, its state in
the test's folder), one S3-compatible server (tests/s3_server.py), one PostgreSQL, and two worker
processes with working and data directories of their own. The landing folder is on the store too, so
nothing local is shared. Every conversion runs once, on one of them; the figures equal a local run."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from support import (
    LUIGID,
    REPO,
    SHARED_DATA,
    Pipeline,
    free_port,
    kill,
    new_database,
    pipeline_env,
    published_figures,
    read_marker,
    start,
    wait_until,
    write_landing_months,
)

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MONTHS = ["2011-01", "2011-02", "2011-03", "2011-04", "2011-05", "2011-06"]
# The central scheduler's settings are the repository's luigid.cfg, with a lost worker given up after 5 s
# instead of 30 (README, "Several workers").
WORKER_DISCONNECT_DELAY = 5
DISABLE_PERSIST = int(
    re.search(r"^disable_persist = (\d+)$", (REPO / "luigid.cfg").read_text(), re.M).group(1)
)
DONE_CONVERSION = re.compile(r"^done     ConvertWorkbookToParquet\(workbook=(\S+)\)", re.M)


def ended_well(proc, output: str) -> None:
    """A worker ends when none of its tasks is left pending. A task of its graph that the other worker
    ran (or was running when it started) ends it with Luigi's codes for that, not 0: already_running
    (10) or not_run (25, "not granted run permission"), luigi.cfg [retcode]. Nothing failed."""
    assert proc.returncode in (0, 10, 25), output[-4000:]
    summary = output.split("===== Luigi Execution Summary =====")[-2]
    assert not re.search(r"^\* \d+ failed", summary, re.M), output[-4000:]


@pytest.fixture
def landing(tmp_path):
    if not (SHARED_DATA / "online_retail.parquet").exists():
        pytest.skip(f"the Online Retail data is not on this machine (looked in {SHARED_DATA})")
    return write_landing_months(tmp_path / "landing", MONTHS, rows_per_month=800)


@pytest.fixture
def luigid(tmp_path):
    """A central scheduler on a free port of 127.0.0.1; its state and logs in the test's folder."""
    port = free_port()
    home = tmp_path / "luigid"
    (home / "logs").mkdir(parents=True)
    cfg = (REPO / "luigid.cfg").read_text()
    cfg, found = re.subn(
        r"^worker_disconnect_delay = .*$",
        f"worker_disconnect_delay = {WORKER_DISCONNECT_DELAY}",
        cfg,
        flags=re.M,
    )
    assert found == 1, "luigid.cfg has no single 'worker_disconnect_delay = ' line"
    (home / "luigid.cfg").write_text(cfg)
    env = pipeline_env(home / "unused", LUIGI_CONFIG_PATH=str(home / "luigid.cfg"))
    command = [LUIGID, "--address", "127.0.0.1", "--port", str(port),
               "--state-path", str(home / "state.pickle"), "--logdir", str(home / "logs")]  # fmt: skip
    proc = start(command, env=env, cwd=home)

    def answers():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/api/task_list", timeout=1)
        except OSError:
            return None

    try:
        wait_until(answers, 30, "luigid answering", proc)
        yield port
    finally:
        kill(proc)


@pytest.fixture
def reference(tmp_path, landing, pg_server):
    """The figures of a local run (local lake, local scheduler) of the same landing folder."""
    dsn = new_database(pg_server, "t_workers_local")
    done = Pipeline(tmp_path, pipeline_env(tmp_path / "local-data", PIPELINE_PG_DSN=dsn))(
        "--source", str(landing[0].parent)
    )
    assert done.returncode == 0, done.output
    return published_figures(dsn)


def workers(tmp_path, s3_server, bucket, dsn, names):
    """One Pipeline per worker: its own working and data directory, the shared store, PostgreSQL."""
    found = {}
    for name in names:
        home = tmp_path / name
        home.mkdir()
        env = pipeline_env(home / "data", PIPELINE_PG_DSN=dsn, PIPELINE_LAKE_URL=f"s3://{bucket}/lake")
        found[name] = Pipeline(home, env | s3_server.env())
    return found


def on_store(s3_server, bucket, books) -> str:
    client = s3_server.client()
    for book in books:
        client.upload_file(str(book), bucket, f"landing/{book.name}")
    return f"s3://{bucket}/landing"


def run_worker(pipeline, source, port, *extra, env=None):
    args = (
        "--source",
        source,
        "--scheduler-host",
        "127.0.0.1",
        "--scheduler-port",
        str(port),
        "--workers",
        "1",
    )
    return start(
        pipeline.command(*args, *extra, local_scheduler=False),
        env=pipeline.env | (env or {}),
        cwd=pipeline.cwd,
    )


def test_two_workers_share_the_conversions_and_give_the_local_figures(
    tmp_path, landing, reference, s3_server, s3_bucket, pg_server, luigid
):
    dsn = new_database(pg_server, "t_two_workers")
    source = on_store(s3_server, s3_bucket, landing)
    pair = workers(tmp_path, s3_server, s3_bucket, dsn, ["worker-a", "worker-b"])

    started = time.monotonic()
    procs = {name: run_worker(p, source, luigid) for name, p in pair.items()}
    outputs = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}
    took = time.monotonic() - started
    print(f"\ntwo workers: {len(MONTHS)} exports converted, built and published in {took:.1f} s")

    for name, proc in procs.items():
        ended_well(proc, outputs[name])
    # Each task once: the whole run (RunAll) ended on exactly one of them.
    assert sum(bool(re.search(r"^done     RunAll\(", out, re.M)) for out in outputs.values()) == 1, outputs
    ran = {name: DONE_CONVERSION.findall(out) for name, out in outputs.items()}
    everything = sorted(w for found in ran.values() for w in found)
    assert everything == sorted(f"{source}/{m}.xlsx" for m in MONTHS), ran  # each exactly once
    assert all(ran.values()), f"one worker converted nothing: {ran}"
    assert published_figures(dsn) == reference
    assert s3_server.secret not in "".join(outputs.values())
    # The scheduler's view: each conversion done.
    query = urllib.parse.quote(json.dumps({"status": "DONE"}))
    done = json.load(urllib.request.urlopen(f"http://127.0.0.1:{luigid}/api/task_list?data={query}"))[
        "response"
    ]
    assert sorted(
        t["params"]["workbook"] for t in done.values() if t["name"] == "ConvertWorkbookToParquet"
    ) == sorted(f"{source}/{m}.xlsx" for m in MONTHS)
    # The run is complete for every worker: the next one, on either, has nothing to do.
    again = run_worker(pair["worker-a"], source, luigid)
    output = again.communicate(timeout=300)[0]
    assert again.returncode == 0 and "nothing to do" in output, output[-4000:]


def test_a_worker_killed_mid_conversion_leaves_nothing_partial_counted(
    tmp_path, landing, reference, s3_server, s3_bucket, pg_server, luigid
):
    dsn = new_database(pg_server, "t_killed_worker")
    source = on_store(s3_server, s3_bucket, landing)
    pair = workers(tmp_path, s3_server, s3_bucket, dsn, ["doomed", "survivor"])
    marker = tmp_path / "paused.json"
    pause = {"PIPELINE_FAULT_PAUSE": "lake_month_1", "PIPELINE_FAULT_MARKER": str(marker)}

    doomed = run_worker(pair["doomed"], source, luigid, env=pause)
    try:
        wait_until(marker.exists, 180, "the doomed worker writing its first lake file", doomed)
        survivor = run_worker(pair["survivor"], source, luigid)
        # Held with one month file of its export on the store and no manifest: partial, not counted.
        lines = s3_server.keys(s3_bucket, "lake/invoice_lines/")
        assert lines, read_marker(marker)
    finally:
        kill(doomed)
    manifests_then = set(s3_server.keys(s3_bucket, "lake/_manifests/"))

    output = survivor.communicate(timeout=600)[0]
    ended_well(survivor, output)
    converted = DONE_CONVERSION.findall(output)
    if survivor.returncode != 0:
        # The survivor ended while the killed worker's conversion was disabled (luigid.cfg
        # disable_persist): the next run, once it is enabled again, completes the work.
        time.sleep(DISABLE_PERSIST + 1)
        rerun = run_worker(pair["survivor"], source, luigid)
        output = rerun.communicate(timeout=600)[0]
        assert rerun.returncode == 0, output[-4000:]
        converted += DONE_CONVERSION.findall(output)
    # The killed worker's export was converted again, whole, by the other worker; each export once.
    killed = read_marker(marker)["export"]
    assert sorted(converted) == sorted(f"{source}/{m}.xlsx" for m in MONTHS), converted
    assert killed.replace("_", "-") in MONTHS
    assert published_figures(dsn) == reference
    # Every object of the lake is one that a manifest lists: the killed worker's month object was
    # overwritten by the new conversion, nothing partial is left or counted.
    manifests = set(s3_server.keys(s3_bucket, "lake/_manifests/"))
    assert len(manifests) == len(MONTHS) and len(manifests_then) < len(MONTHS)
    stored = s3_server.keys(s3_bucket, "lake/")
    lake_files = {k for k in stored if k.startswith(("lake/invoice_lines/", "lake/_rejects/"))}
    listed = set()
    client = s3_server.client()
    for key in manifests:
        body = json.loads(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
        listed |= {f"lake/{rel}" for rel in body["files"]}
    assert lake_files == listed
