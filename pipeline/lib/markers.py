"""The JSON files that stages leave for each other: their shapes, written and read in one place.

A stage writes its marker last and whole (``write_json_atomic``), so the marker's presence says the
stage's work is whole. A marker that is missing, torn, or written by an older pipeline without a field
that the current one needs reads as None: the stage that writes it runs again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from pipeline.lib.files import read_json, write_json_atomic


@dataclass(frozen=True)
class Marker:
    """Base of the marker shapes: read and write one as a JSON object with the dataclass's fields."""

    @classmethod
    def read(cls, path: Path) -> Self | None:
        data = read_json(path)
        if not isinstance(data, dict):
            return None
        known = {f.name: f for f in dataclasses.fields(cls)}
        needed = {
            name
            for name, f in known.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        if not needed <= data.keys():
            return None
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path) -> None:
        write_json_atomic(path, dataclasses.asdict(self))


@dataclass(frozen=True)
class DownloadMarker(Marker):
    """``data/raw/<name>.download.json``: a download and the exports unpacked from it."""

    url: str
    archive: str
    archive_sha256: str
    archive_bytes: int
    attempts: int
    workbooks: list[str]
    workbook_sha256: dict[str, str]


@dataclass(frozen=True)
class BuildMarker(Marker):
    """``data/warehouse/retail.build.json``: the warehouse version dbt built and tested, what it holds
    (the next build's mode and change set follow from that), the figures of the conversions it was
    built from (``source_rows``, ``source_amount``, ``lake_rows``, rejects: every export held) and what
    this build did (mode, why, exports added/replaced/removed, lines loaded and removed,
    ``convert_seconds`` of the exports it added or replaced)."""

    warehouse_version: str
    source: str
    workbooks: list[str]
    source_sha256: list[str]
    source_rows: int
    source_amount: str  # exact decimal (manifest.LakeManifest.source_amount, summed)
    lake_rows: int
    conversion_rejects_by_reason: dict[str, int]
    convert_seconds: float
    dbt: dict[str, Any]  # seconds, dbt_results (counts by kind and status)
    unknown_values: list[dict[str, Any]] = field(default_factory=list)
    skipped_files: dict[str, str] = field(default_factory=dict)  # file name -> why it is not read
    skipped_sheets: dict[str, str] = field(default_factory=dict)  # "<export> / <sheet>" -> why
    # What the warehouse holds. A marker without them (older pipeline) makes the next build a full one.
    exports: dict[str, str] = field(default_factory=dict)  # export file name -> sha256
    export_rows: dict[str, int] = field(default_factory=dict)  # export file name -> source rows
    export_months: dict[str, list[str]] = field(default_factory=dict)  # export -> its lines' "YYYY-MM"
    dbt_project: str = ""  # fingerprint of dbt/warehouse
    model_settings: dict[str, Any] = field(default_factory=dict)  # warehouse.model_settings
    # What this build did: "full" or "incremental", why, the change set, source rows read from the
    # lake and source rows taken out (of exports removed, or re-exported: their previous content).
    mode: str = ""
    mode_reason: str = ""
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    lines_loaded: int = 0
    lines_removed: int = 0
    # The invoice months ("YYYY-MM") whose fact lines this build may have changed: those of the changed
    # exports' lines, old and new (a line of another export that turns kept or repeat shares its fields,
    # so its month, with a line of a changed export). A full build: every month held.
    months_touched: list[str] = field(default_factory=list)
    built_at: float = 0.0  # time.time() when the marker was written
    # Written by handoff.copy_to_local: this worker's warehouse file is a copy of another worker's build,
    # holding only the published models, so it is no base for an incremental build.
    copied_from_store: bool = False


@dataclass(frozen=True)
class PublishedMarker(Marker):
    """``data/warehouse/retail.published.json``: what the last publish made live, from where."""

    published_version: int
    warehouse_version: str
    schema: str
    rows: dict[str, int]
    amounts: dict[str, str]  # "<table>.<column>" -> sum, as text (exact decimals)
    seconds: dict[str, float]
    dsn: str  # redacted
    # What this publish copied (rows per table) and which months of each partitioned table; the rest
    # was live already (pipeline/lib/publish.py).
    rows_copied: dict[str, int] = field(default_factory=dict)
    months_touched: dict[str, list[str]] = field(default_factory=dict)
    full_refresh: bool = False  # every piece copied, whatever the live fingerprints said
    published_at: float = 0.0  # time.time() when the marker was written


@dataclass(frozen=True)
class VerifiedMarker(Marker):
    """``data/warehouse/retail.verified.json``: dbt-postgres passed on the live tables of this version,
    and built the BI views, with this project."""

    warehouse_version: str
    seconds: float
    dbt_results: dict[str, int]
    # The checksum of the dbt-postgres project that ran: a change to its tests or BI views runs it again.
    olap_project: str = ""
    verified_at: float = 0.0  # time.time() when the marker was written
