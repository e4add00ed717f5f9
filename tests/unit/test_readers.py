"""Every kind of export a user meets: CSV in the encodings and delimiters spreadsheet tools write,
old .xls workbooks, title rows above the header, headers in other cases, and files that are not
exports at all, each named as what it is."""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from support import HEADER, HEADER_II, SMALL_ROWS, T1, write_workbook

from pipeline.lib.lines import ConversionError, read_export
from pipeline.lib.manifest import workbook_slug
from pipeline.lib.sources import SourceError, list_folder

CSV_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# As the UCI data is passed around as CSV: US dates, customer ids as floats.
CSV_LINES = [
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
    '536365,71053,"WHITE METAL LANTERN, LARGE",6,12/1/2010 8:26,3.39,17850.0,United Kingdom',
    "C536379,D,Discount,-1,12/13/2010 9:41,27.5,14527.0,United Kingdom",
    "536544,21773,CAFÉ BOTTLE,1,12/13/2010 9:41,2.51,,Côte d'Ivoire",
]


def write_csv(path: Path, lines: list[str], *, encoding="utf-8", header=CSV_HEADER, newline="\n") -> Path:
    path.write_bytes(newline.join([header, *lines, ""]).encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252"])
def test_csv_in_the_encodings_excel_writes(tmp_path, encoding):
    book = write_csv(tmp_path / "export.csv", CSV_LINES, encoding=encoding, newline="\r\n")

    got = read_export(book, "sha")

    assert (got.lines.height, got.rejects.height, got.kind) == (4, 0, "csv")
    assert got.lines["source_row"].to_list() == [2, 3, 4, 5]  # the line numbers of the file
    assert got.lines["description"][1] == "WHITE METAL LANTERN, LARGE"
    assert got.lines["description"][3] == "CAFÉ BOTTLE" and got.lines["country"][3] == "Côte d'Ivoire"
    assert got.lines["invoice_ts"].to_list()[:3] == [T1, T1, dt.datetime(2010, 12, 13, 9, 41)]
    assert got.lines["customer_id"].to_list() == [17850, 17850, 14527, None]


def test_a_csv_with_utf8_text_and_a_byte_that_is_not_is_named_not_read_as_windows_1252(tmp_path):
    # Read as Windows-1252, the £ that UTF-8 writes as two bytes would become Â£ on every line.
    lines = [CSV_LINES[0].replace("WHITE HANGING", "£5 HANGING"), CSV_LINES[2]]
    data = "\n".join([CSV_HEADER, *lines, ""]).encode("utf-8").replace(b"Discount", b"Discount \xa3")
    book = tmp_path / "mixed.csv"
    book.write_bytes(data)
    named = r"mixed.csv: mixed text encodings: line 3 holds the byte 0xa3, .* line 2 holds UTF-8 text \('£'\)"
    with pytest.raises(ConversionError, match=named):
        read_export(book, "sha")


def test_semicolon_csv_with_decimal_commas_title_lines_and_a_lower_case_header(tmp_path):
    lines = ["Sales export;;;", "generated 2011-01-01;;", ""]
    header = "invoice;stockcode;description;quantity;invoicedate;price;customer id;country"
    body = [
        '489434;85048;"15CM CHRISTMAS GLASS BALL; 20 LIGHTS";12;2009-12-01 07:45;6,95;13085;United Kingdom'
    ]
    book = tmp_path / "export.csv"
    book.write_text("\n".join([*lines, header, *body]) + "\n", encoding="utf-8")

    got = read_export(book, "sha")

    assert (got.lines.height, got.rejects.height, got.format_name) == (1, 0, "Online Retail II")
    assert got.lines["source_row"].to_list() == [5]
    assert got.lines["unit_price"][0] == Decimal("6.950")
    assert any("header on line 4, below 3 title lines" in n for n in got.notes)
    assert any("'invoice' as Invoice" in n and "'customer id' as Customer ID" in n for n in got.notes)


def test_semicolon_csv_reads_thousands_separators_and_refuses_a_lone_dot(tmp_path):
    header = CSV_HEADER.replace(",", ";")
    lines = [
        "536365;85123A;HEART;1.000;2010-12-01 08:26;1.234,5;17850;United Kingdom",
        "536365;85123A;HEART;1.5;2010-12-01 08:26;2,55;17850;United Kingdom",
        "536365;85123A;HEART;6;2010-12-01 08:26;2.55;17850;United Kingdom",
    ]
    got = read_export(write_csv(tmp_path / "de.csv", lines, header=header), "sha")

    assert got.lines.select("quantity", "unit_price").rows() == [(1000, Decimal("1234.500"))]
    assert got.rejects.select("source_row", "reason_code").rows() == [
        (3, "invalid_quantity"),
        (4, "invalid_unit_price"),
    ]


def test_header_is_found_below_title_lines_with_form_feeds_and_quoted_line_breaks(tmp_path):
    title = 'Report\x0cpage 1\n"Online Retail,\nall invoices"\n'
    path = tmp_path / "titled.csv"
    path.write_text(title + CSV_HEADER + "\n" + CSV_LINES[0] + "\n" + CSV_LINES[2] + "\n")

    got = read_export(path, "sha")

    assert (got.lines.height, got.rejects.height) == (2, 0)
    assert got.lines["source_row"].to_list() == [5, 6]
    assert any("header on line 4, below 2 title lines" in n for n in got.notes)


def test_csv_line_numbers_count_quoted_line_breaks_and_blank_lines(tmp_path):
    lines = [
        CSV_LINES[0],
        '536365,71053,"TWO\nLINES",6,12/13/2010 8:26,3.39,17850,United Kingdom',
        "",
        CSV_LINES[2],
    ]
    got = read_export(write_csv(tmp_path / "x.csv", lines), "sha")

    assert got.lines["source_row"].to_list() == [2, 3, 6]
    assert got.lines["description"][1] == "TWO\nLINES"
    assert got.rejects.select("source_row", "reason_code").rows() == [(5, "blank_row")]


def test_a_quote_left_open_to_the_end_of_the_file_is_named_not_read_as_one_field(tmp_path):
    # Python's csv reads a field whose quote is not closed on to the end of the file: two more lines
    # would have become one line's country.
    broken = CSV_LINES[0].replace(",United Kingdom", ',"United Kingdom')
    book = write_csv(tmp_path / "open.csv", [CSV_LINES[0], broken, CSV_LINES[2], CSV_LINES[0]])
    with pytest.raises(ConversionError, match=r"open.csv, line 3: .* runs to line 5, so lines 4-5"):
        read_export(book, "sha")
    # Followed by a line of no data, the field is never closed at all.
    book = write_csv(tmp_path / "noted.csv", [CSV_LINES[0], broken, "end of report"])
    named = r"noted.csv, line 3: a quoted field opens on this line and is never closed: .* \(line 4\)"
    with pytest.raises(ConversionError, match=named):
        read_export(book, "sha")


def test_lines_taken_in_between_two_stray_quotes_are_named(tmp_path):
    opens = CSV_LINES[0].replace(",United Kingdom", ',"United Kingdom')
    closes = CSV_LINES[2].replace(",United Kingdom", ',United Kingdom"')
    book = write_csv(tmp_path / "stray.csv", [opens, CSV_LINES[0], closes, CSV_LINES[2]])
    with pytest.raises(ConversionError, match=r"stray.csv, line 2: .* runs to line 4, so lines 3-4"):
        read_export(book, "sha")


def test_quoted_line_breaks_with_commas_of_their_own_still_read(tmp_path):
    # The second line of the description holds two commas, and the line it ends on five more.
    split = '536365,71053,"PARTY BUNTING\nRED, GREEN, BLUE",6,12/13/2010 8:26,3.39,17850,United Kingdom'
    got = read_export(write_csv(tmp_path / "bunting.csv", [split, CSV_LINES[2]]), "sha")

    assert got.lines["description"].to_list() == ["PARTY BUNTING\nRED, GREEN, BLUE", "Discount"]
    assert got.lines["source_row"].to_list() == [2, 4]


def test_windows_1252_accents_next_to_quotes_and_symbols_read_as_windows_1252(tmp_path):
    # É’ and É´ are also UTF-8 byte pairs (for other letters), but not of Western text.
    lines = [CSV_LINES[0].replace("WHITE HANGING", "CAFÉ’S JOSÉ´S BÉBÉ°"), CSV_LINES[2]]
    got = read_export(write_csv(tmp_path / "cp.csv", lines, encoding="cp1252"), "sha")

    assert got.lines["description"][0].startswith("CAFÉ’S JOSÉ´S BÉBÉ°")
    assert any("cp1252" in note for note in got.notes)


def test_a_column_the_header_holds_twice_is_named(tmp_path):
    book = write_csv(tmp_path / "twice.csv", [CSV_LINES[0] + ",France"], header=CSV_HEADER + ",Country")
    named = r"twice.csv: the header holds Country 2 times \(columns 8, 9\)"
    with pytest.raises(ConversionError, match=named):
        read_export(book, "sha")


def test_csv_with_a_ragged_line_names_the_line(tmp_path):
    book = write_csv(tmp_path / "ragged.csv", [CSV_LINES[0], CSV_LINES[2] + ",extra,values"])
    with pytest.raises(ConversionError, match=r"ragged.csv, line 3: 10 fields where the header has 8"):
        read_export(book, "sha")


def test_old_xls_workbook(tmp_path):
    xlwt = pytest.importorskip("xlwt", reason="xlwt writes the .xls test workbook (dev extra)")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Online Retail")
    dates = xlwt.easyxf(num_format_str="m/d/yy h:mm")
    for col, name in enumerate(HEADER):
        sheet.write(0, col, name)
    for r, row in enumerate(SMALL_ROWS[:4], start=1):
        for c, value in enumerate(row):
            sheet.write(r, c, value, dates if isinstance(value, dt.datetime) else xlwt.Style.default_style)
    path = tmp_path / "Online Retail.xls"
    book.save(str(path))

    got = read_export(path, "sha")

    assert (got.kind, got.lines.height, got.rejects.height) == ("xls", 4, 0)
    assert got.lines["invoice_no"].to_list() == ["536365", "536365", "536365", "C536379"]
    assert got.lines["invoice_ts"][0] == T1 and got.lines["source_row"].to_list() == [2, 3, 4, 5]


def test_xlsx_title_rows_leading_blank_rows_and_a_notes_sheet(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Export"
    ws.cell(row=2, column=1, value="Online Retail: all invoices")  # row 1 left empty
    for col, name in enumerate(HEADER_II, start=1):
        ws.cell(row=4, column=col, value=f"  {name.upper()} ")
    for r, row in enumerate(SMALL_ROWS[:2], start=5):
        for c, value in enumerate(row, start=1):
            ws.cell(row=r, column=c, value=value)
    wb.create_sheet("Notes").append(["Figures exported by the web shop"])
    wb.save(tmp_path / "titled.xlsx")

    got = read_export(tmp_path / "titled.xlsx", "sha")

    assert got.lines["source_row"].to_list() == [5, 6]  # the rows a person sees in Excel
    assert got.format_name == "Online Retail II"
    assert got.skipped_sheets == {
        "Notes": "no Online Retail header in its first 30 rows (first row: Figures exported by the web shop)"
    }
    assert any("header on row 4, below 3 title rows" in n for n in got.notes)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: p.write_bytes(b"%PDF-1.7\n..."), "a PDF document, not an export"),
        (lambda p: p.write_text('<?xml version="1.0"?><Workbook/>'), "an XML file (Excel 2003's XML"),
        (lambda p: p.write_bytes(gzip.compress(b"InvoiceNo,StockCode")), "gzip-compressed data"),
        (lambda p: p.write_bytes(b"\x00\x01\x02binary"), "binary data of an unknown kind"),
        (
            lambda p: p.write_text("hello,world\n1,2\n"),
            "not an Online Retail export: no line among the first 30",
        ),
        (
            lambda p: p.write_text(CSV_HEADER.replace("Country", "Land") + "\n1,2\n"),
            "missing column 'Country'",
        ),
        (
            lambda p: p.write_text(
                "Monthly export\n" + CSV_HEADER.replace("UnitPrice", "Unit Price") + "\n1,2\n"
            ),
            "column 'Unit Price' should be named 'UnitPrice'",
        ),
        (lambda p: p.write_bytes(b"\xef\xbb\xbf" + b"\x81" * 3), "neither UTF-8 nor Windows-1252"),
    ],
)
def test_files_that_are_not_exports_are_named(tmp_path, make, words):
    path = tmp_path / "export.csv"
    make(path)
    with pytest.raises(ConversionError, match="export.csv") as err:
        read_export(path, "sha")
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("member", "words"),
    [
        ("word/document.xml", "report.xlsx: a Word document, not an .xlsx workbook"),
        ("readme.txt", "report.xlsx: a zip archive holding readme.txt, not an .xlsx workbook"),
    ],
)
def test_zip_files_that_are_not_workbooks(tmp_path, member, words):
    path = tmp_path / "report.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, "<x/>")
    with pytest.raises(ConversionError, match=words):
        read_export(path, "sha")


def test_lake_names_stay_distinct_in_any_script():
    names = ["销售.xlsx", "退货.xlsx", "Продажи 2011.csv", "ventes_été.xlsx", "!!!.xlsx", "???.xlsx"]
    slugs = [workbook_slug(Path(n)) for n in names]
    assert slugs[:4] == ["销售", "退货", "продажи_2011", "ventes_été"]
    assert len(set(slugs)) == len(names)
    assert workbook_slug(Path("Sales 2011.xlsx")) == workbook_slug(Path("sales_2011.csv"))


def test_landing_folder_lists_what_it_skips(tmp_path):
    write_workbook(tmp_path / "2010-12.xlsx", SMALL_ROWS)
    write_csv(tmp_path / "2011-01.CSV", CSV_LINES)
    (tmp_path / "~$2010-12.xlsx").write_bytes(b"lock")
    (tmp_path / "README.pdf").write_bytes(b"%PDF")
    (tmp_path / "archive").mkdir()

    listing = list_folder(tmp_path)

    assert [p.name for p in listing.exports] == ["2010-12.xlsx", "2011-01.CSV"]
    assert listing.skipped == {
        "README.pdf": "not an export (.xlsx, .xlsm, .xls, .csv)",
        "archive": "a folder (sub-folders are not read)",
        "~$2010-12.xlsx": "lock file of a workbook open in Excel",
    }
    (tmp_path / "2010_12.csv").write_text(CSV_HEADER)
    with pytest.raises(SourceError, match="2010-12.xlsx; 2010_12.csv"):
        list_folder(tmp_path)
