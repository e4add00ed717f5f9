"""The lake's layout and its manifests: what counts as a complete conversion.

Kept free of polars and pyarrow so that checking completeness (every no-op run does) imports nothing heavy.
The lake is a local folder or an ``s3://`` location (pipeline/lib/storage.py); on a store without rename,
the manifest is what makes a conversion count: written last, and valid only while every file it lists
is there with the size it recorded.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, Self

from pipeline.lib import storage
from pipeline.lib.markers import Marker

# 2: CSV and .xls sources, conversion rules in the manifest, new reject reasons. An older manifest
# does not count, so every export is converted again under the current rules.
# 3: a customer id below 0 is rejected (invalid_customer_id: -1 is the guest member's key), and 0
# reads as no customer.
# 4: a reject keeps its quantity and price when they type (its money is at stake), and the manifest
# counts the money of every row whose amount is known (``source_amount``). A price with two signs
# (``+-1.5``) and the smallest Int64 as a quantity are rejected.
MANIFEST_VERSION = 4


def workbook_slug(path: Path | str) -> str:
    """The name of an export's lake files: its file name's letters and digits in any script, lower case,
    runs of anything else as ``_`` (``Sales 2011.xlsx`` -> ``sales_2011``, ``销售.xlsx`` -> ``销售``). A
    name with no letter or digit gets a hash of itself, so two such names never share lake files."""
    name = PurePosixPath(storage.name_of(path))
    stem = unicodedata.normalize("NFKC", name.stem).casefold()
    slug = re.sub(r"[\W_]+", "_", stem).strip("_")
    return slug or "export_" + hashlib.sha256(name.name.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class LakePaths:
    """Where each export's files lie in the lake; every path a manifest lists is relative to ``lake_dir``
    (a local folder, or an ``s3://`` URL)."""

    lake_dir: Path | str

    LINES = "invoice_lines"
    REJECTS = "_rejects"

    @property
    def invoice_lines(self) -> Path:
        return self.lake_dir / self.LINES

    @property
    def rejects(self) -> Path:
        return self.lake_dir / self.REJECTS

    @property
    def manifests(self) -> Path:
        return self.lake_dir / "_manifests"

    @property
    def staging(self) -> Path:
        """Where a conversion writes before it renames into place (the lake's filesystem)."""
        return self.lake_dir / "_tmp"

    @property
    def is_remote(self) -> bool:
        return storage.is_remote(self.lake_dir)

    @property
    def store(self) -> storage.Store:
        return storage.open_store(self.lake_dir)

    def location(self, rel: str) -> Path | str:
        """A file of the lake: a Path in a local lake, an ``s3://`` URL in a remote one."""
        return storage.join(self.lake_dir, rel) if self.is_remote else Path(self.lake_dir) / rel

    def manifest_key(self, workbook: Path | str) -> str:
        return f"_manifests/{workbook_slug(workbook)}.json"

    def manifest_for(self, workbook: Path | str) -> Path | str:
        return self.location(self.manifest_key(workbook))

    def read_manifest(self, workbook: Path | str) -> LakeManifest | None:
        return LakeManifest.read(self.manifest_for(workbook))

    def line_file(self, slug: str, year: int, month: int) -> str:
        return f"{self.LINES}/invoice_year={year}/invoice_month={month:02d}/part-{slug}.parquet"

    def reject_file(self, slug: str) -> str:
        return f"{self.REJECTS}/{slug}.parquet"


@dataclass(frozen=True)
class LakeManifest(Marker):
    """``<lake>/_manifests/<export>.json``, written last by a conversion: the export it describes (by
    checksum, size and mtime), the rules it was converted under, its figures and its files."""

    manifest_version: int
    workbook: str
    workbook_sha256: str
    workbook_bytes: int
    workbook_mtime_ns: int
    format: str
    kind: str
    rules: dict[str, str]
    source_rows: int
    source_amount: str  # exact decimal: the money of the lines and of the rejects that kept theirs
    lake_rows: int
    rejected_rows: int
    rejects_by_reason: dict[str, int]
    lines_by_month: dict[str, int]  # "YYYY-MM" -> lines
    schema: dict[str, str]
    files: dict[str, dict[str, Any]]  # path relative to the lake -> rows, bytes, sha256
    seconds: float = 0.0
    sheets: dict[str, int] = field(default_factory=dict)  # sheet -> data rows read
    notes: list[str] = field(default_factory=list)
    skipped_sheets: dict[str, str] = field(default_factory=dict)  # sheet -> why it holds no lines

    @classmethod
    def read(cls, path: Path | str) -> Self | None:
        manifest = super().read(path)
        return manifest if manifest and manifest.manifest_version == MANIFEST_VERSION else None

    def files_under(self, folder: str) -> list[str]:
        return [rel for rel in self.files if rel.startswith(f"{folder}/")]


def manifest_is_current(
    path: Path | str, workbook: Path | str, rules: dict[str, str], *, trust_mtime: bool = True
) -> bool:
    """True when the manifest at ``path`` describes this very workbook, converted under these ``rules``
    (``ConversionRules.as_dict()``), and every file it lists is in place with the size it recorded.

    Size and mtime stand in for the workbook's checksum so that a no-op run stays fast; a touched but
    unchanged workbook is re-hashed and still counts as converted. With ``trust_mtime`` False (a full
    refresh) the checksum is always compared: a file replaced with the same size and mtime is found
    too. On S3 the files' sizes come from one listing per top folder of the lake
    (storage.S3Store.sizes), not one request per file.
    """
    manifest = LakeManifest.read(path)
    if manifest is None or manifest.rules != rules:
        return False
    lake_dir = path.rsplit("/", 2)[0] if storage.is_remote(path) else Path(path).parent.parent
    found = storage.open_store(lake_dir).sizes(manifest.files)
    if any(found.get(rel) != meta["bytes"] for rel, meta in manifest.files.items()):
        return False
    got = storage.stat(workbook)
    if got is None or got.size != manifest.workbook_bytes:
        return False
    if trust_mtime and got.mtime_ns == manifest.workbook_mtime_ns:
        return True
    return _sha256_of(str(workbook), got.size, got.mtime_ns) == manifest.workbook_sha256


@functools.cache
def _sha256_of(workbook: str, size: int, mtime_ns: int) -> str:
    """The workbook's sha256, once per process for each size and time it has (Luigi asks whether a
    conversion is complete several times a run; on S3 each hash reads the whole object)."""
    return storage.sha256_of(workbook)


def conversion_figures(manifests: list[LakeManifest]) -> dict[str, Any]:
    """What the conversions of a source's exports add up to, as the build marker records them."""
    rejects: dict[str, int] = {}
    for m in manifests:
        for reason, n in m.rejects_by_reason.items():
            rejects[reason] = rejects.get(reason, 0) + n
    return {
        "source_sha256": [m.workbook_sha256 for m in manifests],
        "source_rows": sum(m.source_rows for m in manifests),
        "source_amount": str(sum((Decimal(m.source_amount) for m in manifests), Decimal("0.000"))),
        "lake_rows": sum(m.lake_rows for m in manifests),
        "conversion_rejects_by_reason": rejects,
        "convert_seconds": round(sum(m.seconds for m in manifests), 2),
        "skipped_sheets": {
            f"{storage.name_of(m.workbook)} / {sheet}": why
            for m in manifests
            for sheet, why in m.skipped_sheets.items()
        },
    }
