"""Pipeline settings: one place that says where every input and output lives.

Values come, in order of precedence, from the task parameter on the command line, the environment
(``PIPELINE_SOURCE``, ``PIPELINE_PG_DSN``, ``PIPELINE_DATA_DIR``), the ``[pipeline]`` section of
luigi.cfg, and the defaults below. Secrets (the DSN) belong in the environment, never in luigi.cfg.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import luigi

from pipeline.lib.rules import ConversionRules

UCI_ONLINE_RETAIL_URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
REPO_ROOT = Path(__file__).resolve().parent.parent
# The two dbt projects, side by side: dbt-duckdb builds the warehouse, dbt-postgres verifies what was
# published and owns the BI views. Neither lives inside the other, so each one's files are its own.
WAREHOUSE_PROJECT_DIR = REPO_ROOT / "dbt" / "warehouse"
OLAP_PROJECT_DIR = REPO_ROOT / "dbt" / "olap"


class pipeline(luigi.Config):  # noqa: N801 - Luigi names a config class after its luigi.cfg section
    """The ``[pipeline]`` section of luigi.cfg."""

    data_dir = luigi.Parameter(default="data", description="Where every output of the pipeline lands")
    source = luigi.Parameter(
        default="",
        description="Workbook path, folder of workbooks, or URL (default: the UCI download)",
    )
    source_sha256 = luigi.Parameter(
        default="",
        description="Expected sha256 of a downloaded workbook archive; empty: not checked",
    )
    pg_dsn = luigi.Parameter(
        default="",
        description="PostgreSQL DSN; prefer PIPELINE_PG_DSN. Empty: an embedded server under data_dir",
    )
    download_attempts = luigi.IntParameter(default=5, description="Tries per download before the task fails")
    download_backoff_seconds = luigi.FloatParameter(
        default=1.0, description="First retry delay of a download; doubles per try, capped at 30 s"
    )
    bi_role = luigi.Parameter(
        default="analytics_reader", description="Read-only role granted SELECT on schema analytics"
    )
    publish_lock_timeout_ms = luigi.IntParameter(
        default=5000, description="lock_timeout of each go-live try; readers never wait longer"
    )
    dbt_project_dir = luigi.Parameter(
        default="", description="dbt-duckdb project that builds the warehouse (default: ./dbt/warehouse)"
    )
    dbt_olap_project_dir = luigi.Parameter(
        default="", description="dbt-postgres project run on the published tables (default: ./dbt/olap)"
    )
    dbt_target = luigi.Parameter(default="duckdb", description="dbt target that builds the warehouse")
    dbt_threads = luigi.IntParameter(default=2, description="dbt threads")
    duckdb_memory_limit = luigi.Parameter(
        default="512MB", description="DuckDB memory_limit while dbt builds the warehouse; beyond it, spill"
    )
    date_order = luigi.Parameter(
        default=ConversionRules.date_order,
        description="How to read slash dates such as 01/12/2010: auto, MDY or DMY",
    )
    earliest_invoice_date = luigi.DateParameter(
        default=ConversionRules.earliest_invoice_date,
        description="Invoice dates before this day are rejected",
    )
    latest_invoice_date = luigi.DateParameter(
        default=ConversionRules.latest_invoice_date, description="Invoice dates after this day are rejected"
    )
    max_reject_share = luigi.FloatParameter(
        default=0.01, description="Share of an export's rows that may be rejected before its conversion fails"
    )
    unknown_max_line_percent = luigi.FloatParameter(
        default=1.0,
        description="Stock codes (or countries) no seed knows may carry at most this percent of fact lines",
    )
    unknown_max_money_percent = luigi.FloatParameter(
        default=1.0,
        description="... and at most this percent of fact money (absolute line amounts); above: dbt fails",
    )
    unknown_strict = luigi.BoolParameter(
        default=False, parsing=luigi.BoolParameter.EXPLICIT_PARSING,
        description="Fail the build on any stock code or country that no seed knows",
    )  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Resolved settings; paths are absolute so that tasks do not depend on the working directory."""

    data_dir: Path
    source: str
    source_sha256: str
    pg_dsn: str
    download_attempts: int
    download_backoff_seconds: float
    bi_role: str
    publish_lock_timeout_ms: int
    dbt_project_dir: Path
    dbt_olap_project_dir: Path
    dbt_target: str
    dbt_threads: int
    duckdb_memory_limit: str
    date_order: str
    earliest_invoice_date: dt.date
    latest_invoice_date: dt.date
    max_reject_share: float
    unknown_max_line_percent: float
    unknown_max_money_percent: float
    unknown_strict: bool

    @property
    def conversion_rules(self) -> ConversionRules:
        return ConversionRules(self.date_order, self.earliest_invoice_date, self.latest_invoice_date)

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir / "retail.duckdb"

    @property
    def dbt_work_dir(self) -> Path:
        """Where dbt-duckdb runs: its target/ (the manifest that publish reads) and logs."""
        return self.warehouse_dir / "dbt"

    @property
    def warehouse_manifest_path(self) -> Path:
        """dbt's manifest of the last warehouse build: what to publish, and what the publish carries."""
        return self.dbt_work_dir / "target" / "manifest.json"

    @property
    def dbt_olap_work_dir(self) -> Path:
        return self.warehouse_dir / "dbt_olap"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "postgres"

    def download_marker(self, url: str) -> Path:
        """Written last by a download: the archive and the exports unpacked from it."""
        name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
        return self.raw_dir / f"{name}.download.json"

    def postgres_dsn(self) -> str:
        """The configured DSN, or the embedded server's (started if needed)."""
        from pipeline.lib.postgres import dsn_for

        return dsn_for(self.pg_dsn, self.embedded_pg_dir)


def load_settings(source: str | None = None) -> Settings:
    cfg = pipeline()
    data_dir = Path(os.environ.get("PIPELINE_DATA_DIR") or cfg.data_dir).expanduser()
    dbt_dir = Path(cfg.dbt_project_dir) if cfg.dbt_project_dir else WAREHOUSE_PROJECT_DIR
    olap_dir = Path(cfg.dbt_olap_project_dir) if cfg.dbt_olap_project_dir else OLAP_PROJECT_DIR
    return Settings(
        data_dir=data_dir.resolve(),
        source=source or os.environ.get("PIPELINE_SOURCE") or cfg.source or UCI_ONLINE_RETAIL_URL,
        source_sha256=cfg.source_sha256.strip().lower(),
        pg_dsn=os.environ.get("PIPELINE_PG_DSN") or cfg.pg_dsn,
        download_attempts=cfg.download_attempts,
        download_backoff_seconds=cfg.download_backoff_seconds,
        bi_role=cfg.bi_role,
        publish_lock_timeout_ms=cfg.publish_lock_timeout_ms,
        dbt_project_dir=dbt_dir.expanduser().resolve(),
        dbt_olap_project_dir=olap_dir.expanduser().resolve(),
        dbt_target=cfg.dbt_target,
        dbt_threads=cfg.dbt_threads,
        duckdb_memory_limit=cfg.duckdb_memory_limit,
        date_order=cfg.date_order.strip().upper() if cfg.date_order.strip().lower() != "auto" else "auto",
        earliest_invoice_date=cfg.earliest_invoice_date,
        latest_invoice_date=cfg.latest_invoice_date,
        max_reject_share=cfg.max_reject_share,
        unknown_max_line_percent=cfg.unknown_max_line_percent,
        unknown_max_money_percent=cfg.unknown_max_money_percent,
        unknown_strict=cfg.unknown_strict,
    )


def lock_runs_per_data_dir() -> None:
    """Let pipelines with different data directories run side by side.

    Luigi refuses a run while another with the same command line runs, by a pid file in ``[core]
    lock_pid_dir`` (one folder for the whole machine by default): two pipelines with their own data
    directories were refused though they share nothing but PostgreSQL, where publishes take turns on
    their own. The folder is per data directory (as PIPELINE_DATA_DIR or ``[pipeline] data_dir`` give
    it; the command line's ``--pipeline-data-dir`` is parsed too late for this), beside Luigi's default
    one, since Luigi creates only its last level. An operator's own ``lock_pid_dir`` wins.
    """
    import hashlib
    import tempfile

    config = luigi.configuration.get_config()
    if config.has_option("core", "lock_pid_dir"):
        return
    data_dir = str(load_settings().data_dir)
    key = hashlib.sha256(data_dir.encode()).hexdigest()[:12]
    config.set("core", "lock_pid_dir", str(Path(tempfile.gettempdir()) / f"luigi-pipeline-{key}"))
