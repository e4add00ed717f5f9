"""The lake's layout and its manifests: what counts as a complete conversion.

Kept free of polars and pyarrow so that checking completeness (every no-op run does) imports nothing heavy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.lib.download import sha256_file
from pipeline.lib.files import read_json

MANIFEST_VERSION = 1


def workbook_slug(path: Path) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")
    return slug or "workbook"


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


def manifest_is_current(path: Path, workbook: Path) -> bool:
    """True when the manifest describes this very workbook and every file it lists is in place.

    Size and mtime stand in for the workbook's checksum so that a no-op run stays fast; a touched but
    unchanged workbook is re-hashed and still counts as converted.
    """
    manifest = read_manifest(path)
    if manifest is None or not workbook.is_file():
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
