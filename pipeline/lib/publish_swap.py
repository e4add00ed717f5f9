"""Bringing the ``analytics`` tables from one version's pieces to another's, inside the caller's
transaction (go-live and restore): whole tables upserted and their gone rows deleted, months detached and
attached; and, after go-live, dropping the pieces that no kept version uses.
"""

from __future__ import annotations

from pipeline.lib.postgres import LIVE_SCHEMA
from pipeline.lib.publish_layout import _PARTITIONS_OF, _dependency_order, _detach, _live_table
from pipeline.lib.publish_pieces import WHOLE, Shape, _month_bounds, _relation
from pipeline.lib.specs import quote_ident


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
