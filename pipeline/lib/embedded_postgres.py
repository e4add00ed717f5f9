"""The embedded PostgreSQL (the pgserver wheel) that a run uses when no DSN is configured: start it
under the data directory, find it running, stop it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.lib.signals import stops_deferred


def dsn_for(pg_dsn: str, embedded_dir: Path) -> str:
    """The configured DSN, or the embedded server's under ``embedded_dir`` (started if needed)."""
    return pg_dsn or embedded_server_dsn(embedded_dir)


def embedded_server_dsn(pg_dir: Path) -> str:
    """Start (or find running) the embedded PostgreSQL under ``pg_dir`` and return its URI.

    The server is left running when the process ends (cleanup_mode=None) so that ``psql`` and BI tools
    can use it afterwards; ``python -m pipeline stop-postgres`` stops it.
    """
    import pgserver

    pg_dir.parent.mkdir(parents=True, exist_ok=True)
    # A stop signal waits for the start: a killed first initdb leaves a data folder that pgserver takes
    # for a cluster (its PG_VERSION is written first), and every later run fails on it.
    with stops_deferred():
        return pgserver.get_server(pg_dir, cleanup_mode=None).get_uri()


def stop_embedded_server(pg_dir: Path) -> bool:
    """Stop the embedded server under ``pg_dir``; False when none is running."""
    if not (pg_dir / "postmaster.pid").exists():
        return False
    from pgserver._commands import pg_ctl

    # As root, pgserver runs the server as its own system user; pg_ctl must run as that user too.
    user = "pgserver" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pg_dir, user=user)
    return True
