"""Type an export's raw text cells into invoice lines, and every row that cannot be typed into a reject.

In: the raw sheets of ``readers.read_source`` and the conversion rules (date order, plausible dates).
Out: a polars frame of typed lines in the lake schema and a frame of rejected rows, each with its raw
values and a reason code from ``REJECT_REASONS``. Every data row lands in exactly one of the two. A
rejected row whose quantity and price type, and whose amount fits, keeps them typed too: its money is
at stake, and the quarantine shows it (``source_amount`` counts it).

Cells are typed here, never by the reader: fastexcel's numeric dtypes turn ``"abc"`` into null and
``2.5`` into ``2``, and polars' inference turns every ``C...`` invoice into null.

Rules, each tested in ``tests/unit/test_rules_dates_numbers.py`` and stated in README ("Dates and numbers"):
- integers (quantity, customer id) are exact: ``17850``, ``17850.0`` and ``+6`` are read, ``2.5`` is
  rejected, and a value beyond the range the star schema holds is rejected, never rounded;
- money has at most three decimals (checked on all 541,909 lines of the source) and the line amount
  must fit ``decimal(18,3)``;
- dates: spreadsheet date cells, ISO 8601 text (``T``, ``Z``, offsets, which are converted to UTC),
  Excel serial numbers (1900 date system) and slash dates (``12/1/2010 8:26``) whose order is known:
  ``date_order`` MDY or DMY, or under ``auto`` month-first when the export shows month-first dates (a
  second number above 12) and no day-first ones. Otherwise slash dates are rejected as
  ``day_first_invoice_date`` or ``ambiguous_invoice_date``. Dates outside the plausible window are
  rejected too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import polars as pl

from pipeline.lib.readers import RAW_COLUMNS, RawSource, SourceFormatError, read_source
from pipeline.lib.rules import (
    MAX_AMOUNT,
    MAX_PRICE_DIGITS,
    MAX_QUANTITY,
    PRICE_SCALE,
    REJECT_REASONS,
    ConversionRules,
)

LAKE_SCHEMA = {
    "invoice_no": pl.String,
    "stock_code": pl.String,
    "description": pl.String,
    "quantity": pl.Int64,
    "invoice_ts": pl.Datetime("us"),
    "unit_price": pl.Decimal(18, PRICE_SCALE),
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
    # Both set, or both null: set when the row's quantity and price type and their amount fits.
    "quantity": pl.Int64,
    "unit_price": pl.Decimal(18, PRICE_SCALE),
    **{f"raw_{c}": pl.String for c in RAW_COLUMNS},
}
_INTEGER = r"^[+-]?\d+(?:\.0*)?$"
_PRICE = rf"^[+-]?\d+(?:\.\d{{1,{PRICE_SCALE}}}0*)?$"
_SLASH_DATE = (
    r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)
_SERIAL = r"^\d{1,7}(?:\.\d+)?$"
# Excel's 1900 date system counts serial 1 as 1900-01-01 and has a 29 February 1900 (serial 60), so
# serials from 61 on are days since 1899-12-30 and those below since 1899-12-31. (calamine renders date
# cells by the same rule; a serial number written as a plain number or text is converted here.)
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)


class ConversionError(ValueError):
    """The export cannot be converted; the message names the file and the problem."""


@dataclass
class ExportContents:
    lines: pl.DataFrame
    rejects: pl.DataFrame
    format_name: str
    kind: str
    sheets: dict[str, int]  # sheet name -> data rows read
    skipped_sheets: dict[str, str]
    notes: list[str]  # how headers were matched, which date order was used

    @property
    def source_rows(self) -> int:
        return sum(self.sheets.values())

    @property
    def source_amount(self) -> Decimal:
        """The money of every row whose amount is known: the lines', and the rejects' that kept it."""
        amount = pl.col("quantity") * pl.col("unit_price")
        return sum((frame.select(amount.sum()).item() or Decimal(0) for frame in (self.lines, self.rejects)),
                   Decimal("0.000"))  # fmt: skip


def _trimmed(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars().replace("", None)


def _integer(text: pl.Expr) -> pl.Expr:
    """Exact Int64 of an integer written as text (``17850.0`` included); null when it is not one or does
    not fit, never a rounded value."""
    digits = text.str.strip_prefix("+").str.replace(r"\.0*$", "")
    return pl.when(text.str.contains(_INTEGER)).then(digits.cast(pl.Int64, strict=False))


def _decimal_point(text: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """With a decimal comma (semicolon CSV), ``1.234,5`` is 1234.5 and ``1,5`` is 1.5; a lone dot
    (``1.5``: a thousands separator or a decimal point?) is not read at all, so the row is rejected."""
    if not decimal_comma:
        return text
    plain = text.str.contains(r"^[+-]?\d+(,\d*)?$")
    grouped = text.str.contains(r"^[+-]?\d{1,3}(\.\d{3})+(,\d*)?$")
    read = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    return pl.when(plain | grouped).then(read).otherwise(pl.lit("unreadable: ") + text)


def _slash_order(dates: pl.Series, rules: ConversionRules) -> tuple[str | None, str]:
    """The order to read this export's slash dates in, or None with the reason to reject them."""
    if rules.date_order != "auto":
        return rules.date_order, ""
    parts = (
        dates.str.extract_groups(_SLASH_DATE).struct.unnest()
        .select(pl.col("1").cast(pl.Int32).alias("a"), pl.col("2").cast(pl.Int32).alias("b"))
        .drop_nulls()
    )  # fmt: skip
    day_first = parts.filter((pl.col("a") > 12) & (pl.col("b") <= 12)).height > 0
    month_first = parts.filter((pl.col("b") > 12) & (pl.col("a") <= 12)).height > 0
    if month_first and not day_first:
        return "MDY", ""
    return None, "day_first_invoice_date" if day_first and not month_first else "ambiguous_invoice_date"


def _slash_dates(text: pl.Expr, order: str) -> pl.Expr:
    groups = text.str.extract_groups(_SLASH_DATE)
    first, second = groups.struct.field("1"), groups.struct.field("2")
    month, day = (first, second) if order == "MDY" else (second, first)
    year = groups.struct.field("3")
    # Two-digit years, as Excel's m/d/yy writes them: 00-68 are 20xx, as strptime's %y reads them.
    year = (
        pl.when(year.str.len_chars() > 2).then(year)
        .when(year.cast(pl.Int32) < 69).then(pl.lit("20") + year)
        .otherwise(pl.lit("19") + year)
    )  # fmt: skip
    hour = groups.struct.field("4").fill_null("0").cast(pl.Int32)
    meridiem = groups.struct.field("7").str.to_lowercase()
    hour = (
        pl.when(meridiem.is_null()).then(hour)
        .when(hour > 12).then(None)
        .when(meridiem == "pm").then(hour % 12 + 12)
        .otherwise(hour % 12)
    )  # fmt: skip
    iso = pl.format(
        "{}-{}-{} {}:{}:{}",
        year,
        month.str.zfill(2),
        day.str.zfill(2),
        hour.cast(pl.String).str.zfill(2),
        groups.struct.field("5").fill_null("00"),
        groups.struct.field("6").fill_null("00"),
    )
    return iso.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)


def _iso_dates(text: pl.Expr) -> pl.Expr:
    iso = text.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "${1} ").str.replace(r"Z$", "+00:00")
    naive = pl.coalesce(
        iso.str.strptime(pl.Datetime("us"), fmt, strict=False)
        for fmt in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
    )
    aware = pl.coalesce(
        iso.str.strptime(pl.Datetime("us", "UTC"), fmt, strict=False)
        for fmt in ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
    ).dt.replace_time_zone(None)
    return pl.coalesce(naive, aware)


def _serial_dates(text: pl.Expr) -> pl.Expr:
    serial = text.cast(pl.Float64, strict=False)
    seconds = (serial * 86_400).round(0).cast(pl.Int64)
    shifted = pl.when(serial < 61).then(seconds + 86_400).otherwise(seconds)
    return pl.lit(_EXCEL_EPOCH) + pl.duration(seconds=shifted)


def parse_invoice_dates(text: pl.Series, rules: ConversionRules) -> tuple[pl.Series, pl.Series, list[str]]:
    """Timestamps of the trimmed date texts, the reject reason of slash dates whose order is not known
    (null elsewhere), and a note on the order used.

    Date cells come from calamine as ``YYYY-MM-DD HH:MM:SS``: that fast path parses nearly every row of
    a workbook, and only what it leaves goes through the other forms.
    """
    timestamps = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    slash_reason = pl.Series([None] * len(text), dtype=pl.String)
    rest = (timestamps.is_null() & text.is_not_null()).arg_true()
    if rest.len() == 0:
        return timestamps.alias("invoice_ts"), slash_reason, []
    left = pl.DataFrame({"t": text.gather(rest)})
    is_slash = pl.col("t").str.contains(_SLASH_DATE)
    order, reason = _slash_order(left.filter(is_slash).get_column("t"), rules)
    has_slash = left.select(is_slash.any()).item()
    parsed = left.select(
        pl.when(is_slash)
        .then(_slash_dates(pl.col("t"), order) if order else pl.lit(None, pl.Datetime("us")))
        .when(pl.col("t").str.contains(_SERIAL))
        .then(_serial_dates(pl.col("t")))
        .otherwise(_iso_dates(pl.col("t")))
        .alias("ts"),
        pl.when(is_slash & pl.lit(order is None)).then(pl.lit(reason or None)).alias("reason"),
    )
    timestamps = timestamps.scatter(rest, parsed.get_column("ts"))
    slash_reason = slash_reason.scatter(rest, parsed.get_column("reason"))
    notes = []
    if has_slash:
        how = "set by date_order" if rules.date_order != "auto" else "shown by the export"
        notes.append(
            f"slash dates read {order} ({how})"
            if order
            else f"slash dates rejected as {reason}: set [pipeline] date_order to MDY or DMY to read them"
        )
    return timestamps.alias("invoice_ts"), slash_reason, notes


def _amount_fits(quantity: pl.Expr, price: pl.Expr) -> pl.Expr:
    """True when quantity x price fits decimal(18,3) (computed in thousandths, where it cannot overflow)."""
    return (quantity.cast(pl.Int128) * (price * 1000).cast(pl.Int128)).abs() < MAX_AMOUNT * 1000


def _quantity_fits(quantity: pl.Expr) -> pl.Expr:
    """True when the quantity is within the star schema's range. Not ``abs() < MAX_QUANTITY``: the
    smallest Int64's absolute value wraps to itself."""
    return quantity.is_between(-MAX_QUANTITY, MAX_QUANTITY, closed="none")


def _money_known() -> pl.Expr:
    """For a rejected row (its typed ``_quantity`` and ``_unit_price``, null where they did not type):
    True when both typed and their amount fits, so the row's money is known. Only on rejects: the
    lines passed these checks already."""
    quantity, price = pl.col("_quantity"), pl.col("_unit_price")
    return (_quantity_fits(quantity) & price.is_not_null() & _amount_fits(quantity, price)).fill_null(False)


def type_lines(source: RawSource, rules: ConversionRules) -> tuple[pl.DataFrame, list[str]]:
    """All sheets' rows with typed ``_<column>`` values and a ``reason_code`` (null for a good line)."""
    raw = pl.concat([sheet.frame for sheet in source.sheets])
    raw = raw.with_columns(_trimmed(c).alias(f"_{c}") for c in RAW_COLUMNS)
    timestamps, slash_reason, notes = parse_invoice_dates(raw.get_column("_invoice_ts"), rules)
    raw = raw.with_columns(
        timestamps.alias("_ts"),
        slash_reason.alias("_slash_reason"),
        _integer(_decimal_point(pl.col("_customer_id"), source.decimal_comma)).alias("_customer_number"),
    )

    quantity = _integer(_decimal_point(pl.col("_quantity"), source.decimal_comma))
    customer_id = pl.col("_customer_number")
    # 0 is how some tools write "no customer" (pandas' fillna(0)): a guest line, said in a note. Below
    # 0 is no customer id (-1 is the guest member's key in the star schema): rejected.
    customer = pl.when(customer_id != 0).then(customer_id)
    if zeros := raw.select((customer_id == 0).sum()).item():
        notes.append(f"customer id 0 on {zeros:,} rows: read as guest lines (no customer)")
    price_text = _decimal_point(pl.col("_unit_price"), source.decimal_comma)
    price_ok = price_text.str.contains(_PRICE)
    # decimal(18,3) holds 15 digits before the point: a longer price is out of range, and is caught on
    # the text, before any arithmetic on it could overflow.
    price_fits = price_text.str.contains(rf"^[+-]?0*\d{{0,{MAX_PRICE_DIGITS}}}(\.|$)")
    # The sign is checked above (one at most); the decimal parser does not take a "+".
    price = pl.when(price_ok & price_fits).then(
        price_text.str.strip_prefix("+").str.to_decimal(scale=PRICE_SCALE)
    )
    amount_fits = _amount_fits(quantity, price)
    earliest = dt.datetime.combine(rules.earliest_invoice_date, dt.time())
    after_latest = dt.datetime.combine(rules.latest_invoice_date + dt.timedelta(days=1), dt.time())
    timestamp = pl.col("_ts")

    blank = pl.all_horizontal(pl.col(f"_{c}").is_null() for c in RAW_COLUMNS)
    reason = (
        pl.when(blank).then(pl.lit("blank_row"))
        .when(pl.col("_invoice_no").is_null()).then(pl.lit("missing_invoice_no"))
        .when(pl.col("_stock_code").is_null()).then(pl.lit("missing_stock_code"))
        .when(pl.col("_quantity").is_null()).then(pl.lit("missing_quantity"))
        .when(quantity.is_null()).then(pl.lit("invalid_quantity"))
        .when(~_quantity_fits(quantity)).then(pl.lit("quantity_out_of_range"))
        .when(pl.col("_invoice_ts").is_null()).then(pl.lit("missing_invoice_date"))
        .when(pl.col("_slash_reason").is_not_null()).then(pl.col("_slash_reason"))
        .when(timestamp.is_null()).then(pl.lit("invalid_invoice_date"))
        .when((timestamp < earliest) | (timestamp >= after_latest)).then(pl.lit("invoice_date_out_of_range"))
        .when(pl.col("_unit_price").is_null()).then(pl.lit("missing_unit_price"))
        .when(~price_ok).then(pl.lit("invalid_unit_price"))
        .when(~price_fits).then(pl.lit("unit_price_out_of_range"))
        .when(~amount_fits).then(pl.lit("line_amount_out_of_range"))
        .when(pl.col("_customer_id").is_not_null() & ~(customer_id >= 0).fill_null(False))
        .then(pl.lit("invalid_customer_id"))
        .when(pl.col("_country").is_null()).then(pl.lit("missing_country"))
    )  # fmt: skip
    typed = raw.with_columns(
        reason.alias("reason_code"),
        quantity.alias("_quantity"),
        timestamp.alias("_invoice_ts"),
        customer.alias("_customer_id"),
        price.alias("_unit_price"),
    )
    return typed, notes


def read_export(path: Path, sha256: str, rules: ConversionRules | None = None) -> ExportContents:
    """Read every sheet of ``path`` and type its rows; raise when the file as a whole is unusable."""
    path = Path(path)
    rules = rules or ConversionRules()
    try:
        source = read_source(path)
    except SourceFormatError as err:
        raise ConversionError(str(err)) from None
    formats = {sheet.format_name for sheet in source.sheets}
    if len(formats) > 1:
        raise ConversionError(f"{path}: sheets mix formats ({', '.join(sorted(formats))})")
    notes = [f"sheet '{s.name}': {s.header_note}" for s in source.sheets if s.header_note]
    if source.kind == "csv":
        notes.insert(0, f"CSV, {source.encoding}, delimiter {source.delimiter!r}")
    typed, date_notes = type_lines(source, rules)
    notes += date_notes
    typed = typed.with_columns(pl.lit(path.name).alias("source_file"), pl.lit(sha256).alias("source_sha256"))
    good = typed.filter(pl.col("reason_code").is_null())
    lines = good.select(
        *[pl.col(f"_{c}").alias(c) for c in RAW_COLUMNS],
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
        *[pl.when(_money_known()).then(f"_{c}").alias(c) for c in ("quantity", "unit_price")],
        *[pl.col(c).alias(f"raw_{c}") for c in RAW_COLUMNS],
    )
    return ExportContents(
        lines=lines.select(list(LAKE_SCHEMA)).cast(LAKE_SCHEMA),
        rejects=rejects.cast(REJECT_SCHEMA),
        format_name=formats.pop(),
        kind=source.kind,
        sheets={sheet.name: sheet.frame.height for sheet in source.sheets},
        skipped_sheets=source.skipped_sheets,
        notes=notes,
    )


def check_reject_share(contents: ExportContents, path: Path, max_share: float, examples: int = 5) -> None:
    """Fail the conversion when more than ``max_share`` of the rows that hold data were rejected.

    Blank rows hold nothing to lose and do not count. The message gives the counts by reason and a few
    rows with their raw values, so the cause is visible without opening the lake.
    """
    data_rejects = contents.rejects.filter(pl.col("reason_code") != "blank_row")
    rows = contents.source_rows - (contents.rejects.height - data_rejects.height)
    if rows == 0 or data_rejects.height / rows <= max_share:
        return
    counts = data_rejects.group_by("reason_code").len().sort("len", descending=True).rows()
    lines = [
        f"{path}: {data_rejects.height:,} of {rows:,} rows with data ({data_rejects.height / rows:.1%}) "
        "cannot be typed, "
        f"above [pipeline] max_reject_share = {max_share:.1%}. Nothing was converted or published.",
        *(f"  {reason}: {n:,} rows ({REJECT_REASONS.get(reason, '')})" for reason, n in counts),
        "  for example:",
    ]
    for row in data_rejects.head(examples).iter_rows(named=True):
        raw = ", ".join(f"{c}={row[f'raw_{c}']!r}" for c in RAW_COLUMNS if row[f"raw_{c}"] is not None)
        lines.append(
            f"    sheet '{row['source_sheet']}' row {row['source_row']}: {row['reason_code']}: {raw}"
        )
    lines.append(
        "Fix the export, or raise [pipeline] max_reject_share (luigi.cfg or --pipeline-max-reject-share) to "
        "convert it with these rows quarantined."
    )
    raise ConversionError("\n".join(lines))
