"""Publish the warehouse marts to PostgreSQL, all or nothing.

In: the DuckDB warehouse built by dbt, its dbt manifest (columns, keys, descriptions), and a DSN.
Out: in PostgreSQL, schema ``analytics_v<N>`` with the tables of version N (typed, keyed, indexed,
commented, analysed), schema ``analytics`` with one view per table pointing at the live version, and a
row in ``pipeline_meta.publish_ledger``. Done when the ledger's live row carries this warehouse version.

Why views: BI users and dbt-postgres build their own views on ``analytics.*``. Going live re-points the
``analytics`` views at the new version inside one short transaction, so readers see the old version or
the new one, never a mix or an empty table, and views built on top keep working. The previous version
stays until the next publish, so it can be restored.

Rows travel through DuckDB's postgres extension (``transfer.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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
from pipeline.lib.specs import (
    PG_CATALOG_NAMES,
    PUBLISHED_FOLDERS,
    TableSpec,
    pg_type,
    published_foreign_keys,
    quote_ident,
    quote_literal,
    read_table_specs,
)
from pipeline.lib.transfer import SPLIT_COPY_ROWS, WarehouseBridge, copy_table

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
-- Ledgers written by an earlier version of the pipeline get the current set of statuses.
alter table {META_SCHEMA}.publish_ledger drop constraint if exists publish_ledger_status_check;
alter table {META_SCHEMA}.publish_ledger add constraint publish_ledger_status_check
    check (status in ('live', 'superseded', 'rolled_back'));
"""


# An index build sorts every row of its table. At PostgreSQL's default (64MB) a build gets one parallel
# worker (each participant needs 32MB) and larger tables sort on disk; what that costs as sources grow
# is measured in docs/speed.md. A constant, not a setting: it is per session, taken only while
# sorting, and needs no privilege.
MAINTENANCE_WORK_MEM = "512MB"


class PublishError(RuntimeError):
    pass


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
    go_live_attempts: int = 8
    max_connections: int = 4
    split_copy_rows: int = SPLIT_COPY_ROWS  # a table this large is copied in two halves at once


@dataclass
class PublishResult:
    published_version: int
    schema: str
    rows: dict[str, int]
    amounts: dict[str, str]
    seconds: dict[str, float]
    skipped: bool = False


@dataclass
class _StagedVersion:
    """A version loaded into its own schema, not yet live."""

    version: int
    schema: str
    specs: list[TableSpec]
    columns_of: dict[str, list[tuple[str, str]]]  # table -> (column, DuckDB type), in order
    rows: dict[str, int] = field(default_factory=dict)
    amounts: dict[str, str] = field(default_factory=dict)


def _amount_columns(columns: list[tuple[str, str]]) -> list[str]:
    return [name for name, dtype in columns if dtype.upper().startswith("DECIMAL")]


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    seconds[stage] = round(time.monotonic() - started, 2)


def publish(request: PublishRequest) -> PublishResult:
    """Load the marts into a new version schema, check it, and make it live in one transaction."""
    specs = read_table_specs(request.manifest_path, request.folders)
    seconds: dict[str, float] = {}
    with (
        _timed(seconds, "total"),
        _lost_connection_is_a_publish_error(request.dsn),
        connect(request.dsn) as conn,
    ):
        # One publisher at a time per database; a second one waits here. The ledger's DDL comes
        # after: "create ... if not exists" run by two sessions at once can collide in the catalog.
        take_publish_lock(conn)
        conn.execute(LEDGER_DDL)
        live = conn.execute(
            f"select published_version, warehouse_version from {META_SCHEMA}.publish_ledger "
            "where status = 'live'"
        ).fetchone()
        if live and live[1] == request.warehouse_version:
            return PublishResult(live[0], _version_schema(live[0]), {}, {}, {}, skipped=True)

        staged = _stage_version(conn, request, specs, seconds)
        with _timed(seconds, "index"):
            _add_keys_and_docs(conn, staged)
        fault_point("before_go_live")
        with _timed(seconds, "go_live"):
            seconds["go_live_attempts"] = _go_live(
                conn, staged, request, _ledger_row(request, staged, seconds)
            )
        _drop_old_versions(
            conn, keep={staged.version, staged.version - 1}, lock_timeout_ms=request.lock_timeout_ms
        )
        release_publish_lock(conn)
    return PublishResult(staged.version, staged.schema, staged.rows, staged.amounts, seconds)


def _version_schema(version: int) -> str:
    return f"{LIVE_SCHEMA}_v{version}"


def _stage_version(conn, request: PublishRequest, specs: list[TableSpec], seconds: dict) -> _StagedVersion:
    """The next version's schema, its tables created from the warehouse's columns and checked against
    the dbt contracts, the rows copied and checked against the warehouse."""
    version = conn.execute(
        f"select coalesce(max(published_version), 0) + 1 from {META_SCHEMA}.publish_ledger"
    ).fetchone()[0]
    schema = _version_schema(version)
    # A failed or killed earlier attempt at this version leaves its schema behind: start clean.
    conn.execute(f"drop schema if exists {quote_ident(schema)} cascade")
    conn.execute(f"create schema {quote_ident(schema)}")
    duck = WarehouseBridge(request.warehouse_path, request.dsn, request.max_connections)
    try:
        staged = _StagedVersion(
            version, schema, specs, {spec.name: duck.columns_of.get(spec.name, []) for spec in specs}
        )
        _create_tables(conn, staged, request.warehouse_path)
        _check_contract_types(conn, staged)  # the types are set: a mismatch fails before any copy
        with _timed(seconds, "copy"):
            for i, spec in enumerate(specs):
                columns = [name for name, _ in staged.columns_of[spec.name]]
                copy_table(duck, schema, spec.name, columns, request.split_copy_rows)
                if i == 0:
                    fault_point("copy")
        with _timed(seconds, "verify"):
            _verify_against_warehouse(conn, duck, staged)
    finally:
        duck.close()
    return staged


def _create_tables(conn, staged: _StagedVersion, warehouse_path: Path) -> None:
    statements = []
    for spec in staged.specs:
        columns = staged.columns_of[spec.name]
        if not columns:
            raise PublishError(f"table {spec.name} is missing from {warehouse_path}")
        ddl = ",\n    ".join(
            f"{quote_ident(n)} {pg_type(t)}{' not null' if n in spec.not_null else ''}" for n, t in columns
        )
        statements.append(f"create table {_qualified(staged.schema, spec.name)} (\n    {ddl}\n)")
    _execute_all(conn, statements)


def _execute_all(conn, statements: list[str]) -> None:
    """Run ``statements`` in one round trip and one transaction: DDL and comments come by the hundred,
    and each one alone costs a round trip and, outside a transaction, a commit (a WAL flush)."""
    if statements:
        with conn.transaction():
            conn.execute(";\n".join(statements))


def _qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _ledger_row(request: PublishRequest, staged: _StagedVersion, seconds: dict[str, float]) -> dict:
    return {
        "version": staged.version,
        "warehouse_version": request.warehouse_version,
        "run_id": request.run_id,
        "source": request.source,
        "source_sha256": request.source_sha256,
        "rows_per_table": json.dumps(staged.rows),
        "amounts": json.dumps(staged.amounts),
        "rejects_by_reason": json.dumps(request.rejects_by_reason),
        "stage_seconds": json.dumps({**request.stage_seconds, **seconds}),
        "unknown_values": json.dumps(request.unknown_values),
    }


@contextmanager
def _lost_connection_is_a_publish_error(dsn: str) -> Iterator[None]:
    import psycopg

    try:
        yield
    except psycopg.OperationalError as err:
        lost = describe_failure(err, dsn, "publish to")
        raise PostgresUnavailable(
            f"{lost} Nothing was made live: the previous version stays.", lost.retryable
        ) from None


def _verify_against_warehouse(conn, duck: WarehouseBridge, staged: _StagedVersion) -> None:
    """Row counts and money totals of every loaded table must equal the warehouse's; they are recorded
    in ``staged``."""
    for spec in staged.specs:
        sums = _amount_columns(staged.columns_of[spec.name])
        select = ", ".join(["count(*)"] + [f"coalesce(sum({quote_ident(c)}), 0)" for c in sums])
        expected = duck.execute(f"select {select} from wh.main.{quote_ident(spec.name)}").fetchone()
        found = conn.execute(f"select {select} from {_qualified(staged.schema, spec.name)}").fetchone()
        if tuple(expected) != tuple(found):
            raise PublishError(
                f"{staged.schema}.{spec.name} does not match the warehouse: expected rows and sums "
                f"{expected}, found {found}; nothing was made live"
            )
        staged.rows[spec.name] = found[0]
        for col, value in zip(sums, found[1:], strict=True):
            staged.amounts[f"{spec.name}.{col}"] = str(value)


def _check_contract_types(conn, staged: _StagedVersion) -> None:
    """Every loaded column must have the PostgreSQL type of its dbt contract data_type."""
    found = {
        (table, column): (dtype, precision, scale)
        for table, column, dtype, precision, scale in conn.execute(
            "select table_name, column_name, data_type, numeric_precision, numeric_scale "
            "from information_schema.columns where table_schema = %s",
            (staged.schema,),
        ).fetchall()
    }
    problems = []
    for spec in staged.specs:
        for column, contract in spec.contract_types.items():
            expected = pg_type(contract)
            dtype, precision, scale = found.get((spec.name, column), (None, None, None))
            actual = (
                f"numeric({precision},{scale})" if dtype == "numeric" else PG_CATALOG_NAMES.get(dtype, dtype)
            )
            if actual != expected:
                problems.append(f"{spec.name}.{column}: contract {contract} ({expected}), published {actual}")
    if problems:
        raise PublishError(
            f"published columns differ from the dbt contract in {staged.schema}; nothing was made live: "
            + "; ".join(problems)
        )


def _add_keys_and_docs(conn, staged: _StagedVersion) -> None:
    """Primary keys first (foreign keys reference them), then foreign keys with their indexes, the dbt
    docs as comments, and fresh planner statistics."""
    conn.execute(f"set maintenance_work_mem = {quote_literal(MAINTENANCE_WORK_MEM)}")
    for spec in staged.specs:
        if spec.primary_key:
            cols = ", ".join(quote_ident(c) for c in spec.primary_key)
            conn.execute(f"alter table {_qualified(staged.schema, spec.name)} add primary key ({cols})")
    for spec in staged.specs:
        table = _qualified(staged.schema, spec.name)
        for column, target, target_column in published_foreign_keys(spec, staged.specs):
            conn.execute(
                f"alter table {table} add foreign key ({quote_ident(column)}) "
                f"references {_qualified(staged.schema, target)} ({quote_ident(target_column)})"
            )
            conn.execute(f"create index on {table} ({quote_ident(column)})")
        _execute_all(conn, _comments("table", table, spec))
        conn.execute(f"analyze {table}")


def _comments(kind: str, relation: str, spec: TableSpec) -> list[str]:
    """The dbt docs of ``spec`` as PostgreSQL comments on ``relation`` (a ``table`` or ``view``) and its
    columns, where BI tools show them."""
    statements = []
    if spec.description:
        statements.append(f"comment on {kind} {relation} is {quote_literal(spec.description)}")
    for column, description in spec.columns.items():
        if description:
            statements.append(
                f"comment on column {relation}.{quote_ident(column)} is {quote_literal(description)}"
            )
    return statements


def _go_live(conn, staged: _StagedVersion, request: PublishRequest, ledger_row: dict) -> int:
    """Re-point the analytics views at the staged schema and record the version, in one transaction;
    returns the number of tries it took.

    ``lock_timeout`` bounds each try, so readers queued behind the view swap wait at most that long;
    a long reader makes the try fail, and it is retried with backoff.
    """
    import psycopg

    attempts = request.go_live_attempts
    for attempt in range(1, attempts + 1):
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = {int(request.lock_timeout_ms)}")
                conn.execute(f"create schema if not exists {LIVE_SCHEMA}")
                comments = []
                for spec in staged.specs:
                    columns = [n for n, _ in staged.columns_of[spec.name]]
                    view = _point_view_at(conn, staged.schema, spec.name, columns)
                    comments += _comments("view", view, spec)
                # One round trip: readers wait behind this transaction's locks on the views.
                _execute_all(conn, comments)
                if request.bi_role:
                    _grant_read_only(conn, request.bi_role)
                conn.execute(
                    f"update {META_SCHEMA}.publish_ledger set status = 'superseded' where status = 'live'"
                )
                conn.execute(
                    f"insert into {META_SCHEMA}.publish_ledger (published_version, warehouse_version, "
                    "run_id, source, source_sha256, status, rows_per_table, amounts, rejects_by_reason, "
                    "stage_seconds, unknown_values) values (%(version)s, %(warehouse_version)s, "
                    "%(run_id)s, %(source)s, %(source_sha256)s, 'live', %(rows_per_table)s, %(amounts)s, "
                    "%(rejects_by_reason)s, %(stage_seconds)s, %(unknown_values)s)",
                    ledger_row,
                )
                fault_point("in_go_live")
            return attempt
        except psycopg.errors.LockNotAvailable:
            if attempt == attempts:
                raise PublishError(
                    f"could not go live: a reader held a lock on {LIVE_SCHEMA} through {attempts} tries "
                    f"of {request.lock_timeout_ms} ms; version {staged.version} stays staged in "
                    f"{staged.schema}"
                ) from None
            time.sleep(min(10.0, 0.5 * 2 ** (attempt - 1)))
        except psycopg.errors.InvalidTableDefinition as err:
            raise PublishError(
                f"the columns of a published table changed ({err.diag.message_primary}); "
                f"drop the dependent views on {LIVE_SCHEMA} or restore them after the publish"
            ) from None


def _point_view_at(conn, schema: str, table: str, columns: list[str]) -> str:
    """(Re)point ``analytics.<table>`` at ``<schema>.<table>``; the view keeps its identity, so views
    built on it keep working. Returns the view's qualified name."""
    view = f"{LIVE_SCHEMA}.{quote_ident(table)}"
    cols = ", ".join(quote_ident(c) for c in columns)
    conn.execute(f"create or replace view {view} as select {cols} from {_qualified(schema, table)}")
    return view


def _drop_old_versions(conn, keep: set[int], lock_timeout_ms: int) -> None:
    """Drop version schemas older than the previous one; one still being read is left for next time."""
    import psycopg

    schemas = conn.execute(
        "select nspname from pg_namespace where nspname ~ %s", (f"^{LIVE_SCHEMA}_v[0-9]+$",)
    ).fetchall()
    for (name,) in schemas:
        if int(name.rsplit("_v", 1)[1]) in keep:
            continue
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = {int(lock_timeout_ms)}")
                conn.execute(f"drop schema {quote_ident(name)} cascade")
        except psycopg.errors.LockNotAvailable:
            pass


def _grant_read_only(conn, role: str) -> None:
    """``role`` may read ``analytics`` and nothing else of the pipeline's.

    The views run with their owner's rights, so the role needs no access to the version schemas.
    """
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(f"create role {quote_ident(role)} nologin")
    conn.execute(f"grant usage on schema {LIVE_SCHEMA} to {quote_ident(role)}")
    conn.execute(f"grant select on all tables in schema {LIVE_SCHEMA} to {quote_ident(role)}")
    conn.execute(f"revoke all on schema {META_SCHEMA} from {quote_ident(role)}")
    conn.execute(f"revoke create on schema {LIVE_SCHEMA} from {quote_ident(role)}")


def restore_previous(dsn: str, lock_timeout_ms: int = 5000) -> int:
    """Make the previous published version live again; return its number.

    The version being replaced is marked 'rolled_back'. The next pipeline run publishes anew.
    """
    with connect(dsn) as conn:
        take_publish_lock(conn)
        conn.execute(LEDGER_DDL)
        live = conn.execute(
            f"select published_version from {META_SCHEMA}.publish_ledger where status = 'live'"
        ).fetchone()
        if not live:
            raise PublishError("nothing is published yet: there is no version to restore")
        previous = conn.execute(
            f"select published_version from {META_SCHEMA}.publish_ledger "
            "where published_version < %s and status = 'superseded' "
            "and to_regnamespace(%s || published_version) is not null "
            "order by published_version desc limit 1",
            (live[0], f"{LIVE_SCHEMA}_v"),
        ).fetchone()
        if not previous:
            raise PublishError(f"version {live[0]} is live and no earlier version is kept to restore")
        schema = _version_schema(previous[0])
        with conn.transaction():
            conn.execute(f"set local lock_timeout = {int(lock_timeout_ms)}")
            columns_of: dict[str, list[str]] = {}
            for table, column in conn.execute(
                "select c.table_name, c.column_name from information_schema.columns c "
                "join information_schema.tables t using (table_schema, table_name) "
                "where c.table_schema = %s and t.table_type = 'BASE TABLE' order by c.ordinal_position",
                (schema,),
            ).fetchall():
                columns_of.setdefault(table, []).append(column)
            for table, columns in columns_of.items():
                _point_view_at(conn, schema, table, columns)
            conn.execute(
                f"update {META_SCHEMA}.publish_ledger set status = 'rolled_back' "
                "where published_version = %s",
                live,
            )
            conn.execute(
                f"update {META_SCHEMA}.publish_ledger set status = 'live' where published_version = %s",
                previous,
            )
        release_publish_lock(conn)
    return previous[0]
