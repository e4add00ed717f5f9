"""Copying the planned pieces into the version schema ``analytics_v<N>`` and readying them there: their
tables (a month's bounds as a CHECK constraint), their rows from the warehouse, the checks against the
warehouse and the dbt contracts, then primary keys, indexes and statistics, several pieces at once.
"""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from contextlib import ExitStack

from pipeline.lib.faults import fault_point
from pipeline.lib.postgres import connect
from pipeline.lib.publish_layout import _execute_all
from pipeline.lib.publish_pieces import Piece, PublishError, Shape, _month_bounds, _relation
from pipeline.lib.specs import PG_CATALOG_NAMES, TableSpec, pg_type, quote_ident, quote_literal
from pipeline.lib.transfer import WarehouseBridge, copy_rows

# An index build sorts every row of its table. At PostgreSQL's default (64MB) a build gets one parallel
# worker (each participant needs 32MB) and larger tables sort on disk; what that costs as sources grow
# is measured in docs/speed.md. A constant, not a setting: it is per session, taken only while
# sorting, and needs no privilege.
MAINTENANCE_WORK_MEM = "512MB"


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
    table has (ATTACH adopts them instead of building them in the go-live transaction) and its planner
    statistics. Foreign keys come with ATTACH, or live on the table a whole piece is synced into.
    ``threads`` connections at once: an index build, like an ANALYZE, is mostly one CPU's work. A
    month's statistics are made here, two at a time, and ANALYZE of its table after go-live keeps them
    (``_analyze_live_tables``)."""

    def one(conn, piece: Piece) -> None:
        shape = shapes[piece.table]
        relation = _relation(piece.relation)
        statements = []
        if shape.primary_key:
            cols = ", ".join(quote_ident(c) for c in shape.primary_key)
            statements.append(f"alter table {relation} add primary key ({cols})")
        if shape.partition_column:
            statements += [f"create index on {relation} ({quote_ident(c)})" for c, _, _ in shape.foreign_keys]
            statements.append(f"analyze {relation}")
        for statement in statements:
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
