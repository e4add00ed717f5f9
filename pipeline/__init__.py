"""Online Retail pipeline: UCI workbook → Parquet lake → dbt-duckdb star schema → PostgreSQL.

``luigi --module pipeline RunAll`` finds the tasks here.
"""

from pipeline.tasks import (
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
