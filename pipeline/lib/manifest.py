"""The lake's layout and its manifests: what counts as a complete conversion.

Kept free of polars and pyarrow so that checking completeness (every no-op run does) imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from pipeline.lib.download import sha256_file
from pipeline.lib.files import read_json

# 2: CSV and .xls sources, conversion rules in the manifest, new reject reasons. An older manifest
# does not count, so every export is converted again under the current rules.
MANIFEST_VERSION = 2


def workbook_slug(path: Path) -> str:
    """The name of an export's lake files: its file name's letters and digits in any script, lower case,
    runs of anything else as ``_`` (``Sales 2011.xlsx`` -> ``sales_2011``, ``销售.xlsx`` -> ``销售``). A
    name with no letter or digit gets a hash of itself, so two such names never share lake files."""
    stem = unicodedata.normalize("NFKC", path.stem).casefold()
    slug = re.sub(r"[\W_]+", "_", stem).strip("_")
    return slug or "export_" + hashlib.sha256(path.name.encode()).hexdigest()[:10]


@dataclass(frozen=True)
class LakePaths:
    lake_dir: Path

    @property
    def invoice_lines(self) -> Path:
        return self.lake_dir / "invoice_lines"

    @property
    def rejects(self) -> Path:
        return self.lake_dir / "_rejects"

    @property
    def manifests(self) -> Path:
        return self.lake_dir / "_manifests"

    def manifest_for(self, workbook: Path) -> Path:
        return self.manifests / f"{workbook_slug(workbook)}.json"


def read_manifest(path: Path) -> dict | None:
    manifest = read_json(path)
    return manifest if manifest and manifest.get("manifest_version") == MANIFEST_VERSION else None


def manifest_is_current(path: Path, workbook: Path, rules: dict[str, str]) -> bool:
    """True when the manifest describes this very workbook, converted under these ``rules``
    (``ConversionRules.as_dict()``), and every file it lists is in place.

    Size and mtime stand in for the workbook's checksum so that a no-op run stays fast; a touched but
    unchanged workbook is re-hashed and still counts as converted.
    """
    manifest = read_manifest(path)
    if manifest is None or not workbook.is_file() or manifest.get("rules") != rules:
        return False
    lake_dir = path.parent.parent
    for rel, meta in manifest["files"].items():
        try:
            if (lake_dir / rel).stat().st_size != meta["bytes"]:
                return False
        except FileNotFoundError:
            return False
    stat = workbook.stat()
    if stat.st_size != manifest["workbook_bytes"]:
        return False
    if stat.st_mtime_ns == manifest["workbook_mtime_ns"]:
        return True
    return sha256_file(workbook) == manifest["workbook_sha256"]
