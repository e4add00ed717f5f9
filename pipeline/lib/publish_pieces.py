"""What a publish copies: the published tables' shapes, their pieces (a month of a partitioned table, or
a whole table) with fingerprints and month bounds, and the plan that marks the pieces differing from the
live version's; with the names of the version schema and the tables that hold the pieces.

Why pieces, and how a fingerprint is made: ``publish.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from pipeline.lib.postgres import LIVE_SCHEMA
from pipeline.lib.specs import TableSpec, pg_type, published_foreign_keys, quote_ident, quote_literal
from pipeline.lib.transfer import WarehouseBridge

# The key of the one piece of a table that is not partitioned.
WHOLE = "all"


# Raised by every step of a publish or a restore. Its home is this module, which the other publish_*
# modules import, so that none of them imports publish.py (which re-exports it for callers).
class PublishError(RuntimeError):
    pass


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


def _version_schema(version: int) -> str:
    return f"{LIVE_SCHEMA}_v{version}"


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
