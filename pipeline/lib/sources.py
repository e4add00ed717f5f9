"""What a source stands for: the exports in a file, a landing folder or a downloaded archive, and the
lake names they get.

Kept free of polars so that scheduling (every no-op run does it) imports nothing heavy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.lib import storage
from pipeline.lib.manifest import workbook_slug
from pipeline.lib.markers import DownloadMarker

# The suffixes a landing folder is scanned for; any other file there is listed as skipped. What a
# file really is comes from its bytes when it is read (readers.py).
SOURCE_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv")


class SourceError(ValueError):
    """The source as a whole cannot be used (no export in a folder, two exports with one lake name)."""


def refuse_identical_exports(sha256_by_export: dict[str, str]) -> None:
    """Exports with the same bytes under two names (a copy) cannot both be built: a line's key is made
    of its export's sha256 and its row, so the copy's lines would take the original's keys. A
    SourceError names them."""
    names_by_sha256: dict[str, list[str]] = {}
    for name, sha256 in sorted(sha256_by_export.items()):
        names_by_sha256.setdefault(sha256, []).append(name)
    for sha256, names in names_by_sha256.items():
        if len(names) > 1:
            raise SourceError(
                f"{' and '.join(names)} are the same file (sha256 {sha256[:12]}...): their lines would "
                "count twice. Keep one of them in the landing folder, and run again."
            )


@dataclass
class SourceListing:
    exports: list[Path | str]  # local files, or s3:// URLs
    skipped: dict[str, str] = field(default_factory=dict)  # file name -> why it is not read


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def list_sources(source: str, download_marker: Path | str | None = None) -> SourceListing | None:
    """The exports ``source`` stands for: a file, a landing folder (local, or an ``s3://`` prefix), or
    the exports a URL's download unpacked (listed in ``download_marker``); None while that download has
    not happened."""
    if is_url(source):
        marker = DownloadMarker.read(download_marker) if download_marker else None
        if not marker:
            return None
        return SourceListing([p if storage.is_remote(p) else Path(p) for p in marker.workbooks])
    if storage.is_remote(source):
        return list_remote(source.rstrip("/"))
    path = Path(source).expanduser().resolve()
    return list_folder(path) if path.is_dir() else SourceListing([path])


def is_export_name(name: str) -> bool:
    return name.lower().endswith(SOURCE_SUFFIXES)


def list_folder(folder: Path) -> SourceListing:
    """The exports of a landing folder (sorted), and every other entry with the reason it is passed over."""
    exports: list[Path] = []
    skipped: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("~$"):
            skipped[path.name] = "lock file of a workbook open in Excel"
        elif path.name.startswith("."):
            skipped[path.name] = "hidden file"
        elif path.is_dir():
            skipped[path.name] = "a folder (sub-folders are not read)"
        elif not is_export_name(path.name):
            skipped[path.name] = f"not an export ({', '.join(SOURCE_SUFFIXES)})"
        else:
            exports.append(path)
    if not exports:
        seen = f" (it holds {', '.join(list(skipped)[:5])})" if skipped else " (it is empty)"
        raise SourceError(f"the source folder {folder} holds no {', '.join(SOURCE_SUFFIXES)} export{seen}")
    check_distinct_slugs([p.name for p in exports], folder)
    return SourceListing(exports, skipped)


def list_remote(source: str) -> SourceListing:
    """An ``s3://`` export, or the exports of an ``s3://`` landing prefix (objects right under it)."""
    if is_export_name(source):
        return SourceListing([source])
    store = storage.open_store(source)
    exports: list[str] = []
    skipped: dict[str, str] = {}
    for key in sorted(store.listing("")):
        name = key.rsplit("/", 1)[-1]
        if "/" in key:
            skipped.setdefault(key.split("/", 1)[0], "a folder (sub-folders are not read)")
        elif name.startswith(("~$", ".")):
            skipped[name] = "hidden or lock file"
        elif not is_export_name(name):
            skipped[name] = f"not an export ({', '.join(SOURCE_SUFFIXES)})"
        else:
            exports.append(store.location(key))
    if not exports:
        raise SourceError(f"the source {source}/ holds no {', '.join(SOURCE_SUFFIXES)} export")
    check_distinct_slugs([storage.name_of(e) for e in exports], source)
    return SourceListing(exports, skipped)


def check_distinct_slugs(names: list[str], where: Path | str) -> None:
    """Each export owns the lake files named by its slug: two exports with one slug (``Sales 2011.xlsx``
    and ``sales_2011.csv``, or ``2010/x.xlsx`` and ``2011/x.xlsx`` in an archive) would overwrite each
    other's lines."""
    by_slug: dict[str, list[str]] = {}
    for name in names:
        by_slug.setdefault(workbook_slug(Path(name)), []).append(name)
    clashes = ["; ".join(group) for group in by_slug.values() if len(group) > 1]
    if clashes:
        raise SourceError(
            f"{where}: these exports would share one set of lake files: {' | '.join(clashes)}. "
            "Rename one of each so that their names differ in more than case, punctuation and extension."
        )


def unpack_exports(archive: Path, target_dir: Path) -> list[Path]:
    """The exports of a downloaded archive, each written whole into ``target_dir``; a file that is not a
    zip archive is the export itself."""
    import zipfile

    if not zipfile.is_zipfile(archive):
        return [archive]
    unpacked = []
    with zipfile.ZipFile(archive) as zipped:
        members = [m for m in zipped.namelist() if is_export_name(m)]
        if not members:
            raise SourceError(f"{archive}: the archive holds no {', '.join(SOURCE_SUFFIXES)} export")
        check_distinct_slugs(members, archive)
        for member in members:
            dest = target_dir / Path(member).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.part")
            with zipped.open(member) as src, open(tmp, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            os.replace(tmp, dest)
            unpacked.append(dest)
    return unpacked
