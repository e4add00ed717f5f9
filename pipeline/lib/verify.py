"""dbt-postgres on the OLAP side: after go-live, ``dbt build`` of the ``dbt/olap`` project tests the live
tables in PostgreSQL (keys, conservation of lines and money) and builds the BI-facing views.

What is published is not repeated in that project: the tables and the keys each must carry come from
the warehouse's dbt manifest, as the publish step reads them (pipeline/lib/specs.py), and reach dbt
as an environment variable.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.lib.postgres import APPLICATION_NAME, connect, take_publish_lock
from pipeline.lib.specs import PUBLISHED_FOLDERS, published_keys, read_table_specs

if TYPE_CHECKING:
    from pipeline.config import Settings
    from pipeline.lib.dbt import ParseRequest


# The DSN's parts that dbt/olap/profiles.yml gives dbt-postgres, each from its env var.
_PROFILE_PARTS = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "dbname": "PGDATABASE",
    "password": "DBT_ENV_SECRET_PGPASSWORD",
}


def parse_env(dsn: str, bi_role: str) -> dict[str, str]:
    """The env vars that dbt reads while it parses the project: the connection (profiles.yml) and the
    BI role that the views are granted to (empty: none); and the DSN's other libpq parameters (sslmode,
    sslrootcert, ...) as the PG* variables that dbt-postgres's libpq reads for what it is not given.

    What the DSN leaves out is what libpq gives the publish's connections: the PG* environment, then
    its defaults. So dbt-postgres connects where, as whom and how the publish did."""
    from psycopg import pq
    from psycopg.conninfo import conninfo_to_dict

    stated = {keyword: str(value) for keyword, value in conninfo_to_dict(dsn).items()}
    libpq = {option.keyword.decode(): option for option in pq.Conninfo.get_defaults()}
    given = {k: o.val.decode() for k, o in libpq.items() if o.val is not None} | stated
    env = {var: given.get(part, "") for part, var in _PROFILE_PARTS.items()}
    env["PGDATABASE"] = env["PGDATABASE"] or env["PGUSER"]  # libpq's default database
    for keyword, value in stated.items():
        envvar = libpq[keyword].envvar if keyword in libpq else None
        if keyword not in _PROFILE_PARTS and envvar:
            env[envvar.decode()] = value
    # dbt/olap/profiles.yml passes it on as dbt-postgres's application_name.
    return env | {"PGAPPNAME": APPLICATION_NAME, "PIPELINE_BI_ROLE": bi_role}


def parse_request(settings: Settings) -> ParseRequest:
    """The OLAP project's parse, as the verification will ask for it."""
    from pipeline.lib.dbt import ParseRequest

    env = parse_env(settings.postgres_dsn(), settings.bi_role)
    return ParseRequest(settings.dbt_olap_project_dir, settings.dbt_olap_work_dir, None, env)


def verify_with_dbt_postgres(
    *,
    project_dir: Path,
    manifest_path: Path,
    dsn: str,
    work_dir: Path,
    expected_source_rows: int,
    expected_source_amount: str,
    bi_role: str,
    turn_wait_seconds: float,
) -> dict:
    """``dbt build`` of the PostgreSQL-side project: tests on the live tables, then the BI views.

    ``manifest_path``: the warehouse's dbt manifest, which says what was published.
    """
    from pipeline.lib.dbt import count_results, run_dbt

    specs = read_table_specs(manifest_path, PUBLISHED_FOLDERS)
    env = {
        **parse_env(dsn, bi_role),
        "PIPELINE_EXPECTED_SOURCE_ROWS": str(expected_source_rows),
        "PIPELINE_EXPECTED_SOURCE_AMOUNT": expected_source_amount,
        # Env vars, not --vars, read only when dbt executes: the parse never depends on them.
        "PIPELINE_PUBLISHED_KEYS": json.dumps(published_keys(specs), sort_keys=True),
    }
    started = time.monotonic()
    # Its view builds replace analytics.sales_enriched: take the database's publish turn, as publishes do.
    with connect(dsn) as conn:
        take_publish_lock(conn, turn_wait_seconds)
        run_dbt(["build"], project_dir=project_dir, work_dir=work_dir, env=env, write_json=False)
    return {"seconds": round(time.monotonic() - started, 2), "dbt_results": count_results(work_dir)}
