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
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
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
from pipeline.lib.transfer import WarehouseBridge, copy_rows

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


# An index build sorts every row of its table. At PostgreSQL's default (64MB) a build gets one parallel
# worker (each participant needs 32MB) and larger tables sort on disk; what that costs as sources grow
# is measured in docs/speed.md. A constant, not a setting: it is per session, taken only while
# sorting, and needs no privilege.
MAINTENANCE_WORK_MEM = "512MB"

# The partitions of a table (by name): schema.table, as the ledger records them.
_PARTITIONS_OF = (
    "select n.nspname || '.' || c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
    "join pg_namespace n on n.oid = c.relnamespace where i.inhparent = to_regclass(%s)"
)

# The key of the one piece of a table that is not partitioned.
WHOLE = "all"


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


@dataclass(frozen=True)
class Shape:
    """A published table as PostgreSQL holds it; recorded in the ledger, so a restore needs no manifest."""

    name: str
    columns: list[tuple[str, str, bool]]  # name, PostgreSQL type, not null
    primary_key: list[str]
    partition_column: str | None
    foreign_keys: list[tuple[str, str, str]]  # column, table, column (published tables only)

    @property
    def signature(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _, _ in self.columns]

    @staticmethod
    def from_json(data: dict) -> Shape:
        return Shape(
            data["name"],
            [tuple(c) for c in data["columns"]],
            list(data["primary_key"]),
            data["partition_column"],
            [tuple(fk) for fk in data["foreign_keys"]],
        )


@dataclass
class Piece:
    """A month of a partitioned table, or a whole table: copied, checked and swapped in as a unit."""

    table: str
    key: str  # yyyymm, or WHOLE
    fingerprint: str
    rows: int
    amounts: dict[str, Decimal]  # decimal column -> sum
    relation: str = ""  # schema.name of the table holding its rows in PostgreSQL
    copied: bool = False  # by this publish

    def ledger_entry(self) -> dict:
        return {"fingerprint": self.fingerprint, "rows": self.rows, "relation": self.relation}


@dataclass
class _LiveVersion:
    version: int
    warehouse_version: str
    shapes: dict[str, Shape] | None  # None: published by the earlier layout (views over a version schema)
    pieces: dict[str, dict[str, dict]] | None  # table -> key -> ledger entry


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
        take_publish_lock(conn)
        conn.execute(LEDGER_DDL)
        live = _live_version(conn)
        if (
            live
            and live.pieces is not None
            and live.warehouse_version == request.warehouse_version
            and not request.full_refresh
        ):
            return PublishResult(live.version, _version_schema(live.version), {}, {}, {}, skipped=True)

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
        with _timed(seconds, "index"):
            _add_piece_keys(request.dsn, shapes, copied, request.copy_threads)
        fault_point("before_go_live")
        rows_copied = {name: sum(p.rows for p in copied if p.table == name) for name in shapes}
        months = _months_touched(shapes, pieces, live, rebuild)
        ledger_row = _ledger_row(request, version, shapes, pieces, rows_copied, months, seconds)
        with _timed(seconds, "go_live"):
            seconds["go_live_attempts"] = _go_live(
                conn, specs, shapes, pieces, live, rebuild, request, ledger_row
            )
        kept = [_pieces_json(pieces)] + ([live.pieces] if live and live.pieces else [])
        with _timed(seconds, "drop_old"):
            _drop_unreferenced(conn, kept, lock_timeout_ms=request.lock_timeout_ms)
        release_publish_lock(conn)
    rows, amounts = _totals(shapes, pieces)
    return PublishResult(version, schema, rows, amounts, seconds, False, rows_copied, months)


def _months_touched(shapes, pieces: list[Piece], live: _LiveVersion | None, rebuild: set[str]) -> dict:
    """Per partitioned table, the months this publish swaps in, and those it takes out (a month whose
    only export was removed)."""
    live_pieces = (live.pieces or {}) if live else {}
    months = {}
    for name, shape in shapes.items():
        if shape.partition_column:
            copied = {p.key for p in pieces if p.table == name and p.copied}
            kept = {p.key for p in pieces if p.table == name}
            gone = set(live_pieces.get(name, {})) - kept if name not in rebuild else set()
            months[name] = sorted(copied | gone)
    return months


def _version_schema(version: int) -> str:
    return f"{LIVE_SCHEMA}_v{version}"


def _live_version(conn) -> _LiveVersion | None:
    row = conn.execute(
        f"select published_version, warehouse_version, shapes, pieces from {META_SCHEMA}.publish_ledger "
        "where status = 'live'"
    ).fetchone()
    if not row:
        return None
    shapes = {name: Shape.from_json(s) for name, s in row[2].items()} if row[2] is not None else None
    return _LiveVersion(row[0], row[1], shapes, row[3] if shapes is not None else None)


def _shapes(specs: list[TableSpec], columns_of: dict, warehouse_path: Path) -> dict[str, Shape]:
    shapes = {}
    for spec in specs:
        columns = columns_of.get(spec.name)
        if not columns:
            raise PublishError(f"table {spec.name} is missing from {warehouse_path}")
        key = spec.live_primary_key
        shapes[spec.name] = Shape(
            spec.name,
            [(n, pg_type(t), n in spec.not_null or n in key) for n, t in columns],
            key,
            spec.partition_column,
            published_foreign_keys(spec, specs),
        )
    return shapes


def _qualified(schema: str, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}"


def _relation(name: str) -> str:
    """A ``schema.table`` name as recorded in the ledger, quoted for SQL."""
    schema, table = name.split(".", 1)
    return _qualified(schema, table)


def _live_table(table: str) -> str:
    return _qualified(LIVE_SCHEMA, table)


def _month_bounds(key: str) -> tuple[int, int]:
    """The partition bounds of month ``yyyymm`` as yyyymmdd keys: [yyyymm00, next month's yyyymm00)."""
    year, month = divmod(int(key), 100)
    following = (year + 1) * 100 + 1 if month == 12 else year * 100 + month + 1
    return int(key) * 100, following * 100


def _fingerprint(duck: WarehouseBridge, shapes: dict[str, Shape]) -> list[Piece]:
    """Every piece of the warehouse with its row count, money sums and fingerprint, in one aggregate
    per table (a piece per month of a partitioned table)."""
    pieces = []
    for shape in shapes.values():
        decimals = [n for n, t, _ in shape.columns if t.startswith("numeric(")]
        row_hash = "hash(" + ", ".join(quote_ident(n) for n in shape.column_names) + ")"
        sums = "".join(f", coalesce(sum({quote_ident(c)}), 0)" for c in decimals)
        if shape.partition_column:
            piece = f"cast({quote_ident(shape.partition_column)} // 100 as varchar)"
            group = "group by 1"
        else:
            piece, group = quote_literal(WHOLE), ""
        for key, rows, hashed, *amounts in duck.execute(
            f"select {piece}, count(*), coalesce(sum({row_hash}), 0){sums} "
            f"from wh.main.{quote_ident(shape.name)} {group}"
        ).fetchall():
            fingerprint = f"{shape.signature}:{rows}:{hashed}"
            pieces.append(
                Piece(shape.name, key, fingerprint, rows, dict(zip(decimals, amounts, strict=True)))
            )
    return pieces


def _tables_to_rebuild(conn, shapes: dict[str, Shape], live: _LiveVersion | None) -> set[str]:
    """The tables of ``analytics`` that must be (re)created: missing, a view of the earlier layout, or of
    another shape than the live version's. Fails, before any copy, when views outside ``analytics``
    depend on one (dropping it would drop them)."""
    found = dict(
        conn.execute(
            "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s",
            (LIVE_SCHEMA,),
        ).fetchall()
    )
    rebuild = set()
    for name, shape in shapes.items():
        kind = found.get(name)
        expected = "p" if shape.partition_column else "r"
        live_shape = (live.shapes or {}).get(name) if live else None
        if kind != expected or live_shape is None or live_shape.signature != shape.signature:
            rebuild.add(name)
    # A table that references a re-created one loses that foreign key with it: re-create it too.
    grew = True
    while grew:
        grew = False
        for name, shape in shapes.items():
            if name not in rebuild and any(target in rebuild for _, target, _ in shape.foreign_keys):
                rebuild.add(name)
                grew = True
    blocked = {}
    for name in sorted(rebuild):
        if name in found:
            outside = [v for v, schema in _dependent_views(conn, name) if schema != LIVE_SCHEMA]
            if outside:
                blocked[f"{LIVE_SCHEMA}.{name}"] = outside
    if blocked:
        listing = "; ".join(f"{table} ← {', '.join(views)}" for table, views in blocked.items())
        raise PublishError(
            f"the tables of schema {LIVE_SCHEMA} must be re-created (first publish since the layout "
            f"changed from views to tables, or their columns changed), and these views of yours depend on "
            f"them and would be lost: {listing}. Save their definitions (SELECT pg_get_viewdef('<view>'); "
            f"or pg_dump --schema-only), drop them, run the pipeline again, then re-create them: from then "
            f"on they keep working across publishes and restores. Nothing was made live."
        )
    return rebuild


def _dependent_views(conn, table: str) -> list[tuple[str, str]]:
    """(view, its schema) of every view that reads ``analytics.<table>``, directly or through others."""
    return conn.execute(
        """
        with recursive dependents(oid) as (
            select distinct r.ev_class from pg_depend d join pg_rewrite r on r.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass and d.refobjid = to_regclass(%s)
              and r.ev_class <> d.refobjid
            union
            select r.ev_class from dependents x join pg_depend d on d.refobjid = x.oid
            join pg_rewrite r on r.oid = d.objid
            where d.classid = 'pg_rewrite'::regclass and r.ev_class <> x.oid
        )
        select n.nspname || '.' || c.relname, n.nspname from dependents x join pg_class c on c.oid = x.oid
        join pg_namespace n on n.oid = c.relnamespace order by 1
        """,
        (f"{LIVE_SCHEMA}.{quote_ident(table)}",),
    ).fetchall()


def _plan(
    pieces: list[Piece],
    shapes: dict[str, Shape],
    live: _LiveVersion | None,
    rebuild: set[str],
    full_refresh: bool,
    schema: str,
) -> None:
    """Mark the pieces to copy (their fingerprint differs from the live version's, or their table is
    rebuilt, or a full refresh); the others keep the live version's table."""
    live_pieces = (live.pieces or {}) if live else {}
    for piece in pieces:
        kept = live_pieces.get(piece.table, {}).get(piece.key)
        if (
            kept
            and not full_refresh
            and piece.table not in rebuild
            and kept["fingerprint"] == piece.fingerprint
        ):
            piece.relation = kept["relation"]
            continue
        name = piece.table if piece.key == WHOLE else f"{piece.table}_{piece.key}"
        piece.relation = f"{schema}.{name}"
        piece.copied = True


def _pieces_json(pieces: list[Piece]) -> dict[str, dict[str, dict]]:
    state: dict[str, dict[str, dict]] = {}
    for piece in pieces:
        state.setdefault(piece.table, {})[piece.key] = piece.ledger_entry()
    return state


def _totals(shapes: dict[str, Shape], pieces: list[Piece]) -> tuple[dict[str, int], dict[str, str]]:
    rows = {name: 0 for name in shapes}
    amounts: dict[str, Decimal] = {}
    for shape in shapes.values():
        for name, dtype, _ in shape.columns:
            if dtype.startswith("numeric("):
                amounts[f"{shape.name}.{name}"] = Decimal(0)
    for piece in pieces:
        rows[piece.table] += piece.rows
        for column, value in piece.amounts.items():
            amounts[f"{piece.table}.{column}"] += value
    return rows, {k: str(v) for k, v in amounts.items()}


def _create_piece_tables(conn, shapes: dict[str, Shape], pieces: list[Piece]) -> None:
    statements = []
    for piece in pieces:
        shape = shapes[piece.table]
        columns = [f"{quote_ident(n)} {t}{' not null' if nn else ''}" for n, t, nn in shape.columns]
        if shape.partition_column:
            # The month's bounds as a constraint: ATTACH then need not scan the rows to prove them.
            low, high = _month_bounds(piece.key)
            col = quote_ident(shape.partition_column)
            columns.append(f"check ({col} >= {low} and {col} < {high})")
        ddl = ",\n    ".join(columns)
        statements.append(f"create table {_relation(piece.relation)} (\n    {ddl}\n)")
    _execute_all(conn, statements)


def _execute_all(conn, statements: list[str]) -> None:
    """Run ``statements`` in one round trip and one transaction: DDL and comments come by the hundred,
    and each one alone costs a round trip and, outside a transaction, a commit (a WAL flush)."""
    if statements:
        with conn.transaction():
            conn.execute(";\n".join(statements))


def _copy_pieces(duck: WarehouseBridge, shapes: dict[str, Shape], pieces: list[Piece], threads: int) -> None:
    """The pieces' rows, largest first, ``threads`` at once over DuckDB cursors (so PostgreSQL
    connections) of their own: one binary COPY stream keeps neither side busy all the time."""
    todo = sorted(pieces, key=lambda p: -p.rows)

    def one(piece: Piece, cursor: WarehouseBridge) -> None:
        shape = shapes[piece.table]
        where = ""
        if shape.partition_column:
            low, high = _month_bounds(piece.key)
            col = quote_ident(shape.partition_column)
            where = f"where {col} >= {low} and {col} < {high}"
        copy_rows(cursor, piece.relation, shape.name, shape.column_names, where)

    if not todo:
        return
    with ExitStack() as stack:
        cursors = [stack.enter_context(duck.cursor()) for _ in range(max(1, min(threads, len(todo))))]
        _share_out(cursors, todo, lambda cursor, piece: one(piece, cursor), lambda: fault_point("copy"))


def _verify_against_warehouse(conn, shapes: dict[str, Shape], pieces: list[Piece]) -> None:
    """Row count and money sums of every copied piece must equal the warehouse's."""
    for piece in pieces:
        sums = list(piece.amounts)
        select = ", ".join(["count(*)"] + [f"coalesce(sum({quote_ident(c)}), 0)" for c in sums])
        found = conn.execute(f"select {select} from {_relation(piece.relation)}").fetchone()
        expected = (piece.rows, *piece.amounts.values())
        if tuple(found) != expected:
            raise PublishError(
                f"{piece.relation} ({piece.table}, piece {piece.key}) does not match the warehouse: "
                f"expected rows and sums {expected}, found {tuple(found)}; nothing was made live"
            )


def _check_contract_types(
    conn, specs: list[TableSpec], shapes: dict[str, Shape], pieces: list[Piece]
) -> None:
    """Every loaded column must have the PostgreSQL type of its dbt contract data_type."""
    by_relation = {}
    for piece in pieces:
        by_relation.setdefault(piece.table, piece.relation)
    problems = []
    for spec in specs:
        relation = by_relation.get(spec.name)
        if relation is None:
            continue  # nothing copied: the live table's types were checked when it was
        schema, table = relation.split(".", 1)
        found = {
            column: (dtype, precision, scale)
            for column, dtype, precision, scale in conn.execute(
                "select column_name, data_type, numeric_precision, numeric_scale "
                "from information_schema.columns where table_schema = %s and table_name = %s",
                (schema, table),
            ).fetchall()
        }
        for column, contract in spec.contract_types.items():
            expected = pg_type(contract)
            dtype, precision, scale = found.get(column, (None, None, None))
            actual = (
                f"numeric({precision},{scale})" if dtype == "numeric" else PG_CATALOG_NAMES.get(dtype, dtype)
            )
            if actual != expected:
                problems.append(f"{spec.name}.{column}: contract {contract} ({expected}), published {actual}")
    if problems:
        raise PublishError(
            "published columns differ from the dbt contract; nothing was made live: " + "; ".join(problems)
        )


def _add_piece_keys(dsn: str, shapes: dict[str, Shape], pieces: list[Piece], threads: int) -> None:
    """Before go-live, on each copied piece: the primary key, and on a month the indexes its partitioned
    table has (ATTACH adopts them instead of building them in the go-live transaction); fresh planner
    statistics. Foreign keys come with ATTACH, or live on the table a whole piece is synced into.
    ``threads`` connections at once: an index build is mostly one CPU's sort."""

    def one(conn, piece: Piece) -> None:
        shape = shapes[piece.table]
        relation = _relation(piece.relation)
        statements = []
        if shape.primary_key:
            cols = ", ".join(quote_ident(c) for c in shape.primary_key)
            statements.append(f"alter table {relation} add primary key ({cols})")
        if shape.partition_column:
            statements += [f"create index on {relation} ({quote_ident(c)})" for c, _, _ in shape.foreign_keys]
        for statement in [*statements, f"analyze {relation}"]:
            conn.execute(statement)

    todo = sorted(pieces, key=lambda p: -p.rows)
    if not todo:
        return
    with ExitStack() as stack:
        conns = [stack.enter_context(connect(dsn)) for _ in range(max(1, min(threads, len(todo))))]
        for conn in conns:
            conn.execute(f"set maintenance_work_mem = {quote_literal(MAINTENANCE_WORK_MEM)}")
        _share_out(conns, todo, one)


def _share_out(workers: list, items: list, work, after_first=None) -> None:
    """``work(worker, item)`` for every item, in order, each worker (a connection) on one item at a
    time in a thread of its own; ``after_first()`` once the first item is done (a fault point)."""
    with ThreadPoolExecutor(len(workers)) as pool:
        free, running = list(workers), {}
        for item in items:
            if not free:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
                    free.append(running.pop(future))
                if after_first:
                    after_first()
                    after_first = None
            worker = free.pop()
            running[pool.submit(work, worker, item)] = worker
        for future in list(running):
            future.result()
    if after_first:
        after_first()


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

    try:
        yield
    except psycopg.OperationalError as err:
        lost = describe_failure(err, dsn, "publish to")
        raise PostgresUnavailable(
            f"{lost} Nothing was made live: the previous version stays.", lost.retryable
        ) from None


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


def _create_live_tables(conn, shapes: dict[str, Shape], rebuild: set[str]) -> None:
    """(Re)create the ``analytics`` tables in ``rebuild``, empty, with their keys: a table of the earlier
    layout's views, or of another shape, is dropped first (``_tables_to_rebuild`` made sure that no view
    outside ``analytics`` depends on it; dbt-postgres's views there are rebuilt after every publish)."""
    if not rebuild:
        return
    found = dict(
        conn.execute(
            "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s",
            (LIVE_SCHEMA,),
        ).fetchall()
    )
    # Dropping a partitioned table drops its months: detach them first, they may be kept for a restore.
    for name in _dependency_order(shapes)[::-1]:
        if name not in rebuild or name not in found:
            continue
        if found[name] == "p":
            for (part,) in conn.execute(
                _PARTITIONS_OF,
                (f"{LIVE_SCHEMA}.{quote_ident(name)}",),
            ).fetchall():
                _detach(conn, name, part)
        kind = "view" if found[name] == "v" else "table"
        conn.execute(f"drop {kind} {_live_table(name)} cascade")
    for name in _dependency_order(shapes):
        if name not in rebuild:
            continue
        shape = shapes[name]
        columns = ",\n    ".join(
            f"{quote_ident(n)} {t}{' not null' if nn else ''}" for n, t, nn in shape.columns
        )
        partition = (
            f" partition by range ({quote_ident(shape.partition_column)})" if shape.partition_column else ""
        )
        conn.execute(f"create table {_live_table(name)} (\n    {columns}\n){partition}")
        if shape.primary_key:
            cols = ", ".join(quote_ident(c) for c in shape.primary_key)
            conn.execute(f"alter table {_live_table(name)} add primary key ({cols})")
        for column, target, target_column in shape.foreign_keys:
            conn.execute(
                f"alter table {_live_table(name)} add foreign key ({quote_ident(column)}) "
                f"references {_live_table(target)} ({quote_ident(target_column)})"
            )
            conn.execute(f"create index on {_live_table(name)} ({quote_ident(column)})")


def _dependency_order(shapes: dict[str, Shape]) -> list[str]:
    """Table names, each after the tables its foreign keys reference."""
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name in path or name not in shapes:
            return
        for _, target, _ in shapes[name].foreign_keys:
            visit(target, (*path, name))
        order.append(name)

    for name in sorted(shapes):
        visit(name, ())
    return order


def _swap_to(conn, shapes: dict[str, Shape], desired: dict, current: dict) -> None:
    """Bring the ``analytics`` tables from the pieces ``current`` to the pieces ``desired`` (each: table
    -> piece key -> relation): whole tables upserted (referenced tables first), months swapped, then
    rows gone from whole tables deleted (referencing tables first), so every foreign key holds."""
    order = _dependency_order(shapes)
    whole = [
        name
        for name in order
        if not shapes[name].partition_column
        and desired.get(name, {}).get(WHOLE) != current.get(name, {}).get(WHOLE)
    ]
    swaps = {}
    for name in order:
        if shapes[name].partition_column:
            attached = {
                part for (part,) in conn.execute(_PARTITIONS_OF, (f"{LIVE_SCHEMA}.{quote_ident(name)}",))
            }
            wanted = {relation: key for key, relation in desired.get(name, {}).items()}
            if attached != set(wanted):
                swaps[name] = (
                    sorted(attached - set(wanted)),
                    {r: wanted[r] for r in sorted(set(wanted) - attached)},
                )
    # A query holding a partitioned table must not see its months change under it: ATTACH alone locks
    # the table only against other DDL, and a query planned with the old months that took its snapshot
    # after the commit would read them with the new dimensions. So lock each table whose months change,
    # exclusively, until the commit. A detached month's foreign keys are dropped, which locks its
    # dimensions exclusively too. Take all of it first, facts before dimensions, as a query joining
    # them takes them: a reader then waits for the go-live (or the go-live for it), not both.
    if swaps:
        detaching = {name for name, (gone, _) in swaps.items() if gone}
        targets = sorted({t for name in detaching for _, t, _ in shapes[name].foreign_keys} - set(swaps))
        tables = ", ".join(_live_table(t) for t in [*sorted(swaps), *targets])
        conn.execute(f"lock table {tables} in access exclusive mode")
    for name in whole:
        _upsert(conn, shapes[name], desired[name][WHOLE])
    for name, (gone, added) in swaps.items():
        for part in gone:
            _detach(conn, name, part)
        for relation, key in added.items():
            low, high = _month_bounds(key)
            conn.execute(
                f"alter table {_live_table(name)} attach partition {_relation(relation)} "
                f"for values from ({low}) to ({high})"
            )
    for name in whole[::-1]:
        _delete_gone(conn, shapes[name], desired[name][WHOLE])


def _detach(conn, table: str, part: str) -> None:
    """Detach a month from ``analytics.<table>``; it keeps its rows and keys, not the foreign keys
    (they would hold the dimensions' rows it refers to)."""
    conn.execute(f"alter table {_live_table(table)} detach partition {_relation(part)}")
    for (name,) in conn.execute(
        "select conname from pg_constraint where conrelid = to_regclass(%s) and contype = 'f'",
        (_relation(part),),
    ).fetchall():
        conn.execute(f"alter table {_relation(part)} drop constraint {quote_ident(name)}")


def _upsert(conn, shape: Shape, source: str) -> None:
    """The rows of ``source`` into ``analytics.<table>``: new keys inserted, changed rows updated."""
    table = _live_table(shape.name)
    cols = ", ".join(quote_ident(c) for c in shape.column_names)
    if not shape.primary_key:
        conn.execute(f"delete from {table}")
        conn.execute(f"insert into {table} ({cols}) select {cols} from {_relation(source)}")
        return
    key = ", ".join(quote_ident(c) for c in shape.primary_key)
    others = [c for c in shape.column_names if c not in shape.primary_key]
    if others:
        sets = ", ".join(f"{quote_ident(c)} = excluded.{quote_ident(c)}" for c in others)
        old = ", ".join(f"live.{quote_ident(c)}" for c in others)
        new = ", ".join(f"excluded.{quote_ident(c)}" for c in others)
        action = f"do update set {sets} where row({old}) is distinct from row({new})"
    else:
        action = "do nothing"
    conn.execute(
        f"insert into {table} as live ({cols}) select {cols} from {_relation(source)} "
        f"on conflict ({key}) {action}"
    )


def _delete_gone(conn, shape: Shape, source: str) -> None:
    if not shape.primary_key:
        return  # replaced whole by _upsert
    match = " and ".join(f"new.{quote_ident(c)} = live.{quote_ident(c)}" for c in shape.primary_key)
    conn.execute(
        f"delete from {_live_table(shape.name)} as live "
        f"where not exists (select from {_relation(source)} as new where {match})"
    )


def _comments(relation: str, spec: TableSpec) -> list[str]:
    """The dbt docs of ``spec`` as PostgreSQL comments on ``relation`` and its columns, where BI tools
    show them."""
    statements = []
    if spec.description:
        statements.append(f"comment on table {relation} is {quote_literal(spec.description)}")
    for column, description in spec.columns.items():
        if description:
            statements.append(
                f"comment on column {relation}.{quote_ident(column)} is {quote_literal(description)}"
            )
    return statements


def _drop_unreferenced(conn, kept: list[dict], lock_timeout_ms: int) -> None:
    """Drop the tables of version schemas that neither the live version nor the one before it uses
    (one still being read is left for next time), then the version schemas left empty."""
    import psycopg

    referenced = {e["relation"] for state in kept for ps in state.values() for e in ps.values()}
    tables = conn.execute(
        "select n.nspname || '.' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname ~ %s and c.relkind in ('r', 'p') "
        "and not exists (select from pg_inherits i where i.inhrelid = c.oid)",
        (f"^{LIVE_SCHEMA}_v[0-9]+$",),
    ).fetchall()
    gone = [name for (name,) in tables if name not in referenced]

    def drop(names: list[str]) -> bool:
        try:
            with conn.transaction():
                conn.execute(f"set local lock_timeout = {int(lock_timeout_ms)}")
                conn.execute(f"drop table if exists {', '.join(_relation(n) for n in names)}")
            return True
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DependentObjectsStillExist):
            return False

    # One statement for all (tables of the earlier layout reference each other; each commit is a WAL
    # flush). If one is read now, or a user's view reads it: one by one, until no more can go; the
    # rest is left for next time.
    if gone and not drop(gone):
        progress = True
        while gone and progress:
            progress = False
            for name in list(gone):
                if drop([name]):
                    gone.remove(name)
                    progress = True
    for (schema,) in conn.execute(
        "select nspname from pg_namespace n where nspname ~ %s "
        "and not exists (select from pg_class c where c.relnamespace = n.oid)",
        (f"^{LIVE_SCHEMA}_v[0-9]+$",),
    ).fetchall():
        conn.execute(f"drop schema if exists {quote_ident(schema)}")


def _grant_read_only(conn, role: str) -> None:
    """``role`` may read ``analytics`` and nothing else of the pipeline's.

    REFERENCES as well as SELECT: PostgreSQL's ``information_schema`` lists a table's keys only to a
    role with some privilege other than SELECT on it, and BI tools that read the keys there (rather
    than in ``pg_constraint``) would see no relationships. It lets the role declare foreign keys to
    these tables from a table of its own, and no more; the role owns no schema to create one in.
    """
    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    if not exists:
        conn.execute(f"create role {quote_ident(role)} nologin")
    conn.execute(f"grant usage on schema {LIVE_SCHEMA} to {quote_ident(role)}")
    conn.execute(f"grant select, references on all tables in schema {LIVE_SCHEMA} to {quote_ident(role)}")
    conn.execute(f"revoke all on schema {META_SCHEMA} from {quote_ident(role)}")
    conn.execute(f"revoke create on schema {LIVE_SCHEMA} from {quote_ident(role)}")


def restore_previous(dsn: str, lock_timeout_ms: int = 5000) -> int:
    """Make the previously live version live again; return its number.

    The version being replaced is marked 'rolled_back'. The next pipeline run publishes anew.
    """
    with connect(dsn) as conn:
        take_publish_lock(conn)
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
        release_publish_lock(conn)
    return previous
