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

from pipeline.lib.postgres import APPLICATION_NAME, connect, take_publish_lock
from pipeline.lib.specs import PUBLISHED_FOLDERS, published_keys, read_table_specs


def verify_with_dbt_postgres(
    *,
    project_dir: Path,
    manifest_path: Path,
    dsn: str,
    work_dir: Path,
    expected_source_rows: int,
    bi_role: str,
) -> dict:
    """``dbt build`` of the PostgreSQL-side project: tests on the live tables, then the BI views.

    ``manifest_path``: the warehouse's dbt manifest, which says what was published.
    """
    from psycopg.conninfo import conninfo_to_dict

    from pipeline.lib.dbt import count_results, run_dbt

    parts = conninfo_to_dict(dsn)
    specs = read_table_specs(manifest_path, PUBLISHED_FOLDERS)
    env = {
        "PGHOST": str(parts.get("host", "localhost")),
        "PGPORT": str(parts.get("port", 5432)),
        "PGUSER": str(parts.get("user", "postgres")),
        "PGDATABASE": str(parts.get("dbname", parts.get("user", "postgres"))),
        "DBT_ENV_SECRET_PGPASSWORD": str(parts.get("password", "")),
        # dbt/olap/profiles.yml passes it on as dbt-postgres's application_name.
        "PGAPPNAME": APPLICATION_NAME,
        "PIPELINE_BI_ROLE": bi_role or "analytics_reader",
        "PIPELINE_EXPECTED_SOURCE_ROWS": str(expected_source_rows),
        # An env var, not --vars: dbt re-parses only the test that reads it, and keeps its parse cache.
        "PIPELINE_PUBLISHED_KEYS": json.dumps(published_keys(specs), sort_keys=True),
    }
    started = time.monotonic()
    # Its view builds replace analytics.sales_enriched: take the database's publish turn, as publishes do.
    with connect(dsn) as conn:
        take_publish_lock(conn)
        run_dbt(["build"], project_dir=project_dir, work_dir=work_dir, env=env, write_json=False)
    return {"seconds": round(time.monotonic() - started, 2), "dbt_results": count_results(work_dir)}
