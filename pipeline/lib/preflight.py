"""Before any work: does the configured PostgreSQL answer, accept the credentials and grant what a
publish needs; and which warehouse version is live in its ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.lib.postgres import (
    LIVE_SCHEMA,
    META_SCHEMA,
    PostgresUnavailable,
    connect,
    describe_failure,
    redact,
)


def live_version(conn) -> tuple[int, str] | None:
    """(published version, warehouse version) of the live row of the ledger, or None."""
    if conn.execute("select to_regclass(%s)", (f"{META_SCHEMA}.publish_ledger",)).fetchone()[0] is None:
        return None
    return conn.execute(
        f"select published_version, warehouse_version from {META_SCHEMA}.publish_ledger where status = 'live'"
    ).fetchone()


def live_warehouse_version(dsn: str) -> str | None:
    """The warehouse version live in ``dsn``'s ledger (one quick query), or None; None too when it was
    published in the earlier layout (views over a version schema, no ``pieces`` in its ledger row), so
    that the next run publishes it again in the current one."""
    with connect(dsn, quick=True) as conn:
        if conn.execute("select to_regclass(%s)", (f"{META_SCHEMA}.publish_ledger",)).fetchone()[0] is None:
            return None
        live = conn.execute(
            f"select warehouse_version, to_jsonb(l) -> 'pieces' is not null and to_jsonb(l) -> 'pieces' "
            f"<> 'null' from {META_SCHEMA}.publish_ledger l where status = 'live'"
        ).fetchone()
    return live[0] if live and live[1] else None


@dataclass(frozen=True)
class Preflight:
    user: str
    database: str
    server_version: str
    live: tuple[int, str] | None  # (published version, warehouse version)


def preflight(dsn: str, bi_role: str) -> Preflight:
    """Check, in seconds and before any work, that the server answers, the credentials work, and the
    login role may do what a publish does: create its schemas (or own them already) and grant the BI
    role (which must exist, or be creatable by this role). Raises PostgresUnavailable naming what is
    missing and the SQL a DBA runs to add it."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if "service" in conninfo_to_dict(dsn):
        # dbt-postgres, which verifies each publish, is given host, user and database (verify.py),
        # and what it is given wins over a service file.
        raise PostgresUnavailable(
            f"PostgreSQL at {redact(dsn)}: a service name (service=) is read by libpq but not by "
            "dbt-postgres, which verifies each publish. Write the host, port, user and dbname in "
            "PIPELINE_PG_DSN instead (the password may stay in PGPASSWORD or ~/.pgpass).",
            retryable=False,
        )
    with connect(dsn, quick=True) as conn:
        try:
            user, database, version, superuser, createrole, can_create = conn.execute(
                "select current_user, current_database(), current_setting('server_version'), "
                "rolsuper, rolcreaterole, has_database_privilege(current_database(), 'CREATE') "
                "from pg_roles where rolname = current_user"
            ).fetchone()
            # Schemas the pipeline will alter but does not own, directly or through a group role.
            foreign = conn.execute(
                "select nspname, pg_get_userbyid(nspowner) from pg_namespace "
                "where nspname = any(%s) and not pg_has_role(current_user, nspowner, 'USAGE')",
                ([LIVE_SCHEMA, META_SCHEMA],),
            ).fetchall()
            role_exists = (
                bool(bi_role)
                and conn.execute("select 1 from pg_roles where rolname = %s", (bi_role,)).fetchone()
                is not None
            )
            # The ledger is read only where it may be: a schema of another owner is named below.
            readable = not foreign or superuser
            live = live_version(conn) if readable else None
        except psycopg.Error as err:
            raise describe_failure(err, dsn, "query") from None
    missing = []
    # A publish that copies something creates a schema analytics_v<N>: the database's owner has that
    # right already.
    if not superuser and not can_create:
        missing.append(
            f"the role {user} may not create schemas in database {database}: "
            f"GRANT CREATE ON DATABASE {_ident(database)} TO {_ident(user)};"
        )
    for schema, owner in foreign:
        if not superuser:
            missing.append(
                f"schema {schema} belongs to {owner}, not {user}: "
                f"ALTER SCHEMA {schema} OWNER TO {_ident(user)};"
            )
    if bi_role and not role_exists and not (superuser or createrole):
        missing.append(
            f"the BI role {bi_role} does not exist and {user} may not create roles: "
            f"CREATE ROLE {_ident(bi_role)} NOLOGIN; (or set [pipeline] bi_role = to publish without one)"
        )
    if missing:
        raise PostgresUnavailable(
            f"PostgreSQL at {redact(dsn)} lacks what publishing needs; as a DBA, run: " + " ".join(missing),
            retryable=False,
        )
    return Preflight(user, database, version, live)


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_]*", name) else '"' + name.replace('"', '""') + '"'
