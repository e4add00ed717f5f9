"""What to publish, read from the dbt manifest, so that the dbt YAML stays the one place that defines it:
the mart tables with their columns, descriptions, contract types, primary, not-null and foreign keys; and
how a DuckDB type is spelt in PostgreSQL.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# The folders of the warehouse project whose models are published (dbt's fqn[1]).
PUBLISHED_FOLDERS = ("marts", "quality", "reports")

# A published table with this column, not null and a foreign key to the calendar, is partitioned by
# its month in PostgreSQL (range of yyyymmdd keys): a publish copies only the months that changed.
PARTITION_COLUMN = "date_key"


@dataclass
class TableSpec:
    name: str
    description: str
    columns: dict[str, str] = field(default_factory=dict)  # name -> description
    contract_types: dict[str, str] = field(default_factory=dict)  # name -> dbt data_type
    primary_key: list[str] = field(default_factory=list)
    not_null: set[str] = field(default_factory=set)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # column, table, column

    @property
    def partition_column(self) -> str | None:
        """The column whose month partitions the table in PostgreSQL, or None (one piece)."""
        keyed = any(column == PARTITION_COLUMN for column, _, _ in self.foreign_keys)
        return PARTITION_COLUMN if keyed and PARTITION_COLUMN in self.not_null else None

    @property
    def live_primary_key(self) -> list[str]:
        """The primary key in PostgreSQL: PostgreSQL requires a partitioned table's primary key to hold
        the partition column (the dbt key alone stays unique: dbt tests it)."""
        extra = self.partition_column
        if self.primary_key and extra and extra not in self.primary_key:
            return [*self.primary_key, extra]
        return list(self.primary_key)


def read_table_specs(manifest_path: Path, folders: tuple[str, ...]) -> list[TableSpec]:
    manifest = json.loads(manifest_path.read_text())
    specs: dict[str, TableSpec] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or node["fqn"][1] not in folders:
            continue
        spec = TableSpec(node["name"], node.get("description", "").strip())
        for col in node["columns"].values():
            spec.columns[col["name"]] = col.get("description", "").strip()
            if col.get("data_type"):
                spec.contract_types[col["name"]] = col["data_type"]
            # The key is declared in meta (see dbt/warehouse/models/marts/_marts__models.yml for why).
            if col.get("config", {}).get("meta", {}).get("primary_key"):
                spec.primary_key.append(col["name"])
            if any(c["type"] == "not_null" for c in col.get("constraints", [])):
                spec.not_null.add(col["name"])
        specs[node["unique_id"]] = spec
    for node in manifest["nodes"].values():
        child = specs.get(node.get("attached_node") or "")
        if node["resource_type"] == "test" and child:
            child.foreign_keys.extend(_references(node))
    order = {"dim": 0, "fct": 1}
    return sorted(specs.values(), key=lambda s: (order.get(s.name.split("_")[0], 2), s.name))


def _references(test: dict) -> list[tuple[str, str, str]]:
    """The references a test declares, as (column, table, column): dbt's relationships test on a column,
    or the ``references`` of the warehouse's checks test (dbt/warehouse/macros/test_checks.sql),
    ``{column: "ref('parent')"}`` or ``{column: {to: "ref('parent')", field: parent_column}}``."""
    meta = test.get("test_metadata") or {}
    kwargs = meta.get("kwargs", {})
    if meta.get("name") == "relationships":
        declared = {test["column_name"]: kwargs}
    elif meta.get("name") == "checks":
        declared = {
            column: parent if isinstance(parent, dict) else {"to": parent}
            for column, parent in (kwargs.get("references") or {}).items()
        }
    else:
        return []
    found = []
    for column, parent in declared.items():
        target = re.search(r"ref\('([^']+)'\)", parent.get("to", ""))
        if target:
            found.append((column, target.group(1), parent.get("field", column)))
    return found


def published_foreign_keys(spec: TableSpec, specs: list[TableSpec]) -> list[tuple[str, str, str]]:
    """The foreign keys of ``spec`` that the publish creates: those whose table is published too."""
    published = {s.name for s in specs}
    return [fk for fk in spec.foreign_keys if fk[1] in published]


def published_keys(specs: list[TableSpec]) -> list[dict]:
    """Per published table, how many primary keys (``p``: 0 or 1) and foreign keys (``f``) the publish
    gives it, as rows for the PostgreSQL-side test that the live tables carry them."""
    return [
        {"table_name": spec.name, "constraint_type": kind, "expected_count": count}
        for spec in specs
        for kind, count in (
            ("p", int(bool(spec.primary_key))),
            ("f", len(published_foreign_keys(spec, specs))),
        )
    ]


def pg_type(duckdb_type: str) -> str:
    t = duckdb_type.upper().replace(" ", "")
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "numeric")
    return {
        "VARCHAR": "text",
        "BIGINT": "bigint",
        "INTEGER": "integer",
        "SMALLINT": "smallint",
        "BOOLEAN": "boolean",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
        "DOUBLE": "double precision",
        "HUGEINT": "numeric(38,0)",
    }[t]


def quote_ident(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


PG_CATALOG_NAMES = {
    "character varying": "text",
    "timestamp without time zone": "timestamp",
    "double precision": "double precision",
}
