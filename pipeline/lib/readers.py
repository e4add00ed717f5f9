"""Read one source export (.xlsx/.xlsm, .xls or .csv) into sheets of raw text cells.

In: a file. Out: for each sheet that holds an Online Retail header, a frame of text columns in the lake's
names plus ``source_row`` (the spreadsheet row, or the CSV line, of each data row), and the sheets passed
over with the reason. What the file is comes from its bytes, not its name, so a download that saved an
error page, a PDF or a zip without a workbook is named as what it is.

The header may stand below title rows and is matched without regard to case and surrounding spaces; how
it was matched is reported. Cells stay text here: typing (and every reject reason) is ``lines.py``'s.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

# Source column -> lake column, per dataset format.
ONLINE_RETAIL = {
    "InvoiceNo": "invoice_no",
    "StockCode": "stock_code",
    "Description": "description",
    "Quantity": "quantity",
    "InvoiceDate": "invoice_ts",
    "UnitPrice": "unit_price",
    "CustomerID": "customer_id",
    "Country": "country",
}
ONLINE_RETAIL_II = {
    "Invoice": "invoice_no",
    "StockCode": "stock_code",
    "Description": "description",
    "Quantity": "quantity",
    "InvoiceDate": "invoice_ts",
    "Price": "unit_price",
    "Customer ID": "customer_id",
    "Country": "country",
}
FORMATS = {"Online Retail": ONLINE_RETAIL, "Online Retail II": ONLINE_RETAIL_II}
RAW_COLUMNS = list(ONLINE_RETAIL.values())

# Title rows above the header: how far down to look for it.
HEADER_SEARCH_ROWS = 30
CSV_DELIMITERS = (",", ";", "\t")
CSV_CHUNK_LINES = 100_000

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


class SourceFormatError(ValueError):
    """The file cannot be read as an export at all; the message names the file, what it is and what to do."""


@dataclass
class RawSheet:
    name: str
    format_name: str
    frame: pl.DataFrame  # RAW_COLUMNS as text, source_sheet, source_row
    header_row: int  # 1-based row (or line) of the header
    header_note: str | None  # how the header was matched, when not exactly as the format spells it


@dataclass
class RawSource:
    kind: str  # "xlsx", "xls" or "csv"
    sheets: list[RawSheet]
    skipped_sheets: dict[str, str] = field(default_factory=dict)  # sheet -> why it holds no lines
    # Semicolon CSV files write decimals with a comma (European locale): 2,55 is 2.55.
    decimal_comma: bool = False
    encoding: str | None = None
    delimiter: str | None = None


def _normalised(name: object) -> str:
    return " ".join(str(name).split()).casefold() if name is not None else ""


def _match_header(cells: list[object], where: str) -> tuple[str, dict[int, str], str | None] | None:
    """The format whose every column is among ``cells`` (case and spaces aside): its name, the cell
    index of each lake column, and a note when the cells differ from the format's own spelling or hold
    other columns, which are not read. A column the format reads that the header holds twice is a
    SourceFormatError naming both (``where``: the file, and the sheet): which one holds it is unclear."""
    normalised = [_normalised(c) for c in cells]
    found: dict[str, int] = {}
    for i, name in enumerate(normalised):
        if name:
            found.setdefault(name, i)
    for format_name, columns in FORMATS.items():
        if all(_normalised(name) in found for name in columns):
            for name in columns:
                at = [i + 1 for i, n in enumerate(normalised) if n == _normalised(name)]
                if len(at) > 1:
                    raise SourceFormatError(
                        f"{where}: the header holds {name} {len(at)} times (columns "
                        f"{', '.join(map(str, at))}), so which one to read is unclear. Remove or rename "
                        "all but one, and run again."
                    )
            positions = {found[_normalised(name)]: lake for name, lake in columns.items()}
            renamed = [
                f"'{cells[i]}' as {name}"
                for name, lake in columns.items()
                if str(cells[(i := found[_normalised(name)])]) != name
            ]
            ignored = [f"'{cells[i]}'" for i in sorted(found.values()) if i not in positions]
            notes = [
                "columns matched ignoring case and spaces: " + ", ".join(renamed) if renamed else "",
                "columns not read: " + ", ".join(ignored) if ignored else "",
            ]
            return format_name, positions, "; ".join(filter(None, notes)) or None
    return None


def describe_header_problem(where: str, found: list[str]) -> str:
    """Explain how ``found`` differs from the nearest known format: missing, renamed, extra."""
    found = [str(c) for c in found if c is not None and str(c).strip()]
    best_name, best = max(
        FORMATS.items(), key=lambda kv: len({_normalised(c) for c in kv[1]} & {_normalised(c) for c in found})
    )
    expected = list(best)
    if len({_normalised(c) for c in expected} & {_normalised(c) for c in found}) < len(expected) // 2:
        return (
            f"{where}: this does not look like an Online Retail export. "
            f"Expected the columns {', '.join(expected)}; found {', '.join(found) or 'no header'}."
        )
    missing = [c for c in expected if _normalised(c) not in {_normalised(f) for f in found}]
    extra = [c for c in found if _normalised(c) not in {_normalised(e) for e in expected}]
    parts = []
    for col in list(missing):
        near = difflib.get_close_matches(col, extra, n=1, cutoff=0.6) or [
            e for e in extra if e.replace(" ", "").lower() == col.replace(" ", "").lower()
        ]
        if near:
            parts.append(f"column '{near[0]}' should be named '{col}'")
            missing.remove(col)
            extra.remove(near[0])
    parts += [f"missing column '{c}'" for c in missing]
    return f"{where} ({best_name} format): " + "; ".join(parts) + "."


def _looks_like_data_sheet(cells: list[object]) -> bool:
    """At least half of a format's columns: a data sheet with a broken header, not a notes sheet."""
    found = {_normalised(c) for c in cells}
    return any(sum(_normalised(c) in found for c in cols) >= len(cols) // 2 for cols in FORMATS.values())


def _find_header(rows: list[list[object]], where: str) -> tuple[int, str, dict[int, str], str | None] | None:
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        if (match := _match_header(cells, where)) is not None:
            return (index, *match)
    return None


def _frame_from_columns(columns: dict[str, pl.Series | list], sheet: str, rows: pl.Series) -> pl.DataFrame:
    return (
        pl.DataFrame(columns)
        .select(RAW_COLUMNS)
        .with_columns(pl.lit(sheet).alias("source_sheet"), rows.alias("source_row"))
    )


# --- what the file is ------------------------------------------------------------------------------


def sniff(path: Path) -> str:
    """``xlsx``, ``xls`` or ``csv`` from the file's first bytes; anything else is a SourceFormatError
    that says what the file holds."""
    if not path.is_file():
        raise SourceFormatError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise SourceFormatError(f"{path}: the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(ZIP_MAGIC):
        return _sniff_zip(path)
    if head.startswith(OLE2_MAGIC):
        return "xls"  # or a password-protected workbook: fastexcel's error will say so
    lowered = head.lower()
    if head.startswith(b"%PDF"):
        raise SourceFormatError(f"{path}: a PDF document, not an export. Export the data as .xlsx or .csv.")
    if head.startswith(b"\x1f\x8b"):
        raise SourceFormatError(f"{path}: gzip-compressed data. Unpack it first (gunzip).")
    if head.startswith(b"PAR1"):
        raise SourceFormatError(f"{path}: a Parquet file, not an export. Pass the .xlsx or .csv export.")
    if lowered.lstrip().startswith(b"<?xml"):
        raise SourceFormatError(
            f"{path}: an XML file (Excel 2003's XML spreadsheet looks like this), not an export. "
            "Save it as .xlsx or .csv."
        )
    if lowered.lstrip().startswith((b"<html", b"<!doctype", b"<head")):
        raise SourceFormatError(
            f"{path}: an HTML page, not an export. A download that saved an error page looks like this: "
            "fetch the file again."
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise SourceFormatError(
            f"{path}: UTF-16 text (Excel's 'Unicode text'). Save it as 'CSV UTF-8' or as .xlsx."
        )
    if b"\x00" in head:
        raise SourceFormatError(
            f"{path}: binary data of an unknown kind (first bytes {head[:8].hex(' ')}), not an .xlsx, "
            ".xls or .csv export."
        )
    return "csv"


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise SourceFormatError(
            f"{path}: the .xlsx container is truncated or corrupt (no zip directory at the end). "
            "Download or copy the file again."
        ) from None
    if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
        return "xlsx"
    if any(n.startswith("word/") for n in names):
        what = "a Word document"
    elif "content.xml" in names:
        what = "an OpenDocument file (.ods/.odt)"
    else:
        what = f"a zip archive holding {', '.join(names[:5]) or 'nothing'}{' ...' if len(names) > 5 else ''}"
    raise SourceFormatError(
        f"{path}: {what}, not an .xlsx workbook. Save or export the data as .xlsx or .csv."
    )


def read_source(path: Path) -> RawSource:
    kind = sniff(path)
    return _read_csv(path) if kind == "csv" else _read_spreadsheet(path, kind)


# --- spreadsheets ----------------------------------------------------------------------------------


def _read_spreadsheet(path: Path, kind: str) -> RawSource:
    import fastexcel

    try:
        reader = fastexcel.read_excel(path)
    except Exception as err:  # fastexcel raises its own hierarchy for every kind of broken file
        hint = (
            " (a password-protected workbook looks like this: save it without a password)"
            if kind == "xls"
            else ""
        )
        raise SourceFormatError(
            f"{path}: cannot be read as an Excel workbook{hint} ({type(err).__name__}: {err})"
        ) from err
    sheets: list[RawSheet] = []
    skipped: dict[str, str] = {}
    problems: list[str] = []
    for name in reader.sheet_names:
        sheet = _read_sheet(reader, path, name, skipped, problems)
        if sheet is not None:
            sheets.append(sheet)
    # The reader holds the workbook's shared strings: let it go before typing copies every column.
    del reader
    if problems:
        raise SourceFormatError("\n".join(problems))
    if not sheets:
        why = (
            "; ".join(f"sheet '{s}': {reason}" for s, reason in skipped.items())
            or "the workbook has no sheets"
        )
        raise SourceFormatError(
            f"{path}: this does not look like an Online Retail export: no sheet holds the columns "
            f"{', '.join(ONLINE_RETAIL)} or {', '.join(ONLINE_RETAIL_II)} ({why})."
        )
    return RawSource(kind, sheets, skipped)


def _read_sheet(
    reader, path: Path, name: str, skipped: dict[str, str], problems: list[str]
) -> RawSheet | None:
    try:
        # header_row=None with skip_rows=0 keeps leading empty rows, so frame row i is sheet row i + 1.
        loaded = reader.load_sheet(name, header_row=None, skip_rows=0, dtypes="string")
        frame = loaded.to_polars()
    except Exception as err:
        raise SourceFormatError(f"{path}, sheet '{name}': cannot be read ({err})") from err
    del loaded
    if frame.height == 0:
        skipped[name] = "the sheet is empty"
        return None
    top = [list(row) for row in frame.head(HEADER_SEARCH_ROWS).iter_rows()]
    header = _find_header(top, f"{path}, sheet '{name}'")
    if header is None:
        first = next((r for r in top if any(c is not None for c in r)), [])
        broken = next((r for r in top if _looks_like_data_sheet(r)), None)
        if broken is not None:
            problems.append(describe_header_problem(f"{path}, sheet '{name}'", broken))
        else:
            cells = ", ".join(str(c) for c in first if c is not None) or "nothing"
            skipped[name] = (
                f"no Online Retail header in its first {HEADER_SEARCH_ROWS} rows (first row: {cells})"
            )
        return None
    index, format_name, positions, note = header
    data = frame.slice(index + 1)
    if data.height == 0:
        problems.append(f"{path}, sheet '{name}': the sheet has a header but no data rows")
        return None
    columns = {lake: data.get_column(data.columns[i]) for i, lake in positions.items()}
    rows = pl.int_range(index + 2, index + 2 + data.height, dtype=pl.Int64, eager=True)
    if index:
        note = "; ".join(filter(None, [f"header on row {index + 1}, below {index} title rows", note]))
    return RawSheet(name, format_name, _frame_from_columns(columns, name, rows), index + 1, note)


# --- CSV -------------------------------------------------------------------------------------------


# UTF-8 for the characters of Western text beyond ASCII (U+00A0-U+017F: £, é, Œ; U+2010-U+2044:
# dashes, quotes; €), which Windows-1252 reads as two or three other characters (Â£, Ã©, â€™). A byte
# pair of Windows-1252 text that happens to be UTF-8 for something else (É’ is U+0252) is not one.
_UTF8_WESTERN = re.compile(rb"[\xc2-\xc5][\x80-\xbf]|\xe2\x80[\x90-\xbf]|\xe2\x81[\x80-\x84]|\xe2\x82\xac")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_TEXT_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _line_at(data: bytes, offset: int) -> int:
    return len(_LINE_BREAK.findall(data, 0, offset)) + 1


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """The text of a CSV export and its encoding: UTF-8 (with or without BOM), else Windows-1252; a
    file with both (UTF-8 text and bytes that are not UTF-8) is a SourceFormatError naming a line of
    each."""
    bom = data.startswith(codecs.BOM_UTF8)
    try:
        return data[len(codecs.BOM_UTF8) if bom else 0 :].decode("utf-8"), "utf-8-sig" if bom else "utf-8"
    except UnicodeDecodeError as err:
        not_utf8 = err.start + (len(codecs.BOM_UTF8) if bom else 0)
    if (utf8 := _UTF8_WESTERN.search(data, len(codecs.BOM_UTF8) if bom else 0)) is not None:
        # Read as Windows-1252, the file's UTF-8 text would turn into other characters (£ into Â£).
        raise SourceFormatError(
            f"{path}: mixed text encodings: line {_line_at(data, not_utf8)} holds the byte "
            f"{data[not_utf8]:#04x}, which is not UTF-8, and line {_line_at(data, utf8.start())} holds "
            f"UTF-8 text ({data[utf8.start() : utf8.end()].decode(errors='replace')!r}). Save the file as "
            "'CSV UTF-8' and run again."
        )
    try:
        # Excel's "CSV" on Western Windows writes cp1252.
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as err:
        raise SourceFormatError(
            f"{path}: the text is neither UTF-8 nor Windows-1252 (byte {data[err.start]:#04x} at offset "
            f"{err.start}). Save it as 'CSV UTF-8'."
        ) from None


def _head_records(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """The first records of the file, each with the line it ends on (a quoted cell may span lines)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [(reader.line_num, record) for record in itertools.islice(reader, HEADER_SEARCH_ROWS)]


def _check_quoted_line_breaks(
    path: Path, record: list[str], start: int, end: int, delimiter: str, width: int
) -> None:
    """A quoted field may hold a line break, but a quote left open swallows the lines after it into one
    field: Python's csv reads on to the next quote, or to the end of the file, and those lines would be
    lost without a word. A field whose line breaks hold a line of the file (the header's delimiters
    between its values: ``width`` fields) is a SourceFormatError naming the lines it took."""
    inner = [part for cell in record if "\n" in cell or "\r" in cell for part in cell.splitlines()[1:]]
    if any(part.count(delimiter) >= width - 1 for part in inner):
        raise SourceFormatError(_swallowed(path, start, end))


def _swallowed(path: Path, start: int, end: int, *, unclosed: bool = False) -> str:
    runs = (
        f"is never closed: it runs to the end of the file (line {end})" if unclosed else f"runs to line {end}"
    )
    taken = f"line {end}" if end == start + 1 else f"lines {start + 1}-{end}"
    return (
        f"{path}, line {start}: a quoted field opens on this line and {runs}, so {taken} would be read "
        f"as its text. A quote is probably not closed on line {start}: fix or remove it, and run again."
    )


def _check_closed_at_the_end(path: Path, text: str, start: int, end: int, delimiter: str) -> None:
    """The last record, spanning lines ``start``-``end``, must close its quotes before the end of the
    file: read strictly from its first line, an open one is "unexpected end of data"."""
    breaks = itertools.islice(_TEXT_LINE_BREAK.finditer(text), start - 2, None) if start > 1 else None
    offset = next(breaks).end() if breaks is not None else 0
    try:
        list(csv.reader(io.StringIO(text[offset:], newline=""), delimiter=delimiter, strict=True))
    except csv.Error as err:
        if "unexpected end of data" in str(err):
            raise SourceFormatError(_swallowed(path, start, end, unclosed=True)) from None


def _read_csv(path: Path) -> RawSource:
    text, encoding = _decode(path, path.read_bytes())
    found = None
    heads = {delimiter: _head_records(text, delimiter) for delimiter in CSV_DELIMITERS}
    for delimiter, head in heads.items():
        if (header := _find_header([record for _, record in head], str(path))) is not None:
            index = header[0]
            header_end = head[index][0]
            header_line = head[index - 1][0] + 1 if index else 1
            found = (delimiter, *header, len(head[index][1]), header_end, header_line)
            break
    if found is None:
        for head in heads.values():
            for _, cells in head:
                if _looks_like_data_sheet(cells):
                    raise SourceFormatError(describe_header_problem(f"{path}", cells))
        first = next((line for line in text[:4096].splitlines() if line.strip()), "")
        raise SourceFormatError(
            f"{path}: not an Online Retail export: no line among the first {HEADER_SEARCH_ROWS} holds its "
            f"header (first line: {first[:120]!r}). Expected the columns {', '.join(ONLINE_RETAIL)} "
            f"or {', '.join(ONLINE_RETAIL_II)}."
        )
    delimiter, index, format_name, positions, note, width, header_end, header_line = found
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    # Records are gathered in chunks and each chunk becomes a polars frame: Python lists of strings
    # took 0.8 GB for the 541,909 lines of the UCI data, polars' columns a tenth of that.
    chunks: list[pl.DataFrame] = []
    columns: dict[str, list] = {lake: [] for lake in RAW_COLUMNS}
    line_numbers: list[int] = []
    last_data_line = 0

    def flush() -> None:
        chunk = {lake: pl.Series(lake, values, dtype=pl.String) for lake, values in columns.items()}
        chunks.append(_frame_from_columns(chunk, "csv", pl.Series(line_numbers, dtype=pl.Int64)))
        for values in columns.values():
            values.clear()
        line_numbers.clear()

    previous_end = 0
    last_span: tuple[int, int] | None = None  # the last record that spans lines (a quoted line break)
    for record in reader:
        start = previous_end + 1  # a quoted field may span lines: a record starts after the last one
        previous_end = reader.line_num
        if previous_end <= header_end:  # title lines and the header
            continue
        if previous_end > start:
            _check_quoted_line_breaks(path, record, start, previous_end, delimiter, width)
            last_span = (start, previous_end)
        if not any(cell.strip() for cell in record):
            record = []
        else:
            last_data_line = start
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            raise SourceFormatError(
                f"{path}, line {start}: {len(record)} fields where the header has {width}; "
                f"extra values {record[width:][:3]}. Check the delimiter and quoting of that line."
            )
        record = record + [""] * (width - len(record))
        for i, lake in positions.items():
            columns[lake].append(record[i] or None)
        line_numbers.append(start)
        if len(line_numbers) == CSV_CHUNK_LINES:
            flush()
    flush()
    if last_span is not None and last_span[1] == previous_end:
        _check_closed_at_the_end(path, text, *last_span, delimiter)
    del text
    # Blank lines at the very end are no lines of data; blank lines between lines stay (as blank_row).
    frame = pl.concat(chunks).filter(pl.col("source_row") <= last_data_line)
    if frame.height == 0:
        raise SourceFormatError(f"{path}: the file has a header but no data lines")
    if index:
        note = "; ".join(filter(None, [f"header on line {header_line}, below {index} title lines", note]))
    sheet = RawSheet("csv", format_name, frame, header_line, note)
    return RawSource("csv", [sheet], decimal_comma=delimiter == ";", encoding=encoding, delimiter=delimiter)
