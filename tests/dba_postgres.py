"""A PostgreSQL server started the way a DBA runs one, for the tests that must not lean on the embedded
superuser socket: Debian's PostgreSQL server binaries (or pgserver's bundled ones), password
authentication (scram-sha-256) over TCP on 127.0.0.1, and a login role ``etl`` that owns its database
but is neither superuser nor CREATEROLE. The cluster runs as the ``postgres`` system user when the
tests run as root, as PostgreSQL refuses to run as root."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from support import Run, free_port, run

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
ETL_PASSWORD = "etl-Secret-4711"
SUPERUSER = "dba"
SUPERUSER_PASSWORD = "dba-Secret-0815"


def server_binaries() -> Path | None:
    """Debian's PostgreSQL 15, else pgserver's bundled server, else None."""
    if (DEBIAN_BIN / "pg_ctl").exists():
        return DEBIAN_BIN
    try:
        import pgserver

        bundled = Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError:
        return None
    return bundled if (bundled / "pg_ctl").exists() else None


@dataclass
class DbaServer:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None

    def dsn(self, user="etl", password=ETL_PASSWORD, database="retail", host="127.0.0.1", port=None) -> str:
        return f"postgresql://{user}:{password}@{host}:{port or self.port}/{database}"

    @property
    def superuser_dsn(self) -> str:
        return self.dsn(SUPERUSER, SUPERUSER_PASSWORD, "postgres")

    def _run(self, *args: str, check=True, timeout=60) -> Run:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        # In the cluster's parent folder: the server's system user can enter it.
        return run(command, env=os.environ, cwd=self.data_dir.parent, timeout=timeout, check=check)

    def start(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"), "-w", "-t", "60",
            "-o", f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c log_connections=on",
            "start",
        )  # fmt: skip

    @property
    def log(self) -> Path:
        """The server's log: with log_connections, one line per connection with its application_name."""
        return self.data_dir / "server.log"

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def sql(self, statement: str, dsn: str | None = None):
        import psycopg

        with psycopg.connect(dsn or self.superuser_dsn, autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else None


def start_dba_server(root: Path) -> DbaServer:
    bin_dir = server_binaries()
    if bin_dir is None:
        raise FileNotFoundError("no PostgreSQL server binaries (Debian postgresql-15 or pgserver)")
    run_as = "postgres" if os.geteuid() == 0 else None
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "cluster"
    pwfile = root / "superuser.pw"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if run_as:
        user = pwd.getpwnam(run_as)
        for path in (root, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        # The server's user must reach its data directory through the test's temporary folders.
        for parent in root.parents:
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
    server = DbaServer(bin_dir, data_dir, free_port(), run_as)
    server._run(
        "initdb", "-D", str(data_dir), "-U", SUPERUSER, f"--pwfile={pwfile}",
        "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
        timeout=120,
    )  # fmt: skip
    pwfile.unlink()
    server.start()
    server.sql(f"create role etl login password '{ETL_PASSWORD}' nosuperuser nocreaterole nocreatedb")
    server.sql("create database retail owner etl")
    return server


@contextlib.contextmanager
def dba_server(root: Path):
    server = start_dba_server(root)
    try:
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
