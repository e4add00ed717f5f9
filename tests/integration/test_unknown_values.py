"""The policy for stock codes and countries that no seed knows, through the luigi command line: below
the limits they land in the star schema and are listed; above them, or when strict, dbt build fails,
names them, and PostgreSQL keeps the previous version."""

from __future__ import annotations

import time

import psycopg
import pytest
from support import SMALL_ROWS, T3, write_workbook

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

# 200 ordinary lines, so that one odd line is 0.5 % of the lines (below the default 1 %).
ORDINARY = [(538000 + i, 22728, "ALARM CLOCK BAKELIKE PINK", 1 + i % 5, T3, 3.75, 12583.0, "France")
            for i in range(200)]  # fmt: skip
UNKNOWN_CODE = (539000, "XMASWRAP", "CHRISTMAS WRAPPING", 1, T3, 0.5, 12583.0, "France")
UNKNOWN_COUNTRY = (539001, 22728, "ALARM CLOCK BAKELIKE PINK", 1, T3, 3.75, 99999.0, "Atlantis")


def live(dsn: str):
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select published_version, unknown_values from pipeline_meta.publish_ledger where status = 'live'"
        ).fetchone()


def test_unknown_codes_warn_below_the_limits_and_fail_above_them_or_when_strict(
    tmp_path, run_pipeline, pg_dsn
):
    book = tmp_path / "in" / "Online Retail.xlsx"
    env = {"PIPELINE_PG_DSN": pg_dsn}
    write_workbook(book, [*SMALL_ROWS, *ORDINARY, UNKNOWN_CODE, UNKNOWN_COUNTRY])

    started = time.monotonic()
    ok = run_pipeline("--source", str(book), env=env)
    print(f"below the limits: {time.monotonic() - started:.1f} s")

    assert ok.returncode == 0, ok.output[-5000:]
    assert "assert_unknown_values_listed (warn" in ok.output
    summary = ok.output[ok.output.index("Online Retail pipeline: done") :]
    assert "unknown values    2 in the star schema" in summary
    assert "XMASWRAP" in summary and "dbt/warehouse/seeds/stock_code_classes.csv" in summary
    assert "Atlantis" in summary and "dbt/warehouse/seeds/country_codes.csv" in summary
    version, unknown = live(pg_dsn)
    assert [(u["kind"], u["value"], u["lines"], u["amount"], u["seed_file"]) for u in unknown] == [
        ("country", "Atlantis", 1, "3.750", "dbt/warehouse/seeds/country_codes.csv"),
        ("stock_code", "XMASWRAP", 1, "0.500", "dbt/warehouse/seeds/stock_code_classes.csv"),
    ]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute(
            "select product_class from analytics.dim_product where stock_code = 'XMASWRAP'"
        ).fetchall() == [("unclassified",)]
        assert conn.execute(
            "select is_known, is_country from analytics.dim_country where country_name = 'Atlantis'"
        ).fetchall() == [(False, None)]
        assert conn.execute(
            "select line_type from analytics.fct_sales where stock_code = 'XMASWRAP'"
        ).fetchall() == [("unclassified",)]

    # Five more lines of the code: 6 of 208 lines, 2.9 % > 1 %.
    write_workbook(book, [*SMALL_ROWS, *ORDINARY, UNKNOWN_CODE, UNKNOWN_COUNTRY,
                          *[(539002 + i, *UNKNOWN_CODE[1:]) for i in range(5)]])  # fmt: skip
    started = time.monotonic()
    above = run_pipeline("--source", str(book), env=env)
    print(f"above the limits: {time.monotonic() - started:.1f} s")

    assert above.returncode == 30, above.output[-5000:]
    failure = above.output[above.output.index("dbt test assert_unknown_values_within_limits (fail") :]
    assert "value=XMASWRAP, line_count=6, line_amount=3.000" in failure
    assert (
        "max_line_percent=1" in failure and "seed_file=dbt/warehouse/seeds/stock_code_classes.csv" in failure
    )
    failing_rows = failure.split("dbt test ", 2)[1]  # up to the next test's rows (the warning's)
    assert "value=XMASWRAP" in failing_rows
    assert "value=Atlantis" not in failing_rows  # 1 line of 208 is within the limits
    assert "The warehouse was not replaced" in above.output
    assert live(pg_dsn)[0] == version

    # Strict: the one odd line of the first run is enough.
    write_workbook(book, [*SMALL_ROWS, *ORDINARY, UNKNOWN_CODE])
    started = time.monotonic()
    strict = run_pipeline("--source", str(book), "--pipeline-unknown-strict", "true", env=env)
    print(f"strict: {time.monotonic() - started:.1f} s")

    assert strict.returncode == 30, strict.output[-5000:]
    failure = strict.output[strict.output.index("dbt test assert_unknown_values_within_limits (fail") :]
    assert "value=XMASWRAP, line_count=1" in failure and "is_strict=True" in failure
    assert live(pg_dsn)[0] == version
