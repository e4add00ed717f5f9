"""Pipeline settings: each declared once with its default, and where every input and output lives.

Values come, in order of precedence, from the task parameter on the command line, the environment
(``PIPELINE_SOURCE``, ``PIPELINE_PG_DSN``, ``PIPELINE_DATA_DIR``), the ``[pipeline]`` section of
luigi.cfg (or ``--pipeline-<name>`` flags), and the defaults below. Secrets (the DSN) belong in the
environment, never in luigi.cfg.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any

import luigi

from pipeline.lib.rules import ConversionRules

UCI_ONLINE_RETAIL_URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
REPO_ROOT = Path(__file__).resolve().parent.parent
# The two dbt projects, side by side: dbt-duckdb builds the warehouse, dbt-postgres verifies what was
# published and owns the BI views. Neither lives inside the other, so each one's files are its own.
WAREHOUSE_PROJECT_DIR = REPO_ROOT / "dbt" / "warehouse"
OLAP_PROJECT_DIR = REPO_ROOT / "dbt" / "olap"


def setting(default, description: str, *, env: str = "", normalize: Callable[[Any], Any] | None = None):
    """A pipeline setting: its default, what it does, the environment variable that overrides luigi.cfg
    (if any), and how a given value is normalised. Declared once, as a field of ``Settings``; the
    ``[pipeline]`` section of luigi.cfg and the ``--pipeline-<name>`` flags come from it."""
    return field(default=default, metadata={"description": description, "env": env, "normalize": normalize})


def _resolved_path(value) -> Path:
    return Path(value).expanduser().resolve()


def _location(value: str) -> str:
    """An s3:// URL as given (without a trailing slash), or a folder made absolute."""
    return value.rstrip("/") if value.startswith("s3://") else str(_resolved_path(value))


def _date_order(value: str) -> str:
    return "auto" if value.strip().lower() == "auto" else value.strip().upper()


@dataclass(frozen=True)
class Settings:
    """Every setting of the pipeline, resolved; paths are absolute so that tasks do not depend on the
    working directory. ``python -m pipeline settings`` prints them with their values and sources."""

    data_dir: Path = setting(
        "data", "Where every output of the pipeline lands", env="PIPELINE_DATA_DIR", normalize=_resolved_path
    )
    source: str = setting(
        "", "Workbook path, folder of workbooks, or URL (empty: the UCI download)", env="PIPELINE_SOURCE"
    )
    source_sha256: str = setting(
        "",
        "Expected sha256 of a downloaded archive; empty: not checked",
        normalize=lambda v: v.strip().lower(),
    )
    # Credentials and the endpoint are not settings: they come from the standard AWS chain
    # (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION, AWS_PROFILE), never from here.
    lake_url: str = setting(
        "",
        "Where the lake lives, with its manifests, the downloaded sources and what the publish reads: a "
        "folder, or s3://bucket/prefix on any S3-compatible store; empty: data_dir/lake",
        env="PIPELINE_LAKE_URL",
        normalize=lambda v: _location(v.strip()) if v and v.strip() else "",
    )
    # A secret: give it in the environment, never in luigi.cfg.
    pg_dsn: str = setting(
        "", "PostgreSQL DSN; empty: an embedded server under data_dir", env="PIPELINE_PG_DSN"
    )
    download_attempts: int = setting(5, "Tries per download (5xx, 429, resets, short bodies)")
    download_backoff_seconds: float = setting(
        1.0, "First retry delay of a download; doubles per try, capped at 30 s"
    )
    bi_role: str = setting(
        "analytics_reader",
        "Read-only role granted USAGE on schema analytics and SELECT (and REFERENCES, so that "
        "information_schema shows it the keys) on its tables, nothing else",
    )
    publish_lock_timeout_ms: int = setting(
        5000,
        "lock_timeout of each go-live try: readers queued behind a go-live that waits for a long query "
        "wait at most this long (then the go-live tries again later)",
    )
    publish_turn_wait_seconds: int = setting(
        1800,
        "How long a publish, a restore or dbt-postgres's view build waits for the database's publish "
        "turn while another pipeline holds it (then it fails, naming the session that holds it)",
    )
    postgres_task_timeout_seconds: int = setting(
        7200,
        "A publish or dbt-postgres verification still running after this long, its wait for the publish "
        "turn included, is ended and the run fails; the previous version stays live. A server frozen "
        "mid-statement answers nothing and no keepalive notices it. 0: no limit. Must exceed "
        "publish_turn_wait_seconds. Luigi runs a task with a limit in a process of its own, with one "
        "worker too",
    )
    dbt_project_dir: Path = setting(
        WAREHOUSE_PROJECT_DIR,
        "The dbt-duckdb project that builds the warehouse",
        normalize=lambda v: _resolved_path(v or WAREHOUSE_PROJECT_DIR),
    )
    dbt_olap_project_dir: Path = setting(
        OLAP_PROJECT_DIR,
        "The dbt-postgres project run on the published tables",
        normalize=lambda v: _resolved_path(v or OLAP_PROJECT_DIR),
    )
    dbt_target: str = setting(
        "duckdb", "dbt target that builds the warehouse (see the project's profiles.yml)"
    )
    dbt_threads: int = setting(2, "dbt threads")
    # Above the limit DuckDB spills to data/warehouse/*.tmp, so memory stays flat as the data grows (its
    # own default is 80% of RAM). Why 512MB: docs/speed.md, "Memory".
    duckdb_memory_limit: str = setting("512MB", "DuckDB memory_limit while dbt builds the warehouse")
    # The conversion rules (README "Dates and numbers"); a change re-converts every export.
    date_order: str = setting(
        ConversionRules.date_order,
        "How slash dates such as 01/12/2010 are read: auto (month-first only when an export shows "
        "month-first dates and no day-first ones), MDY or DMY",
        normalize=_date_order,
    )
    earliest_invoice_date: dt.date = setting(
        ConversionRules.earliest_invoice_date, "Invoice dates before this day are rejected"
    )
    latest_invoice_date: dt.date = setting(
        ConversionRules.latest_invoice_date, "Invoice dates after this day are rejected"
    )
    max_reject_share: float = setting(
        0.01, "Share of an export's rows that may be rejected before its conversion fails (0: none, 1: any)"
    )
    # Why 1 %: README, "Unknown stock codes and countries".
    unknown_max_line_percent: float = setting(
        1.0, "Stock codes (or countries) no seed knows may carry at most this percent of fact lines"
    )
    unknown_max_money_percent: float = setting(
        1.0, "... and at most this percent of fact money (absolute line amounts); above: the build fails"
    )
    unknown_strict: bool = setting(False, "Fail the build on any stock code or country that no seed knows")
    # Off, a build is incremental whenever it can be (README, "Incremental runs"); on, this run
    # rebuilds the warehouse from every export even when it is current. Not part of the warehouse
    # version: the same exports give the same warehouse either way.
    full_refresh: bool = setting(
        False, "Rebuild the whole warehouse from every export in this run (--pipeline-full-refresh true)"
    )

    @property
    def conversion_rules(self) -> ConversionRules:
        return ConversionRules(self.date_order, self.earliest_invoice_date, self.latest_invoice_date)

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        """The lake's folder when it is local (``lake_location`` says where it is in any case)."""
        return Path(self.lake_url) if self.lake_url and not self.lake_is_remote else self.data_dir / "lake"

    @property
    def lake_is_remote(self) -> bool:
        return self.lake_url.startswith("s3://")

    @property
    def lake_location(self) -> Path | str:
        """The lake: a local folder (a Path), or an ``s3://`` URL (a str)."""
        return self.lake_url if self.lake_is_remote else self.lake_dir

    @property
    def raw_location(self) -> Path | str:
        """Downloaded archives and the exports unpacked from them: data/raw, or beside the lake on S3 so
        that any worker converts what another downloaded."""
        return f"{self.lake_url}/_sources" if self.lake_is_remote else self.raw_dir

    @property
    def shared_warehouse_location(self) -> str | None:
        """Where the build leaves what the publish reads (the marts as Parquet, dbt's manifest, the build
        marker) for a publish on another worker; None with a local lake (the publish reads the DuckDB
        file)."""
        return f"{self.lake_url}/_warehouse" if self.lake_is_remote else None

    @property
    def dbt_build_target(self) -> str:
        """The profile output dbt builds with: ``<dbt_target>_s3`` (profiles.yml) when the lake is on S3,
        so that DuckDB gets an S3 secret."""
        return f"{self.dbt_target}_s3" if self.lake_is_remote else self.dbt_target

    @property
    def warehouse_dir(self) -> Path:
        return self.data_dir / "warehouse"

    @property
    def warehouse_path(self) -> Path:
        return self.warehouse_dir / "retail.duckdb"

    @property
    def build_marker(self) -> Path:
        return self.warehouse_dir / "retail.build.json"

    @property
    def published_marker(self) -> Path | str:
        """On the store with the lake on S3, so that a worker that did not publish reports the publish."""
        shared = self.shared_warehouse_location
        return f"{shared}/retail.published.json" if shared else self.warehouse_dir / "retail.published.json"

    @property
    def verified_marker(self) -> Path | str:
        shared = self.shared_warehouse_location
        return f"{shared}/retail.verified.json" if shared else self.warehouse_dir / "retail.verified.json"

    @property
    def dbt_work_dir(self) -> Path:
        """dbt-duckdb's target and logs for the warehouse build; the publish reads its manifest."""
        return self.warehouse_dir / "dbt"

    @property
    def warehouse_manifest_path(self) -> Path:
        """dbt's manifest of the last warehouse build: what to publish, and what the publish carries."""
        return self.dbt_work_dir / "target" / "manifest.json"

    @property
    def dbt_olap_work_dir(self) -> Path:
        """dbt-postgres's target and logs for the verification of the live tables."""
        return self.warehouse_dir / "dbt_olap"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def embedded_pg_dir(self) -> Path:
        return self.data_dir / "postgres"

    def download_marker(self, url: str) -> Path | str:
        """Written last by a download: the archive and the exports unpacked from it."""
        name = url.rstrip("/").rsplit("/", 1)[-1] or "download"
        if self.lake_is_remote:
            return f"{self.raw_location}/{name}.download.json"
        return self.raw_dir / f"{name}.download.json"

    def postgres_dsn(self) -> str:
        """The configured DSN, or the embedded server's (started if needed)."""
        from pipeline.lib.embedded_postgres import dsn_for

        return dsn_for(self.pg_dsn, self.embedded_pg_dir)


# Luigi's parameter class for each field type (as written in ``Settings``); any other type is text.
_PARAMETER_KINDS = {"int": luigi.IntParameter, "float": luigi.FloatParameter, "dt.date": luigi.DateParameter}


def _luigi_parameter(f: Field) -> luigi.Parameter:
    description = f.metadata["description"]
    if f.type == "bool":
        return luigi.BoolParameter(
            default=f.default, description=description, parsing=luigi.BoolParameter.EXPLICIT_PARSING
        )
    default = str(f.default) if isinstance(f.default, Path) else f.default
    return _PARAMETER_KINDS.get(f.type, luigi.Parameter)(default=default, description=description)


# The [pipeline] section of luigi.cfg (and the --pipeline-<name> flags): Luigi names a config class
# after its section.
pipeline = type(
    "pipeline",
    (luigi.Config,),
    {
        "__doc__": "The [pipeline] section of luigi.cfg.",
        **{f.name: _luigi_parameter(f) for f in fields(Settings)},
    },
)


def setting_sources() -> dict[str, str]:
    """Where each setting's value comes from: ``env PIPELINE_...``, ``luigi.cfg`` or ``default``."""
    config = luigi.configuration.get_config()
    found = {}
    for f in fields(Settings):
        if f.metadata["env"] and os.environ.get(f.metadata["env"]):
            found[f.name] = f"env {f.metadata['env']}"
        elif config.has_option("pipeline", f.name):  # given there, if only as empty
            found[f.name] = "luigi.cfg"
        else:
            found[f.name] = "default"
    return found


def load_settings(source: str | None = None) -> Settings:
    """The settings as the environment, luigi.cfg (or ``--pipeline-<name>``) and the defaults give them,
    in that order of precedence; ``source`` (RunAll's ``--source``) wins over all."""
    cfg = pipeline()
    values = {}
    for f in fields(Settings):
        value = os.environ.get(f.metadata["env"]) if f.metadata["env"] else None
        value = value or getattr(cfg, f.name)
        normalize = f.metadata["normalize"]
        values[f.name] = normalize(value) if normalize else value
    values["source"] = source or values["source"] or UCI_ONLINE_RETAIL_URL
    return Settings(**values)


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
