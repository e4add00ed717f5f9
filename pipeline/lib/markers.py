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
    """``data/warehouse/retail.build.json``: the warehouse version dbt built and tested, and the figures
    of the conversions it was built from."""

    warehouse_version: str
    source: str
    workbooks: list[str]
    source_sha256: list[str]
    source_rows: int
    lake_rows: int
    conversion_rejects_by_reason: dict[str, int]
    convert_seconds: float
    dbt: dict[str, Any]  # seconds, dbt_results (counts by kind and status)
    unknown_values: list[dict[str, Any]] = field(default_factory=list)
    skipped_files: dict[str, str] = field(default_factory=dict)  # file name -> why it is not read
    skipped_sheets: dict[str, str] = field(default_factory=dict)  # "<export> / <sheet>" -> why


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


@dataclass(frozen=True)
class VerifiedMarker(Marker):
    """``data/warehouse/retail.verified.json``: dbt-postgres passed on the live tables of this version,
    and built the BI views, with this project."""

    warehouse_version: str
    seconds: float
    dbt_results: dict[str, int]
    # The checksum of the dbt-postgres project that ran: a change to its tests or BI views runs it again.
    olap_project: str = ""
