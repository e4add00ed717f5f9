"""Online Retail pipeline: UCI workbook → Parquet lake → dbt-duckdb star schema → PostgreSQL.

``luigi --module pipeline RunAll`` finds the tasks here.
"""

import os

# polars' allocator (jemalloc) keeps freed pages for a while by default, so a conversion's freed cell
# text stayed resident while it typed and wrote the lines. Returning them at once lowers a
# conversion's peak at no cost in time (docs/speed.md, "Memory"). Set before polars loads (no task
# imports it at module level); an operator's own setting wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

import luigi.worker  # noqa: E402

from pipeline.config import lock_runs_per_data_dir  # noqa: E402
from pipeline.console import use_pipeline_logging  # noqa: E402
from pipeline.lib.signals import end_tasks_with_the_run  # noqa: E402
from pipeline.tasks import (  # noqa: E402
    BuildWarehouse,
    ConvertWorkbookToParquet,
    FetchWorkbook,
    PublishToPostgres,
    RunAll,
    VerifyPostgres,
)

# Luigi's DEBUG log to data/logs/, a short console (pipeline/console.py); read when a run starts.
use_pipeline_logging()
# Luigi's one-run-at-a-time lock, per data directory instead of per machine.
lock_runs_per_data_dir()
# SIGTERM or SIGINT to the main process ends the task processes it forked (pipeline/lib/signals.py).
end_tasks_with_the_run(lambda process: isinstance(process, luigi.worker.TaskProcess))

__all__ = [
    "BuildWarehouse",
    "ConvertWorkbookToParquet",
    "FetchWorkbook",
    "PublishToPostgres",
    "RunAll",
    "VerifyPostgres",
]
