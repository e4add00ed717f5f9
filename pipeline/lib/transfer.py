"""Rows from the DuckDB warehouse into PostgreSQL through DuckDB's postgres extension (binary COPY),
installed offline from the pinned ``duckdb-extension-postgres-scanner`` wheel: the bridge between the
two databases, and the copy of one table.

The publish decides what to copy where (which months: ``publish_pieces.py``; over how many cursors at
once: ``publish_copy.py``) and checks it afterwards.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.lib.postgres import CONNECT_OPTIONS, describe_failure, scrub, with_libpq_options
from pipeline.lib.specs import quote_ident, quote_literal


class TransferError(RuntimeError):
    """DuckDB could not move the rows (a lost connection is PostgresUnavailable instead)."""


# How libpq says, through DuckDB's postgres extension, that the server went away or never answered.
_CONNECTION_LOST = re.compile(
    r"server closed the connection|connection to server|terminating connection|Connection refused|"
    r"could not connect|no connection to the server|SSL SYSCALL|timeout expired|the database system is",
    re.IGNORECASE,
)


class WarehouseBridge:
    """DuckDB with the warehouse attached read-only and PostgreSQL attached through the extension."""

    def __init__(self, warehouse_path: Path, dsn: str, max_connections: int):
        import duckdb
        import duckdb_extensions

        self.dsn = dsn
        self.con = duckdb.connect()
        try:
            duckdb_extensions.import_extension("postgres_scanner", con=self.con)
            self.con.execute("load postgres")
            self.con.execute(f"set pg_connection_limit = {int(max_connections)}")
            self.con.execute(f"attach {quote_literal(str(warehouse_path))} as wh (read_only)")
            # Read before PostgreSQL is attached: with it attached, every information_schema query
            # also lists PostgreSQL's catalog (about 20 ms a table).
            self.columns_of = self._warehouse_columns()
            self.rows_of = dict(
                self.execute(
                    "select table_name, estimated_size from duckdb_tables() "
                    "where database_name = 'wh' and schema_name = 'main'"
                ).fetchall()
            )
            self.execute(
                f"attach {quote_literal(with_libpq_options(dsn, **CONNECT_OPTIONS))} as pg (type postgres)"
            )
        except Exception:
            self.close()
            raise

    def execute(self, sql: str, params=None):
        import duckdb

        try:
            return self.con.execute(sql, params)
        except duckdb.Error as err:
            # DuckDB's messages may quote the connection string (never let the password through) and
            # carry the extension's C++ stack trace after the first line (the cause is in that line).
            if _CONNECTION_LOST.search(str(err)):
                raise describe_failure(err, self.dsn, "copy to") from None
            message = scrub(str(err), self.dsn).strip().splitlines()[0]
            raise TransferError(f"DuckDB → PostgreSQL failed: {message}") from None

    def _warehouse_columns(self) -> dict[str, list[tuple[str, str]]]:
        """table -> (column, DuckDB type), in order, of every table in the warehouse."""
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, dtype in self.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_catalog = 'wh' and table_schema = 'main' order by table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append((column, dtype))
        return columns

    @contextmanager
    def cursor(self) -> Iterator[WarehouseBridge]:
        """Another connection to this DuckDB, with the same databases attached, for another thread."""
        twin = copy.copy(self)
        twin.con = self.con.cursor()
        try:
            yield twin
        finally:
            twin.close()

    def close(self) -> None:
        self.con.close()


def copy_rows(duck: WarehouseBridge, relation: str, table: str, columns: list[str], where: str = "") -> None:
    """The rows of warehouse ``table`` (those ``where`` selects) into PostgreSQL's ``relation``
    (``schema.name``), by the extension's binary COPY."""
    schema, name = relation.split(".", 1)
    cols = ", ".join(quote_ident(c) for c in columns)
    duck.execute(
        f"insert into pg.{quote_ident(schema)}.{quote_ident(name)} ({cols}) "
        f"select {cols} from wh.main.{quote_ident(table)} {where}"
    )
