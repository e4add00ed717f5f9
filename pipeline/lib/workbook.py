"""Read an Online Retail workbook into typed invoice lines and rejected rows.

In: an .xlsx export of the UCI *Online Retail* dataset (one sheet) or *Online Retail II* (one sheet per
year). Out: a polars frame of typed lines in the lake schema, and a frame of the rows that could not be
typed, each with its raw values and a reason code. Every data row of every sheet lands in exactly one of
the two.

Cells are read as text and typed here, never by the reader: fastexcel with a numeric dtype silently
turns ``"abc"`` into null and ``2.5`` into ``2`` (and polars' inference turns every ``C...`` invoice
into null), which would lose or change rows without a trace.
"""

from __future__ import annotations

import difflib
import zipfile
from dataclasses import dataclass
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

# Money: the source has at most three decimals (checked on all 541,909 lines); more would need a
# wider scale, and silently rounding would change the data, so such a row is rejected instead.
PRICE_SCALE = 3
PRICE_TYPE = pl.Decimal(18, PRICE_SCALE)
PRICE_PATTERN = rf"^-?\d+(\.\d{{1,{PRICE_SCALE}}})?$"
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")

LAKE_SCHEMA = {
    "invoice_no": pl.String,
    "stock_code": pl.String,
    "description": pl.String,
    "quantity": pl.Int64,
    "invoice_ts": pl.Datetime("us"),
    "unit_price": PRICE_TYPE,
    "customer_id": pl.Int64,
    "country": pl.String,
    "source_file": pl.String,
    "source_sha256": pl.String,
    "source_sheet": pl.String,
    "source_row": pl.Int64,
}
REJECT_SCHEMA = {
    "source_file": pl.String,
    "source_sha256": pl.String,
    "source_sheet": pl.String,
    "source_row": pl.Int64,
    "reason_code": pl.String,
    **{f"raw_{c}": pl.String for c in RAW_COLUMNS},
}
# The reason codes a rejected row can carry, in the order they are checked.
REJECT_REASONS = (
    "blank_row",
    "missing_invoice_no",
    "missing_stock_code",
    "missing_quantity",
    "invalid_quantity",
    "missing_invoice_date",
    "invalid_invoice_date",
    "missing_unit_price",
    "invalid_unit_price",
    "invalid_customer_id",
    "missing_country",
)


class WorkbookError(ValueError):
    """The workbook cannot be converted at all; the message names the file and the problem."""


@dataclass(frozen=True)
class SheetFormat:
    sheet: str
    format_name: str
    columns: dict[str, str]


@dataclass
class WorkbookContents:
    lines: pl.DataFrame
    rejects: pl.DataFrame
    format_name: str
    sheets: dict[str, int]  # sheet name -> data rows read

    @property
    def source_rows(self) -> int:
        return sum(self.sheets.values())


def _check_container(path: Path) -> None:
    if not path.is_file():
        raise WorkbookError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise WorkbookError(f"{path}: the file is empty (0 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(512)
    if not head.startswith(b"PK"):
        looks = "an HTML page" if b"<html" in head.lower() or b"<!doctype" in head.lower() else "text"
        kind = looks if head[:64].isascii() else "binary data"
        raise WorkbookError(
            f"{path}: not an .xlsx workbook (it holds {kind}, not a zip container). "
            "A download that saved an error page looks like this: fetch the workbook again."
        )
    if not zipfile.is_zipfile(path):
        raise WorkbookError(
            f"{path}: the .xlsx container is truncated or corrupt (no zip directory at the end). "
            "Download or copy the workbook again."
        )


def describe_header_problem(path: Path, sheet: str, found: list[str]) -> str:
    """Explain how ``found`` differs from the nearest known format: missing, renamed, extra."""
    best_name, best = max(FORMATS.items(), key=lambda kv: len(set(kv[1]) & set(found)))
    expected = list(best)
    if len(set(expected) & set(found)) < len(expected) // 2:
        return (
            f"{path}, sheet '{sheet}': this does not look like an Online Retail export. "
            f"Expected the columns {', '.join(expected)}; found {', '.join(map(str, found))}."
        )
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
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
    parts += [f"unexpected column '{c}'" for c in extra]
    return f"{path}, sheet '{sheet}' ({best_name} format): " + "; ".join(parts) + "."


def _sheet_format(path: Path, sheet: str, found: list[str]) -> SheetFormat:
    for name, columns in FORMATS.items():
        if found == list(columns) or sorted(found) == sorted(columns):
            return SheetFormat(sheet, name, columns)
    raise WorkbookError(describe_header_problem(path, sheet, found))


def _type_lines(raw: pl.DataFrame) -> pl.DataFrame:
    """Add typed columns and a ``reason_code`` (null when the row is good) to the raw text rows."""
    # Trimmed text goes to ``_<column>``; the raw text stays as read, for the rejects.
    raw = raw.with_columns(pl.col(c).str.strip_chars().replace("", None).alias(f"_{c}") for c in RAW_COLUMNS)
    qty = pl.col("_quantity").cast(pl.Float64, strict=False)
    cust = pl.col("_customer_id").cast(pl.Float64, strict=False)
    ts = pl.coalesce(
        pl.col("_invoice_ts").str.strptime(pl.Datetime("us"), f, strict=False) for f in DATE_FORMATS
    )
    blank = pl.all_horizontal(pl.col(f"_{c}").is_null() for c in RAW_COLUMNS)
    reason = (
        pl.when(blank).then(pl.lit("blank_row"))
        .when(pl.col("_invoice_no").is_null()).then(pl.lit("missing_invoice_no"))
        .when(pl.col("_stock_code").is_null()).then(pl.lit("missing_stock_code"))
        .when(pl.col("_quantity").is_null()).then(pl.lit("missing_quantity"))
        .when(qty.is_null() | ~qty.is_finite() | (qty != qty.floor())).then(pl.lit("invalid_quantity"))
        .when(pl.col("_invoice_ts").is_null()).then(pl.lit("missing_invoice_date"))
        .when(ts.is_null()).then(pl.lit("invalid_invoice_date"))
        .when(pl.col("_unit_price").is_null()).then(pl.lit("missing_unit_price"))
        .when(~pl.col("_unit_price").str.contains(PRICE_PATTERN)).then(pl.lit("invalid_unit_price"))
        .when(pl.col("_customer_id").is_not_null() & (cust.is_null() | (cust != cust.floor())))
        .then(pl.lit("invalid_customer_id"))
        .when(pl.col("_country").is_null()).then(pl.lit("missing_country"))
    )  # fmt: skip
    return raw.with_columns(
        reason.alias("reason_code"),
        qty.cast(pl.Int64, strict=False).alias("_quantity"),
        ts.alias("_invoice_ts"),
        cust.cast(pl.Int64, strict=False).alias("_customer_id"),
    )


def _read_sheet(reader, path: Path, sheet: str) -> tuple[str, pl.DataFrame]:
    """One sheet as text columns in the lake's names, with its row numbers; and its format's name."""
    try:
        loaded = reader.load_sheet(sheet, dtypes="string")
    except Exception as err:
        raise WorkbookError(f"{path}, sheet '{sheet}': cannot be read ({err})") from err
    header = [str(c.name) for c in loaded.available_columns()]
    if not header or all(c.startswith("__UNNAMED__") for c in header):
        raise WorkbookError(f"{path}, sheet '{sheet}': the sheet is empty (no header row)")
    fmt = _sheet_format(path, sheet, header)
    frame = loaded.to_polars()
    if frame.height == 0:
        raise WorkbookError(f"{path}, sheet '{sheet}': the sheet has a header but no data rows")
    return fmt.format_name, frame.rename(fmt.columns).select(RAW_COLUMNS).with_columns(
        pl.lit(sheet).alias("source_sheet"),
        # Spreadsheet row number: row 1 holds the header.
        pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias("source_row"),
    )


def read_workbook(path: Path, sha256: str) -> WorkbookContents:
    """Read every sheet of ``path``; raise WorkbookError when the file as a whole is unusable."""
    import fastexcel

    path = Path(path)
    _check_container(path)
    try:
        reader = fastexcel.read_excel(path)
    except Exception as err:  # fastexcel raises its own hierarchy for every kind of broken file
        raise WorkbookError(
            f"{path}: cannot be read as an Excel workbook ({type(err).__name__}: {err})"
        ) from err

    frames: list[pl.DataFrame] = []
    sheets: dict[str, int] = {}
    formats: set[str] = set()
    for sheet in reader.sheet_names:
        format_name, frame = _read_sheet(reader, path, sheet)
        formats.add(format_name)
        sheets[sheet] = frame.height
        frames.append(frame)
    # Each loaded sheet was released with _read_sheet's locals; the reader (the workbook's shared
    # strings and sheet index) goes too, before typing copies every column.
    del reader
    if not frames:
        raise WorkbookError(f"{path}: the workbook has no sheets")
    if len(formats) > 1:
        raise WorkbookError(f"{path}: sheets mix formats ({', '.join(sorted(formats))})")

    typed = _type_lines(pl.concat(frames)).with_columns(
        pl.lit(path.name).alias("source_file"), pl.lit(sha256).alias("source_sha256")
    )
    good = typed.filter(pl.col("reason_code").is_null())
    lines = good.select(
        *[pl.col(f"_{c}").alias(c) for c in RAW_COLUMNS if c != "unit_price"],
        pl.col("_unit_price").str.to_decimal(scale=PRICE_SCALE).alias("unit_price"),
        "source_file",
        "source_sha256",
        "source_sheet",
        "source_row",
    )
    rejects = typed.filter(pl.col("reason_code").is_not_null()).select(
        "source_file",
        "source_sha256",
        "source_sheet",
        "source_row",
        "reason_code",
        *[pl.col(c).alias(f"raw_{c}") for c in RAW_COLUMNS],
    )
    return WorkbookContents(
        lines=lines.select(list(LAKE_SCHEMA)).cast(LAKE_SCHEMA),
        rejects=rejects.cast(REJECT_SCHEMA),
        format_name=formats.pop(),
        sheets=sheets,
    )
