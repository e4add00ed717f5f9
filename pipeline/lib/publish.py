"""Publish the warehouse marts to PostgreSQL, all or nothing, copying only what changed.

In: the DuckDB warehouse built by dbt, its dbt manifest (columns, keys, descriptions), and a DSN.
Out: in PostgreSQL, schema ``analytics`` with one stable table per mart, carrying its primary key, its
foreign keys to the dimensions, indexes and the dbt docs as comments (what BI tools read to find the
star's joins); a row in ``pipeline_meta.publish_ledger``. Done when the ledger's live row carries this
warehouse version.

Pieces. A table with a calendar key (``specs.PARTITION_COLUMN``) is partitioned by invoice month in
PostgreSQL; each month is a piece. Any other table is one piece. A piece's fingerprint (row count and
the sum of a hash of every row, computed in DuckDB, with the table's shape) is compared with the
fingerprint the ledger records for the LIVE version: only pieces that differ are copied, each into its
own table in schema ``analytics_v<N>``, checked (rows and money against the warehouse), keyed and
indexed there. A publish whose go-live failed leaves the live fingerprints as they were, so the next
run copies what it did not make live. ``full_refresh`` copies every piece.

Go-live is one transaction (``lock_timeout``, retried): tables in one piece are brought to the new rows
in place (upsert, then delete what is gone, after the facts); changed months are swapped into the
partitioned tables (DETACH the old month, ATTACH the new one, whose keys and indexes are built and whose
bounds are a CHECK constraint already, so PostgreSQL only validates its foreign keys). Readers see the
old version or the new one, never a mix; views built on ``analytics.*`` keep working, since the tables
stay. The ledger row records the version's pieces (which table holds each), rows copied per table and
the months touched. The pieces of the previous live version are kept, so it can be restored.

Rows travel through DuckDB's postgres extension (``transfer.py``).

Where each step lives: the shapes, pieces, fingerprints and plan in ``publish_pieces.py``; the copy
into ``analytics_v<N>``, its checks and keys in ``publish_copy.py``; the live tables of ``analytics``
(keys, comments, grants, taking over an earlier layout) in ``publish_layout.py``; the swap of pieces
(go-live and restore) and dropping unused ones in ``publish_swap.py``. This module runs the steps and
keeps the ledger; callers import from it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pipeline.lib.faults import fault_point
from pipeline.lib.postgres import (
    LIVE_SCHEMA,
    META_SCHEMA,
    PostgresUnavailable,
    connect,
    describe_failure,
    release_publish_lock,
    take_publish_lock,
)
from pipeline.lib.publish_copy import (
    _add_piece_keys,
    _check_contract_types,
    _copy_pieces,
    _create_piece_tables,
    _verify_against_warehouse,
)
from pipeline.lib.publish_layout import (
    _analyze_live_tables,
    _comments,
    _create_live_tables,
    _execute_all,
    _grant_read_only,
    _live_table,
    _tables_to_analyze,
    _tables_to_rebuild,
)
from pipeline.lib.publish_pieces import (
    PublishError,
    Shape,
    _fingerprint,
    _LiveVersion,
    _months_touched,
    _pieces_json,
    _plan,
    _relation,
    _shapes,
    _totals,
    _version_schema,
)
from pipeline.lib.publish_swap import _drop_unreferenced, _swap_to
from pipeline.lib.specs import PUBLISHED_FOLDERS, quote_ident, read_table_specs
from pipeline.lib.transfer import WarehouseBridge

LEDGER_DDL = f"""
create schema if not exists {META_SCHEMA};
create table if not exists {META_SCHEMA}.publish_ledger (
    published_version integer primary key,
    warehouse_version text not null,
    run_id text not null,
    source text not null,
    source_sha256 text[] not null,
    status text not null check (status in ('live', 'superseded', 'rolled_back')),
    rows_per_table jsonb not null,
    amounts jsonb not null,
    rejects_by_reason jsonb not null,
    stage_seconds jsonb not null,
    published_at timestamptz not null default now(),
    unknown_values jsonb not null default '[]'
);
-- Ledgers written by an earlier version of the pipeline gain the columns added since.
alter table {META_SCHEMA}.publish_ledger add column if not exists unknown_values jsonb not null default '[]';
alter table {META_SCHEMA}.publish_ledger add column if not exists shapes jsonb;
alter table {META_SCHEMA}.publish_ledger add column if not exists pieces jsonb;
alter table {META_SCHEMA}.publish_ledger add column if not exists rows_copied jsonb not null default '{{}}';
alter table {META_SCHEMA}.publish_ledger
    add column if not exists months_touched jsonb not null default '{{}}';
alter table {META_SCHEMA}.publish_ledger add column if not exists full_refresh boolean not null default false;
-- Ledgers written by an earlier version of the pipeline get the current set of statuses.
alter table {META_SCHEMA}.publish_ledger drop constraint if exists publish_ledger_status_check;
alter table {META_SCHEMA}.publish_ledger add constraint publish_ledger_status_check
    check (status in ('live', 'superseded', 'rolled_back'));
"""


@dataclass(frozen=True)
class PublishRequest:
    """One publish: the warehouse and its dbt manifest, the database, and what the ledger row records."""

    warehouse_path: Path
    manifest_path: Path
    dsn: str
    warehouse_version: str
    run_id: str
    source: str
    source_sha256: list[str]
    rejects_by_reason: dict[str, int]
    stage_seconds: dict[str, float]  # of the stages before the publish, for the ledger
    unknown_values: list[dict] = field(default_factory=list)  # rows of unknown_reference_values
    bi_role: str = ""
    folders: tuple[str, ...] = PUBLISHED_FOLDERS
    lock_timeout_ms: int = 5000
    turn_wait_seconds: float = 1800
    go_live_attempts: int = 8
    max_connections: int = 4
    full_refresh: bool = False  # copy every piece, whatever the live fingerprints say
    copy_threads: int = 2  # pieces copied at once, each over its own connection


@dataclass
class PublishResult:
    published_version: int
    schema: str
    rows: dict[str, int]
    amounts: dict[str, str]
    seconds: dict[str, float]
    skipped: bool = False
    rows_copied: dict[str, int] = field(default_factory=dict)
    months_touched: dict[str, list[str]] = field(default_factory=dict)


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    seconds[stage] = round(time.monotonic() - started, 2)


def publish(request: PublishRequest) -> PublishResult:
    """Copy the pieces that differ from the live version into a new version schema, check them, and
    swap them in in one transaction."""
    specs = read_table_specs(request.manifest_path, request.folders)
    seconds: dict[str, float] = {}
    with (
        _timed(seconds, "total"),
        _lost_connection_is_a_publish_error(request.dsn),
        connect(request.dsn) as conn,
    ):
        # One publisher at a time per database; a second one waits here. The ledger's DDL comes
        # after: "create ... if not exists" run by two sessions at once can collide in the catalog.
        take_publish_lock(conn, request.turn_wait_seconds)
        conn.execute(LEDGER_DDL)
        live = _live_version(conn)
        if (
            live
            and live.pieces is not None
            and live.warehouse_version == request.warehouse_version
            and not request.full_refresh
        ):
            # Nothing to copy: the figures are the live version's, as its ledger row recorded them.
            rows, amounts = conn.execute(
                f"select rows_per_table, amounts from {META_SCHEMA}.publish_ledger "
                "where published_version = %s",
                (live.version,),
            ).fetchone()
            schema = _version_schema(live.version)
            return PublishResult(live.version, schema, rows, amounts, seconds, skipped=True)

        version = conn.execute(
            f"select coalesce(max(published_version), 0) + 1 from {META_SCHEMA}.publish_ledger"
        ).fetchone()[0]
        schema = _version_schema(version)
        with _timed(seconds, "attach"):
            duck = WarehouseBridge(request.warehouse_path, request.dsn, request.max_connections)
        try:
            shapes = _shapes(specs, duck.columns_of, request.warehouse_path)
            rebuild = _tables_to_rebuild(conn, shapes, live)
            with _timed(seconds, "fingerprint"):
                pieces = _fingerprint(duck, shapes)
            _plan(pieces, shapes, live, rebuild, request.full_refresh, schema)
            # A failed or killed earlier attempt at this version leaves its schema behind: start clean.
            conn.execute(f"drop schema if exists {quote_ident(schema)} cascade")
            conn.execute(f"create schema {quote_ident(schema)}")
            copied = [p for p in pieces if p.copied]
            _create_piece_tables(conn, shapes, copied)
            _check_contract_types(conn, specs, shapes, copied)  # a mismatch fails before any copy
            with _timed(seconds, "copy"):
                _copy_pieces(duck, shapes, copied, request.copy_threads)
            with _timed(seconds, "verify"):
                _verify_against_warehouse(conn, shapes, copied)
        finally:
            duck.close()
        rows_copied = {name: sum(p.rows for p in copied if p.table == name) for name in shapes}
        months = _months_touched(shapes, pieces, live, rebuild)
        changed = {p.table for p in copied} | {name for name, m in months.items() if m}
        analyze_after = _tables_to_analyze(
            conn, shapes, _totals(shapes, pieces)[0], {t: rows_copied[t] for t in changed}
        )
        with _timed(seconds, "index"):
            _add_piece_keys(request.dsn, shapes, copied, request.copy_threads)
        fault_point("before_go_live")
        ledger_row = _ledger_row(request, version, shapes, pieces, rows_copied, months, seconds)
        with _timed(seconds, "go_live"):
            seconds["go_live_attempts"] = _go_live(
                conn, specs, shapes, pieces, live, rebuild, request, ledger_row
            )
        with _timed(seconds, "analyze"):
            _analyze_live_tables(conn, analyze_after)
        kept = [_pieces_json(pieces)] + ([live.pieces] if live and live.pieces else [])
        with _timed(seconds, "drop_old"):
            _drop_unreferenced(conn, kept, lock_timeout_ms=request.lock_timeout_ms)
        release_publish_lock(conn)
    rows, amounts = _totals(shapes, pieces)
    return PublishResult(version, schema, rows, amounts, seconds, False, rows_copied, months)


def _live_version(conn) -> _LiveVersion | None:
    row = conn.execute(
        f"select published_version, warehouse_version, shapes, pieces from {META_SCHEMA}.publish_ledger "
        "where status = 'live'"
    ).fetchone()
    if not row:
        return None
    shapes = {name: Shape.from_json(s) for name, s in row[2].items()} if row[2] is not None else None
    return _LiveVersion(row[0], row[1], shapes, row[3] if shapes is not None else None)


def _ledger_row(request, version, shapes, pieces, rows_copied, months, seconds) -> dict:
    rows, amounts = _totals(shapes, pieces)
    return {
        "version": version,
        "warehouse_version": request.warehouse_version,
        "run_id": request.run_id,
        "source": request.source,
        "source_sha256": request.source_sha256,
        "rows_per_table": json.dumps(rows),
        "amounts": json.dumps(amounts),
        "rejects_by_reason": json.dumps(request.rejects_by_reason),
        "stage_seconds": json.dumps({**request.stage_seconds, **seconds}),
        "unknown_values": json.dumps(request.unknown_values),
        "shapes": json.dumps({name: asdict(shape) for name, shape in shapes.items()}),
        "pieces": json.dumps(_pieces_json(pieces)),
        "rows_copied": json.dumps(rows_copied),
        "months_touched": json.dumps(months),
        "full_refresh": request.full_refresh,
    }


@contextmanager
def _lost_connection_is_a_publish_error(dsn: str) -> Iterator[None]:
    import psycopg

    stays = "Nothing was made live: the previous version stays."
    try:
        yield
    except psycopg.OperationalError as err:
        lost = describe_failure(err, dsn, "publish to")
        raise PostgresUnavailable(f"{lost} {stays}", lost.retryable) from None
    except PostgresUnavailable as lost:
        # The copy's own connections (DuckDB's postgres extension) report a lost server this way.
        raise PostgresUnavailable(f"{lost} {stays}", lost.retryable) from None


def _go_live(conn, specs, shapes, pieces, live, rebuild, request: PublishRequest, ledger_row: dict) -> int:
    """Bring ``analytics`` to the new version and record it, in one transaction; returns the number of
    tries it took.

    ``lock_timeout`` bounds each try, so readers queued behind the swap wait at most that long; a long
    reader makes the try fail, and it is retried with backoff.
    """
    import psycopg

    live_pieces = (live.pieces or {}) if live else {}
    current = {
        t: {k: e["relation"] for k, e in ps.items()} for t, ps in live_pieces.items() if t not in rebuild
    }
    desired = {t: {k: e["relation"] for k, e in ps.items()} for t, ps in _pieces_json(pieces).items()}
    attempts = request.go_live_attempts
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = {int(request.lock_timeout_ms)}")
                conn.execute(f"create schema if not exists {LIVE_SCHEMA}")
                _create_live_tables(conn, shapes, rebuild)
                _swap_to(conn, shapes, desired, current)
                # One round trip: readers wait behind this transaction's locks.
                _execute_all(conn, [s for spec in specs for s in _comments(_live_table(spec.name), spec)])
                if request.bi_role:
                    _grant_read_only(conn, request.bi_role)
                conn.execute(
                    f"update {META_SCHEMA}.publish_ledger set status = 'superseded' where status = 'live'"
                )
                conn.execute(
                    f"insert into {META_SCHEMA}.publish_ledger (published_version, warehouse_version, "
                    "run_id, source, source_sha256, status, rows_per_table, amounts, rejects_by_reason, "
                    "stage_seconds, unknown_values, shapes, pieces, rows_copied, months_touched, "
                    "full_refresh) values (%(version)s, %(warehouse_version)s, %(run_id)s, %(source)s, "
                    "%(source_sha256)s, 'live', %(rows_per_table)s, %(amounts)s, %(rejects_by_reason)s, "
                    "%(stage_seconds)s, %(unknown_values)s, %(shapes)s, %(pieces)s, %(rows_copied)s, "
                    "%(months_touched)s, %(full_refresh)s)",
                    ledger_row,
                )
                fault_point("in_go_live")
            return attempt
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            if attempt == attempts:
                raise PublishError(
                    f"could not go live: a reader held a lock on {LIVE_SCHEMA} through {attempts} tries "
                    f"of {request.lock_timeout_ms} ms; version {ledger_row['version']} stays staged in "
                    f"{_version_schema(ledger_row['version'])}"
                ) from None
            time.sleep(min(10.0, 0.5 * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")


def restore_previous(dsn: str, lock_timeout_ms: int = 5000, turn_wait_seconds: float = 1800) -> int:
    """Make the previously live version live again; return its number.

    The version being replaced is marked 'rolled_back'. The next pipeline run publishes anew.
    """
    import psycopg

    with connect(dsn) as conn:
        take_publish_lock(conn, turn_wait_seconds)
        conn.execute(LEDGER_DDL)
        live = _live_version(conn)
        if not live:
            raise PublishError("nothing is published yet: there is no version to restore")
        if live.pieces is None:
            raise PublishError(
                f"version {live.version} was published in the earlier layout (views over a version "
                "schema): run the pipeline once to publish in the current layout; no earlier version "
                "can be restored until a second publish"
            )
        row = conn.execute(
            f"select published_version, shapes, pieces from {META_SCHEMA}.publish_ledger "
            "where published_version < %s and status = 'superseded' and pieces is not null "
            "order by published_version desc limit 1",
            (live.version,),
        ).fetchone()
        if not row:
            raise PublishError(f"version {live.version} is live and no earlier version is kept to restore")
        previous, shapes_json, previous_pieces = row
        shapes = {name: Shape.from_json(s) for name, s in shapes_json.items()}
        changed = sorted(
            n for n, s in shapes.items() if (live.shapes or {}).get(n, s).signature != s.signature
        )
        if changed or set(shapes) != set(live.shapes or {}):
            raise PublishError(
                f"version {previous} has other tables or columns than the live version {live.version} "
                f"({', '.join(changed) or 'another set of tables'}): it cannot be swapped back in place; "
                "rebuild the warehouse from the earlier exports and run the pipeline instead"
            )
        relations = {e["relation"] for ps in previous_pieces.values() for e in ps.values()}
        missing = [
            r for r in sorted(relations)
            if conn.execute("select to_regclass(%s)", (_relation(r),)).fetchone()[0] is None
        ]  # fmt: skip
        if missing:
            raise PublishError(
                f"version {previous} is no longer kept ({', '.join(missing[:3])} dropped): nothing to restore"
            )
        desired = {t: {k: e["relation"] for k, e in ps.items()} for t, ps in previous_pieces.items()}
        current = {t: {k: e["relation"] for k, e in ps.items()} for t, ps in live.pieces.items()}
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = {int(lock_timeout_ms)}")
                _swap_to(conn, shapes, desired, current)
                conn.execute(
                    f"update {META_SCHEMA}.publish_ledger set status = 'rolled_back' "
                    "where published_version = %s",
                    (live.version,),
                )
                conn.execute(
                    f"update {META_SCHEMA}.publish_ledger set status = 'live' where published_version = %s",
                    (previous,),
                )
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            raise PublishError(
                f"could not restore version {previous}: a reader held a lock on {LIVE_SCHEMA} for "
                f"{lock_timeout_ms} ms; version {live.version} stays live. Try again when the query "
                "ends (or raise [pipeline] publish_lock_timeout_ms)"
            ) from None
        swapped_in = {
            table: sum(e["rows"] for key, e in ps.items() if current.get(table, {}).get(key) != e["relation"])
            for table, ps in previous_pieces.items()
            if desired[table] != current.get(table)
        }
        rows_now = {table: sum(e["rows"] for e in ps.values()) for table, ps in previous_pieces.items()}
        _analyze_live_tables(conn, _tables_to_analyze(conn, shapes, rows_now, swapped_in))
        release_publish_lock(conn)
    return previous
