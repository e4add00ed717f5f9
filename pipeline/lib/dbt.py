"""Run dbt in-process with the pipeline's paths, keep its parse cache, and turn a failure into a
readable error.

Parse cache. Before it runs anything, dbt parses the project (seconds: most of it the adapter's 500
macros; README, "dbt's parse cache"). It skips that when it finds the ``partial_parse.msgpack`` of an
earlier parse made with the same dbt version, ``--vars``, profile connection values and env vars of
``dbt_project.yml``. The pipeline keeps that file beside the project, in ``<project>/target/`` (dbt's
own default place, ignored by git), not in the data directory: it holds only what dbt derived from the
project's code, so a run into an empty data directory reuses it too. For the profile to be equal in
every data directory, dbt runs in its work directory and the pipeline names paths relative to it, and
per-run values reach dbt as env vars that the models read only when dbt executes (a value read while
parsing makes dbt re-parse the file whenever it changes: dbt/warehouse/macros/change_set.sql, run_env),
never as ``--vars``. The lake files are named relative to the work directory too, so converting the same
workbooks into a new data directory re-parses nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import hashlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.lib.signals import send_again

PARSE_CACHE = Path("target") / "partial_parse.msgpack"


class DbtBuildError(RuntimeError):
    pass


# dbt's own telemetry stays off: nothing may reach the network at run time.
_DBT_ENV = {"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}


def run_dbt(
    args: list[str],
    *,
    project_dir: Path,
    work_dir: Path,
    env: dict[str, str] | None = None,
    write_json: bool = True,
    target_dir: Path | None = None,
) -> Any:
    """Run ``dbt <args>`` on ``project_dir`` inside ``work_dir`` (target, logs and relative paths), in
    this process; ``target_dir`` puts dbt's target/ elsewhere (its artifacts and parse).

    In-process, there is no second Python to start, and dbt's import is paid once per task process
    (docs/speed.md). dbt keeps global state, so invocations take turns (a lock), and the environment
    variables and working directory it needs are set for the invocation and restored after it. Its
    console output is collected, not printed; the tail is in the error.

    With ``write_json`` False, dbt writes none of its JSON artifacts (``--no-write-json``): it
    serialises its whole manifest twice per invocation, once before the first node runs, and that
    alone was about a sixth of a 1,000-line build. The pipeline writes the two that are read instead:
    ``target/run_results.json`` from the invocation's result, and ``target/manifest.json`` from the
    parse the invocation used, serialised once per parse (``_write_manifest_of``).

    When the process this one was forked from parsed the project for it (``parse_after_next_fork``),
    dbt starts from that parse instead of parsing again (``_handed_parse``), and that parse's manifest
    becomes ``target/manifest.json`` once dbt succeeded.
    Returns dbt's result (a parse: the manifest); raises DbtBuildError when dbt fails.
    """
    from dbt.artifacts.schemas.run import RunExecutionResult
    from dbt.cli.main import dbtRunner

    work_dir.mkdir(parents=True, exist_ok=True)
    work_dir, project_dir = work_dir.resolve(), project_dir.resolve()
    target = (target_dir or work_dir / "target").resolve()
    command = [
        *args,
        "--project-dir", str(project_dir),
        "--profiles-dir", str(project_dir),
        "--target-path", str(target),
        "--log-path", str(work_dir / "logs"),
        # The console log is collected from dbt's events below; dbt.log keeps everything.
        "--log-level", "none",
        "--log-level-file", "debug",
    ]  # fmt: skip
    cache, parsed = project_dir / PARSE_CACHE, target / PARSE_CACHE.name
    given = parsed.with_name("partial_parse.given.msgpack")
    handed, handed_json = _handed_parse(project_dir, work_dir, target, args, env or {})
    if handed is None:
        # dbt starts from a private copy of the project's cache: another process may replace the
        # cache while this one runs, and the manifest written below must be of the parse dbt used.
        given.unlink(missing_ok=True)
        with contextlib.suppress(FileNotFoundError):
            given.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cache, given)
            command += ["--partial-parse-file-path", str(given)]
    if not write_json:
        command += ["--no-write-json"]
    # What the pipeline reads after dbt (count_results, rows_of_failing_tests) must be this
    # invocation's: dbt writes no run_results.json when it fails before running anything.
    (target / "run_results.json").unlink(missing_ok=True)
    # dbt writes its parse to target/ only when it parsed: a changed file there is this invocation's.
    parsed_before = _stat(parsed)
    console: deque[str] = deque(maxlen=60)

    def collect(event) -> None:
        if event.info.level in ("info", "warn", "error") and event.info.msg:
            console.append(str(event.info.msg))

    with (
        _unless_taken(handed_json),
        _INVOCATION,
        _process_state(work_dir, {**_DBT_ENV, **(env or {})}),
        _collector_paused(),
    ):
        try:
            result = dbtRunner(manifest=handed, callbacks=[collect]).invoke(command)
        finally:
            _release_connections()
        if not write_json and isinstance(result.result, RunExecutionResult):
            result.result.write(str(target / "run_results.json"))
        if result.success and handed_json is not None:
            os.replace(handed_json, target / "manifest.json")
    if isinstance(result.exception, KeyboardInterrupt):
        raise result.exception  # dbt reports Ctrl-C as a failure; it stops the run instead
    if not result.success:
        cause = f"\n{result.exception}" if result.exception else ""
        raise DbtBuildError(
            f"`dbt {' '.join(args)}` in {project_dir} failed.\n"
            + "\n".join(console)
            + cause
            + f"\nFull log: {work_dir / 'logs' / 'dbt.log'}"
        )
    if handed is not None:
        return result.result
    # The parse dbt used: its own when it parsed, else the copy it was given, else the one an earlier
    # invocation left in the target directory (dbt's default place), which the project may not have yet.
    used = parsed if _stat(parsed) != parsed_before or not given.exists() else given
    if used == parsed and parsed.exists():
        _keep_parse_cache(parsed, cache)
    if not write_json:
        with _INVOCATION:  # dbt's serialiser reports through its global event manager
            _write_manifest_of(used, keep_in=cache.parent, target=target)
    return result.result


_INVOCATION = threading.Lock()

# What a dbt invocation imports: the CLI, the build task's modules and the two adapters.
_DBT_MODULES = ("dbt.cli.main", "dbt.task.build", "dbt.adapters.duckdb", "dbt.adapters.postgres")
_preparer: int | None = None  # the pid of the process that prepares dbt after its next fork
_import_tried = False


@dataclass(frozen=True)
class ParseRequest:
    """What a later ``run_dbt`` of ``project_dir`` will be given, as far as dbt's parse depends on it:
    the work directory, ``--target`` (None: the profile's default) and ``env``, every env var that the
    pipeline passes and that the project reads while parsing (its profile, dbt_project.yml, a model
    whose SQL is chosen by one)."""

    project_dir: Path
    work_dir: Path
    target: str | None
    env: dict[str, str]


# The parses planned for the tasks still to be forked, by name, and those made, by project directory:
# the request, the project's fingerprint then, the manifest and its JSON file.
_planned: dict[str, ParseRequest | None] = {}
_parses: dict[Path, tuple[ParseRequest, str, Any, Path]] = {}


def parse_after_next_fork(name: str, request: ParseRequest) -> None:
    """Right after this process forks its next process, import dbt in it once, and parse the project
    as ``request`` describes (``name``: which one; each is parsed once), for the tasks it forks later.

    With more than one worker (luigi.cfg), Luigi forks a process for every task, and each dbt task
    paid for dbt in a process of its own: its import (about 1.2 s), its parse of the project (0.4 s
    from the parse cache, seconds without) and the first invocation's setup that dbt does once per
    process. A forked process inherits what its parent holds. So when Luigi schedules a dbt task that
    is not done, after a task that is not done either (pipeline/tasks.py), its scheduling process
    imports dbt and parses the projects just after it forks the next task, usually a conversion, which
    runs on the other core meanwhile; a dbt task forked after that starts with dbt imported and its
    project parsed (``run_dbt`` checks that the parse is still the one it would make). Not before the
    fork: the first task would wait for it. A task that Luigi would fork meanwhile waits, once per run.
    A no-op run schedules no dbt task and imports nothing; forked task processes never prepare on their
    parent's behalf; with one worker, tasks run in this process, and each dbt task parses as before
    (but for the publish and the verification, which Luigi forks for their time limit: the first of
    them still makes this process parse, and the warehouse's parse then serves nothing).
    """
    global _preparer
    if name in _planned:
        return
    _planned[name] = request
    if _preparer is None:
        _preparer = os.getpid()
        os.register_at_fork(after_in_parent=_prepare_dbt)


def parse_planned(name: str) -> bool:
    """True once this process (or the process it was forked from) planned the parse ``name``."""
    return name in _planned


def _prepare_dbt() -> None:
    # Not in a forked process, and not while this process runs dbt (its invocation lock is not
    # reentrant): the dbt tasks parse for themselves then.
    if os.getpid() != _preparer or _INVOCATION.locked():
        return
    try:
        _import_and_parse()
    except KeyboardInterrupt as stop:
        # Nothing raised in a fork hook leaves it (Python prints it and goes on): Ctrl-C or SIGTERM is
        # sent again, to arrive once the hook has returned, where Luigi's loop stops the run.
        send_again(stop)


def _import_and_parse() -> None:
    global _import_tried
    requests = [request for request in _planned.values() if request is not None]
    if _import_tried and not requests:
        return
    # What dbt's import and the parses allocate lives as long as the process, so the collector's passes
    # over it meanwhile find nothing to free (about a tenth of the import's time); it is frozen after.
    collecting = gc.isenabled()
    gc.disable()
    try:
        if not _import_tried:
            _import_tried = True
            try:
                for module in _DBT_MODULES:
                    importlib.import_module(module)
            except Exception:
                # Nothing can report it from a fork hook; the dbt task imports dbt again and fails.
                return
        _planned.update(dict.fromkeys(_planned))  # each planned parse is made once, now
        for request in requests:
            _make_parse(request)
    finally:
        # dbt's objects and the parses, out of the collector's sight: no later collection in a forked
        # task copies their pages, and this process's exit does not walk them.
        gc.freeze()
        if collecting:
            gc.enable()


def _make_parse(request: ParseRequest) -> None:
    """``dbt parse`` as ``request`` says, kept for ``_handed_parse``. It keeps the project's parse cache
    as any parse does, but writes its artifacts to a target directory of its own (``_private_target``):
    a dbt task of another worker may run in the work directory meanwhile, and the work directory's
    ``manifest.json`` stays the last build's until a build from this parse succeeded. Its log goes to
    the work directory's dbt.log. Whatever fails here (the project, the settings) is left to the dbt
    task, which parses itself and reports it."""
    try:
        from pipeline.lib.warehouse import dbt_project_fingerprint

        fingerprint = dbt_project_fingerprint(request.project_dir)
        target_dir = _private_target(request.work_dir)
        manifest = run_dbt(
            ["parse", *(["--target", request.target] if request.target else [])],
            project_dir=request.project_dir,
            work_dir=request.work_dir,
            env=request.env,
            write_json=False,
            target_dir=target_dir,
        )
    except Exception:
        return
    _parses[request.project_dir.resolve()] = (request, fingerprint, manifest, target_dir / "manifest.json")


def _private_target(work_dir: Path) -> Path:
    """A new directory ``<work dir>/target/parsed-<pid>-<random>``, removed when this process ends;
    those of processes that are gone (killed before they could remove theirs) are removed first. A
    process that this one cannot see (another container on the same volume) counts as gone: a task
    that finds its parse removed parses itself."""
    parent = work_dir / "target"
    parent.mkdir(parents=True, exist_ok=True)
    for left in parent.glob("parsed-*-*"):
        pid = left.name.split("-")[1]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    made = Path(tempfile.mkdtemp(prefix=f"parsed-{os.getpid()}-", dir=parent))
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return made


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# The options of an invocation that do not change what dbt parses; with any other but --target, whose
# value must be the parse's, dbt parses itself. Each takes one value.
_PARSE_NEUTRAL_OPTIONS = ("--threads", "--exclude-resource-type", "--select")


def _options(args: list[str]) -> dict[str, str] | None:
    """The options after the command in ``args`` by name, or None unless they all are ``--name value``
    pairs (a flag, ``--name=value`` or ``-t value`` is not)."""
    pairs = args[1:]
    names, values = pairs[::2], pairs[1::2]
    if len(pairs) % 2 or not all(n.startswith("--") and "=" not in n for n in names):
        return None
    if any(value.startswith("-") for value in values):
        return None
    return dict(zip(names, values, strict=True))


def _handed_parse(
    project_dir: Path, work_dir: Path, target: Path, args: list[str], env: dict[str, str]
) -> tuple[Any, Path] | tuple[None, None]:
    """The parse of ``project_dir`` made for this invocation by the process this one was forked from,
    and its manifest's JSON file, linked into ``target`` (the process that parsed may remove its own
    copy any time), if it is the parse dbt would make now; else Nones, and dbt loads or makes its parse
    itself. Taken once: an invocation may change the manifest it was given.

    It is, when the invocation runs in the same work directory with the same ``--target`` and no other
    option that may change a parse, the project's files are as they were, every env var the parse was
    given has the same value, and so does every env var that a model, macro or .yml file read while
    parsing (dbt records them in the manifest; a per-run value read there, e.g. the build mode, would
    make dbt re-parse that file). What profiles.yml and dbt_project.yml read dbt does not record: the
    request's env holds those values (tests/unit/test_dbt_project_rules.py).
    """
    parse = _parses.pop(project_dir, None)
    if parse is None:
        return None, None
    from dbt.constants import DEFAULT_ENV_PLACEHOLDER

    from pipeline.lib.warehouse import dbt_project_fingerprint

    request, fingerprint, manifest, manifest_json = parse
    now = {**os.environ, **_DBT_ENV, **env}
    changed = [name for name, value in request.env.items() if now.get(name) != value] + [
        name for name, value in manifest.env_vars.items() if now.get(name, DEFAULT_ENV_PLACEHOLDER) != value
    ]
    options = _options(args)
    if options is None or set(options) - {*_PARSE_NEUTRAL_OPTIONS, "--target"}:
        changed.append(f"the options ({' '.join(args[1:])})")
    elif options.get("--target") != request.target:
        changed.append("--target")
    if request.work_dir.resolve() != work_dir:
        changed.append("the work directory")
    if dbt_project_fingerprint(project_dir) != fingerprint:
        changed.append("the project's files")
    if not changed:
        taken = target / f".manifest.handed-{uuid.uuid4().hex[:8]}.json"
        try:
            target.mkdir(parents=True, exist_ok=True)
            os.link(manifest_json, taken)
        except FileNotFoundError:
            changed.append("the parse's files")  # removed (its process ended, or swept as gone)
        except OSError as err:
            print(
                f"dbt parses {project_dir} itself: cannot link its parse into {target}: {err}",
                file=sys.stderr,
            )
            return None, None
        else:
            return manifest, taken
    what = ", ".join(dict.fromkeys(changed))
    print(f"dbt parses {project_dir} itself: {what} changed since the run parsed it", file=sys.stderr)
    return None, None


@contextmanager
def _unless_taken(path: Path | None) -> Iterator[None]:
    """Remove ``path`` after the block unless the block moved it elsewhere."""
    try:
        yield
    finally:
        if path is not None:
            path.unlink(missing_ok=True)


@contextmanager
def _process_state(cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """``cwd`` and ``env`` for the length of one dbt invocation; the process's own come back after it."""
    saved_cwd, saved_env = os.getcwd(), {k: os.environ.get(k) for k in env}
    os.chdir(cwd)
    os.environ.update(env)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for one invocation. dbt allocates millions of small
    objects (its manifest, nodes, Jinja ASTs), and the collector's full passes over them took a tenth
    of a build on the 1,000-line workbook (3.9-4.2 s against 3.4-3.9 s, docs/speed.md). What the
    invocation leaves behind (about 80 MB) is collected once the collector is back on, in the passes
    that walk everything it allocated (0.18 s after a build). Except in a task process that Luigi
    forked for this task (more than one worker): it runs one task and ends through ``os._exit``,
    which frees everything at once, so the invocation's objects are frozen there, out of the
    collector's sight (``process_ends_with_its_task``). Any other process, which may live on and
    invoke dbt again, collects them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if _ends_with_its_task:
                gc.freeze()
            gc.enable()


_ends_with_its_task = False


def process_ends_with_its_task() -> None:
    """Say that this process runs one task and then ends through ``os._exit`` (the task layer says so
    in the process that Luigi's worker forks for each task): what dbt leaves is frozen, not collected."""
    global _ends_with_its_task
    _ends_with_its_task = True


def _release_connections() -> None:
    """Let go of every database handle the invocation opened, so the DuckDB file it built can be read,
    renamed or opened by another process at once (dbt-duckdb keeps its environment in a class)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_mtime_ns, found.st_size


def _write_manifest_of(parse: Path, *, keep_in: Path, target: Path) -> None:
    """Write ``target/manifest.json``, the manifest of the parse in ``parse`` (a
    partial_parse.msgpack). It is serialised once per parse (dbt parses again when the project, the
    target or an env var it reads while parsing changes) and kept in ``keep_in``, beside the project's
    parse cache, under the parse's digest (``manifest-<digest>.json``): every data directory that
    starts from that cache copies it. Where it cannot be kept or is gone (another process kept a newer
    one and removed it), it is serialised here. What the pipeline reads in it (specs.py) is what dbt's
    parse decides."""
    if not parse.exists():
        raise DbtBuildError(f"dbt left no parse of the project at {parse} to take its manifest from.")
    data = parse.read_bytes()
    kept = keep_in / f"manifest-{hashlib.sha256(data).hexdigest()[:16]}.json"
    manifest = target / "manifest.json"
    with contextlib.suppress(FileNotFoundError):
        _copy_whole(kept, manifest)
        return
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    tmp = manifest.with_name(f".{manifest.name}.{uuid.uuid4().hex[:8]}")
    Manifest.from_msgpack(data, decoder=extended_mashumuro_decoder).write(str(tmp))
    os.replace(tmp, manifest)
    try:
        _copy_whole(manifest, kept)
        for stale in keep_in.glob("manifest-*.json"):
            if stale != kept:
                stale.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only checkout: serialised again by the next build


def _copy_whole(source: Path, target: Path) -> None:
    """Copy ``source`` over ``target`` so that a reader sees the old file or the new one, never a part."""
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _keep_parse_cache(parsed: Path, cache: Path) -> None:
    """Copy this run's parse result over the project's cache; a read-only checkout just goes without."""
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        _copy_whole(parsed, cache)


def sql_list(paths: list[str], relative_to: Path) -> str:
    """A DuckDB list literal of the files' paths relative to dbt's work directory, e.g.
    ``['../../lake/_rejects/a.parquet']``: the same in every data directory, so dbt's parse cache
    still holds when a fresh data directory converts the same workbooks. ``s3://`` URLs stay as they are."""
    base = relative_to.resolve()

    def named(p: str) -> str:
        return p if p.startswith("s3://") else os.path.relpath(Path(p).resolve(), base)

    quoted = ("'" + named(p).replace("'", "''") + "'" for p in sorted(paths))
    return "[" + ", ".join(quoted) + "]"


def count_results(work_dir: Path) -> dict[str, int]:
    """dbt's results of the last run in ``work_dir`` by kind and status, e.g. ``{"test_pass": 62}``."""
    try:
        results = json.loads((work_dir / "target" / "run_results.json").read_text())["results"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return {}
    counts: dict[str, int] = {}
    for item in results:
        key = f"{item['unique_id'].split('.')[0]}_{item['status']}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def rows_of_failing_tests(
    work_dir: Path, database: Path, lake_location: str = "", limit: int = 20
) -> list[dict]:
    """The rows behind each warning or failing data test of the last run in ``work_dir``.

    dbt's own message is only "Got N results". Each such test's compiled query (run_results.json) runs
    again here, read-only, on ``database``, the DuckDB file that dbt built: read it before that file is
    renamed or removed. It runs in dbt's work directory, to which the staging views' lake paths are
    relative, and with the S3 secret when the lake (``lake_location``) is on S3. dbt could store the
    rows itself (``store_failures``), but that writes a table per test in every build, passing or not
    (docs/speed.md); only a test whose model lived in memory for the build alone stores them (its
    ``relation_name``), and they are read from there. Each item: test name, status, number of rows,
    column names and up to ``limit`` rows as text.
    """
    import duckdb

    from pipeline.lib.storage import create_duckdb_secret

    try:
        results = json.loads((work_dir / "target" / "run_results.json").read_text())["results"]
    except (FileNotFoundError, KeyError, json.JSONDecodeError):
        return []
    found = [r for r in results if r["unique_id"].startswith("test.") and r["status"] in ("warn", "fail")]
    if not found or not database.exists():
        return []
    tests = [
        {"test": r["unique_id"].split(".")[2], "status": r["status"], "failures": r.get("failures"),
         "columns": [], "rows": []}
        for r in found
    ]  # fmt: skip
    try:
        with duckdb.connect(str(database.resolve()), read_only=True) as con, _process_state(work_dir, {}):
            if lake_location:
                create_duckdb_secret(con, str(lake_location))
            for item, result in zip(tests, found, strict=True):
                try:
                    # On a line of its own: the compiled query may end in a comment.
                    found_by = result.get("relation_name") or f"(\n{result['compiled_code']}\n)"
                    query = f"select * from {found_by} as found limit {int(limit)}"
                    cursor = con.execute(query)
                    item["columns"] = [d[0] for d in cursor.description]
                    item["rows"] = [[_text(v) for v in row] for row in cursor.fetchall()]
                except (duckdb.Error, KeyError, TypeError) as err:
                    item["error"] = str(err).splitlines()[0]
    except Exception as err:
        # The rows only explain dbt's verdict: whatever keeps them from being read (the file, the S3
        # credentials) must neither hide dbt's own error nor fail a build that passed with warnings.
        reason = f"{type(err).__name__}: {(str(err).splitlines() or [''])[0]}"
        for item in tests:
            if not item["rows"]:
                item.setdefault("error", reason)
    return tests


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


def format_test_rows(tests: list[dict]) -> str:
    """Readable lines for ``rows_of_failing_tests``: each test, then one line per row as column=value.
    Failures come first, then warnings, each by name (dbt's threads finish them in any order), with a
    blank line between tests."""
    lines = []
    for test in sorted(tests, key=lambda t: (t["status"] != "fail", t["test"])):
        if lines:
            lines.append("")
        lines.append(f"dbt test {test['test']} ({test['status']}, {test['failures']} rows):")
        for row in test["rows"]:
            lines.append("    " + ", ".join(f"{c}={v}" for c, v in zip(test["columns"], row, strict=True)))
        if test.get("failures") and test["failures"] > len(test["rows"]):
            lines.append(f"    ... {test['failures'] - len(test['rows'])} more rows")
        if test.get("error"):
            lines.append(f"    (its rows could not be read: {test['error']})")
    return "\n".join(lines)
