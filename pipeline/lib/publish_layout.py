"""The layout of schema ``analytics`` in PostgreSQL: its live tables (created with their keys, foreign
keys, indexes, in dependency order; months detached), taking over an earlier layout (which tables must be
re-created, and the views outside ``analytics`` that would stop that), the dbt docs as comments, and the
BI role's grants.
"""

from __future__ import annotations

import time

from pipeline.lib.postgres import LIVE_SCHEMA, META_SCHEMA
from pipeline.lib.publish_pieces import PublishError, Shape, _LiveVersion, _qualified, _relation
from pipeline.lib.specs import TableSpec, quote_ident, quote_literal

# The partitions of a table (by name): schema.table, as the ledger records them.
_PARTITIONS_OF = (
    "select n.nspname || '.' || c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
    "join pg_namespace n on n.oid = c.relnamespace where i.inhparent = to_regclass(%s)"
)


def _live_table(table: str) -> str:
    return _qualified(LIVE_SCHEMA, table)


def _live_relations(conn) -> dict[str, str]:
    """The relations of ``analytics`` by name, with their kind (``r`` table, ``p`` partitioned, ``v``
    view)."""
    return dict(
        conn.execute(
            "select c.relname, c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = %s",
            (LIVE_SCHEMA,),
        ).fetchall()
    )


def _tables_to_rebuild(conn, shapes: dict[str, Shape], live: _LiveVersion | None) -> set[str]:
    """The tables of ``analytics`` that must be (re)created: missing, a view of the earlier layout, or of
    another shape than the live version's. Fails, before any copy, when views outside ``analytics``
    depend on one (dropping it would drop them)."""
    found = _live_relations(conn)
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


def _create_live_tables(conn, shapes: dict[str, Shape], rebuild: set[str]) -> None:
    """(Re)create the ``analytics`` tables in ``rebuild``, empty, with their keys: a table of the earlier
    layout's views, or of another shape, is dropped first (``_tables_to_rebuild`` made sure that no view
    outside ``analytics`` depends on it; dbt-postgres's views there are rebuilt after every publish)."""
    if not rebuild:
        return
    found = _live_relations(conn)
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


def _detach(conn, table: str, part: str) -> None:
    """Detach a month from ``analytics.<table>``; it keeps its rows and keys, not the foreign keys
    (they would hold the dimensions' rows it refers to)."""
    conn.execute(f"alter table {_live_table(table)} detach partition {_relation(part)}")
    for (name,) in conn.execute(
        "select conname from pg_constraint where conrelid = to_regclass(%s) and contype = 'f'",
        (_relation(part),),
    ).fetchall():
        conn.execute(f"alter table {_relation(part)} drop constraint {quote_ident(name)}")


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


def _execute_all(conn, statements: list[str]) -> None:
    """Run ``statements`` in one round trip and one transaction: DDL and comments come by the hundred,
    and each one alone costs a round trip and, outside a transaction, a commit (a WAL flush)."""
    if statements:
        with conn.transaction():
            conn.execute(";\n".join(statements))


# A partitioned table is analysed again as a whole once the rows swapped in, plus the change in its
# row count, reach this fraction of the rows its last analysis saw (autovacuum's default for a plain
# table, which autovacuum never applies to a partitioned one).
REANALYZE_FRACTION = 0.1


def _tables_to_analyze(
    conn, shapes: dict[str, Shape], rows_now: dict[str, int], rows_swapped_in: dict[str, int]
) -> list[str]:
    """The ``analytics`` tables to analyse after go-live, of those whose rows change (the keys of
    ``rows_swapped_in``). Autovacuum never analyzes a partitioned table itself, only its months:
    without this, a join on the fact is planned blind (seen: a nested loop of minutes where a hash join
    takes a second).

    A partitioned table is analysed as a whole only when it has never been, or has changed by
    ``REANALYZE_FRACTION`` since its last analysis (``reltuples``); a full refresh swaps in every row,
    so it always is. The months swapped in come with their own statistics either way
    (``_add_piece_keys``). The rule dates from when that ANALYZE re-analysed every month (3.9 s for
    the 25 months of the 10× history, most of an incremental publish); ``_analyze_live_tables`` now
    keeps it to the table-wide sample."""
    tables = []
    for table in sorted(rows_swapped_in):
        if shapes[table].partition_column:
            row = conn.execute(
                "select reltuples from pg_class where oid = to_regclass(%s)", (_live_table(table),)
            ).fetchone()
            analyzed_rows = row[0] if row else -1
            changed = abs(rows_now[table] - analyzed_rows) + rows_swapped_in[table]
            if analyzed_rows > 0 and changed < REANALYZE_FRACTION * analyzed_rows:
                continue
        tables.append(table)
    return tables


# A deadlock victim is rolled back whole and tried again (no lock_timeout is set here: a lock is waited for).
ANALYZE_ATTEMPTS = 3


def _analyze_live_tables(conn, tables: list[str]) -> None:
    """ANALYZE each of ``tables`` in ``analytics``, after go-live and outside it.

    A partitioned table's months came with their statistics (``_add_piece_keys``), and a month is never
    written after it was copied (a changed month is a new piece). ANALYZE of the table analyses each
    month again all the same before PostgreSQL 18 (there is no ANALYZE ONLY): 2.4 s of the 2.6 s of
    the real workbook's fact, one month after the other. So in the transaction of that ANALYZE, the
    months' columns that have statistics get target 0, which ANALYZE skips, keeping what they have,
    and their own targets back after it; the table-wide sample is left (0.22 s). The targets and the
    months' column statistics end as they were (ANALYZE still re-estimates each month's row count):
    a manual ANALYZE, or one after a restore from pg_dump, works as PostgreSQL documents it. A column
    without statistics (a month restored from pg_dump, one that an earlier version of the pipeline
    attached and never analysed) is analysed with the table.

    The table and its months are locked first, in the order ANALYZE of the table takes them, so a
    concurrent ANALYZE of it waits instead of deadlocking with the ALTERs. A month owned by a role
    the publisher does not act for is analysed again as before: altering it would fail.

    The version is live by now: a failure here says so, and is not retried as a failed publish."""
    import psycopg

    failed = []
    for table in tables:
        live = _live_table(table)
        for attempt in range(1, ANALYZE_ATTEMPTS + 1):
            try:
                _analyze_keeping_month_statistics(conn, live)
                break
            except psycopg.errors.DeadlockDetected as err:
                if attempt == ANALYZE_ATTEMPTS:
                    failed.append((live, f"{attempt} tries, each a deadlock with another session ({err})"))
                else:
                    time.sleep(attempt)
            except psycopg.Error as err:
                failed.append((live, str(err).strip()))
                break
    if failed:
        raise PublishError(
            "the version went live, but ANALYZE failed for "
            + "; ".join(f"{live}: {why}" for live, why in failed)
            + ". Queries on these tables are planned from their earlier statistics until "
            + " ".join(f"`ANALYZE {live};`" for live, _ in failed)
            + " runs"
        )


def _analyze_keeping_month_statistics(conn, live: str) -> None:
    with conn.transaction():
        conn.execute(f"lock table {live} in share update exclusive mode")
        months: dict[str, list[tuple[str, int]]] = {}
        for month, column, target in conn.execute(
            "select a.attrelid::regclass::text, a.attname, coalesce(a.attstattarget, -1) "
            "from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = i.inhrelid "
            "where i.inhparent = to_regclass(%s) and pg_has_role(c.relowner, 'USAGE') "
            "and a.attnum > 0 and not a.attisdropped and exists (select from pg_stats s "
            "  where s.schemaname = n.nspname and s.tablename = c.relname and s.attname = a.attname "
            "  and not s.inherited) "
            "order by a.attrelid, a.attnum",
            (live,),
        ):
            months.setdefault(month, []).append((column, target))

        def targets(month: str, columns: list[tuple[str, int]], skip: bool) -> str:
            return f"alter table {month} " + ", ".join(
                f"alter column {quote_ident(c)} set statistics {0 if skip else t}" for c, t in columns
            )

        _execute_all(
            conn,
            [targets(m, cs, skip=True) for m, cs in months.items()]
            + [f"analyze {live}"]
            + [targets(m, cs, skip=False) for m, cs in months.items()],
        )
