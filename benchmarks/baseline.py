"""The seed-style baseline the pipeline replaces: pandas + openpyxl, ``DataFrame.to_sql`` into a
PostgreSQL staging table, then the star schema built by SQL inside PostgreSQL. Timed end to end."""

from __future__ import annotations

import time
from pathlib import Path

STAR_SQL = """
drop schema if exists seed cascade;
create schema seed;
create table seed.dim_customer as
    select distinct "CustomerID"::bigint as customer_id, "Country" as country
    from staging_invoice_lines where "CustomerID" is not null;
create table seed.dim_product as
    select "StockCode" as stock_code, max("Description") as description
    from staging_invoice_lines group by "StockCode";
create table seed.dim_country as select distinct "Country" as country from staging_invoice_lines;
create table seed.dim_date as
    select distinct "InvoiceDate"::date as calendar_date from staging_invoice_lines;
create table seed.fct_sales as
    select s."InvoiceNo" as invoice_no, s."StockCode" as stock_code, s."CustomerID"::bigint as customer_id,
           s."InvoiceDate" as invoice_at, s."Quantity" as quantity, s."UnitPrice" as unit_price,
           s."Quantity" * s."UnitPrice" as line_amount
    from staging_invoice_lines s;
analyze seed.fct_sales;
"""


def run_baseline(workbooks: list[Path], dsn: str) -> dict:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    timings = {}
    t0 = time.monotonic()
    frames = [pd.read_excel(w, engine="openpyxl", sheet_name=0) for w in workbooks]
    frame = pd.concat(frames, ignore_index=True)
    timings["read_excel_openpyxl"] = time.monotonic() - t0
    t1 = time.monotonic()
    frame.to_sql("staging_invoice_lines", engine, if_exists="replace", index=False, chunksize=10_000)
    timings["to_sql"] = time.monotonic() - t1
    t2 = time.monotonic()
    with engine.begin() as conn:
        conn.exec_driver_sql(STAR_SQL)
    timings["star_sql"] = time.monotonic() - t2
    timings["total"] = time.monotonic() - t0
    engine.dispose()
    return {"rows": len(frame), "seconds": timings}
