"""``python -m pipeline dsn``: print the OLAP database's connection string (starting the embedded
PostgreSQL if no DSN is configured), so that ``psql "$(python -m pipeline dsn)"`` opens it.
``python -m pipeline restore-previous``: make the previously published version live again.
``python -m pipeline stop-postgres``: stop the embedded server.
``python -m pipeline settings``: every setting with its value, where the value comes from, and what it does.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dsn", help="print the PostgreSQL connection string")
    commands.add_parser("restore-previous", help="make the previous published version live again")
    commands.add_parser("stop-postgres", help="stop the embedded PostgreSQL server")
    commands.add_parser(
        "settings", help="list every setting: value, source (env, luigi.cfg, default), meaning"
    )
    args = parser.parse_args(argv)

    from pipeline.config import load_settings

    settings = load_settings()
    if args.command == "dsn":
        print(settings.postgres_dsn())
        return 0
    if args.command == "restore-previous":
        from pipeline.lib.postgres import PostgresUnavailable
        from pipeline.lib.publish import PublishError, restore_previous

        try:
            version = restore_previous(
                settings.postgres_dsn(),
                settings.publish_lock_timeout_ms,
                settings.publish_turn_wait_seconds,
            )
        except (PublishError, PostgresUnavailable) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(f"version {version} is live again", file=sys.stderr)
        return 0
    if args.command == "settings":
        print_settings(settings)
        return 0
    if args.command == "stop-postgres":
        from pipeline.lib.embedded_postgres import stop_embedded_server

        stopped = stop_embedded_server(settings.embedded_pg_dir)
        print("stopped" if stopped else "not running", file=sys.stderr)
        return 0
    return 2


def print_settings(settings) -> None:
    from dataclasses import fields

    from pipeline.config import setting_sources
    from pipeline.lib.postgres import redact

    sources = setting_sources()
    for f in fields(settings):
        value = getattr(settings, f.name)
        shown = redact(value) if f.name == "pg_dsn" and value else value
        print(f"{f.name} = {shown}    [{sources[f.name]}]\n    {f.metadata['description']}")


if __name__ == "__main__":
    sys.exit(main())
