"""Online Retail pipeline: UCI workbook → Parquet lake → dbt-duckdb star schema → PostgreSQL.

``luigi --module pipeline RunAll`` finds the tasks here.
"""

import os

# polars' allocator (jemalloc) keeps freed pages for about 10 s by default, so a conversion's freed
# cell text stayed resident while it typed and wrote the lines: returning them at once lowers a
# conversion's peak by about 60 MB with no measurable cost in time. Set before polars loads (no
# task imports it at module level); an operator's own setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

from pipeline.tasks import (  # noqa: E402
    BuildWarehouse,
    ConvertWorkbookToParquet,
    FetchWorkbook,
    PublishToPostgres,
    RunAll,
    VerifyPostgres,
)

__all__ = [
    "BuildWarehouse",
    "ConvertWorkbookToParquet",
    "FetchWorkbook",
    "PublishToPostgres",
    "RunAll",
    "VerifyPostgres",
]
