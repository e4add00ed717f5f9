"""Talking to PostgreSQL: DSNs and their redaction, connections with bounded timeouts, what a failure
means (and whether a retry can help), and the database's publish turn.

Every failure to reach or use the server becomes ``PostgresUnavailable``: one line that names the server
(password redacted), what went wrong and what to do, and whether trying again can help. A wrong password,
an unknown database or host, a missing privilege will not heal on a retry; a refused connection, a
timeout or a server going away mid-copy may.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

LIVE_SCHEMA = "analytics"
META_SCHEMA = "pipeline_meta"
APPLICATION_NAME = "online-retail-pipeline"
CONNECT_OPTIONS = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "application_name": APPLICATION_NAME,
}
# A quick question (preflight, the ledger's live version) must answer in seconds or fail.
QUICK_OPTIONS = {**CONNECT_OPTIONS, "connect_timeout": 5, "options": "-c statement_timeout=5000"}

# libpq's words for failures that a retry cannot fix, and what to do about each.
_PERMANENT = (
    (r"password authentication failed|no password supplied|authentication failed",
     "the user name or password is wrong: check PIPELINE_PG_DSN."),
    (r'database "[^"]+" does not exist', "create the database (README: Running against your PostgreSQL) "
     "or fix the DSN."),
    (r'role "[^"]+" does not exist', "create the login role (README: Running against your PostgreSQL) "
     "or fix the DSN."),
    (r"failed to resolve host|could not translate host name|Name or service not known",
     "the host name does not resolve: check the host in PIPELINE_PG_DSN."),
    (r"no pg_hba\.conf entry", "the server does not accept this client: the DBA adds a pg_hba.conf entry."),
    (r"permission denied|must be owner|InsufficientPrivilege", "a privilege is missing (README: Running "
     "against your PostgreSQL)."),
    (r"certificate|SSL error|sslmode", "TLS failed: check sslmode and the server's certificate."),
    (r"invalid connection option|missing \"=\"|invalid URI|invalid integer value|invalid (port|sslmode)",
     "the DSN is malformed: check PIPELINE_PG_DSN."),
)  # fmt: skip


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be reached or used; ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(message)
        self.retryable = retryable


# A keyword DSN's password, quoted ('a b') or not; and a URI's password given as a query parameter.
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_QUERY_PASSWORD = re.compile(r"((?:^|&)password=)[^&]*")


def redact(dsn: str) -> str:
    """The DSN without its password, for logs and messages."""
    if "://" not in dsn:
        return _KEYWORD_PASSWORD.sub(r"\1***", dsn)
    parts = urlsplit(dsn)
    if parts.password:
        parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@"))
    return urlunsplit(parts._replace(query=_QUERY_PASSWORD.sub(r"\1***", parts.query)))


def scrub(text: str, dsn: str) -> str:
    """``text`` without the DSN's password, wherever a library quoted it: as a word of its own, so that a
    short password inside a word ("x" of "expired") neither garbles the message nor shows what it is."""
    text = text.replace(dsn, redact(dsn))
    password = _password(dsn)
    if password:
        text = re.sub(rf"(?<!\w){re.escape(password)}(?!\w)", "***", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def _password(dsn: str) -> str:
    try:
        from psycopg.conninfo import conninfo_to_dict

        return str(conninfo_to_dict(dsn).get("password") or "")
    except Exception:  # a malformed DSN: what the patterns find
        match = _KEYWORD_PASSWORD.search(dsn)
        return match.group(2).strip("'") if match else ""


def with_libpq_options(dsn: str, **options) -> str:
    """Add libpq options (timeouts, keepalives, application_name) to a URI or keyword DSN."""
    extra = {k: str(v) for k, v in options.items() if f"{k}=" not in dsn}
    if not extra:
        return dsn
    if "://" in dsn:
        from urllib.parse import quote

        joined = "&".join(f"{k}={quote(v)}" for k, v in extra.items())
        return f"{dsn}{'&' if '?' in dsn else '?'}{joined}"
    return " ".join([dsn, *(f"{k}='{v}'" for k, v in extra.items())])


def describe_failure(err: BaseException, dsn: str, doing: str = "connect to") -> PostgresUnavailable:
    """One line for a failed connection or statement: the server, the cause, what to do."""
    first = scrub(str(err).strip(), dsn)
    # libpq prefixes "connection failed: connection to server at ... failed: FATAL:  ..."; DuckDB adds
    # a C++ stack trace after the first line. Keep the cause.
    cause = first.splitlines()[0] if first else type(err).__name__
    cause = re.sub(r"^(?:.*?failed:\s*)+(?:FATAL:\s*)?", "", cause) or cause
    for pattern, advice in _PERMANENT:
        if re.search(pattern, first, re.IGNORECASE):
            return PostgresUnavailable(
                f"cannot {doing} PostgreSQL at {redact(dsn)}: {cause}; {advice}", False
            )
    if re.search(r"Connection refused", first):
        advice = "nothing listens there: is the server running, with this host and port?"
    elif re.search(r"timeout expired|timed out", first, re.IGNORECASE):
        advice = "no answer in time: check the network path to the server."
    else:
        advice = "the server went away or refused the work: run again once it is back."
    return PostgresUnavailable(f"cannot {doing} PostgreSQL at {redact(dsn)}: {cause}; {advice}", True)


@contextmanager
def connect(dsn: str, autocommit: bool = True, quick: bool = False) -> Iterator:
    """A psycopg connection with bounded timeouts; failures to connect raise PostgresUnavailable."""
    import psycopg

    try:
        conn = psycopg.connect(dsn, autocommit=autocommit, **(QUICK_OPTIONS if quick else CONNECT_OPTIONS))
    except psycopg.Error as err:  # OperationalError, and ProgrammingError for a malformed DSN
        raise describe_failure(err, dsn) from None
    try:
        yield conn
    finally:
        conn.close()


def retry_transient(work, *, attempts: int = 3, delays: tuple[float, ...] = (5, 15), what: str = "publish"):
    """Run ``work()``; when PostgreSQL is unavailable for a reason that may heal (refused, timed out, gone
    mid-copy), try again after each delay. A wrong password or a missing privilege fails at once."""
    import sys
    import time

    for attempt in range(1, attempts + 1):
        try:
            return work()
        except PostgresUnavailable as err:
            if not err.retryable or attempt == attempts:
                raise
            delay = delays[min(attempt, len(delays)) - 1]
            print(
                f"{what} try {attempt}/{attempts} failed ({err}); trying again in {delay:.0f} s",
                file=sys.stderr,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


# Publishing, restoring and dbt-postgres's view builds change the analytics schema: one at a time per
# database, across data directories and machines. A session lock is released when its connection ends,
# so a killed publisher never leaves it held.
_PUBLISH_LOCK_KEY = "hashtext('online_retail.publish')"


def take_publish_lock(conn, wait_seconds: float) -> None:
    """Wait for, and hold until ``conn`` (autocommit) closes or ``release_publish_lock``, the database's
    publish turn. Another session's turn is waited for at most ``wait_seconds`` (``[pipeline]
    publish_turn_wait_seconds``; 0: not at all), said once; held longer (another pipeline's publish
    that hangs), it is a PostgresUnavailable naming the session, not retried: it would hold it again."""
    import sys

    import psycopg

    assert conn.autocommit, "the turn is a session lock, taken outside a transaction"
    if conn.execute(f"select pg_try_advisory_lock({_PUBLISH_LOCK_KEY})").fetchone()[0]:
        return
    # Advisory locks are per database; pg_locks lists the whole server's.
    holder = conn.execute(
        "select coalesce(min(l.pid)::text, 'gone since') from pg_locks l join pg_database d "
        "on d.oid = l.database and d.datname = current_database() where l.locktype = 'advisory' "
        f"and l.granted and l.objsubid = 1 and l.objid::text::bigint = ({_PUBLISH_LOCK_KEY})::bigint "
        "& 4294967295"
    ).fetchone()[0]
    held = PostgresUnavailable(
        f"the database's publish turn was held for more than {wait_seconds:g} s by the session with "
        f"pid {holder} (another pipeline's publish, restore or verification; see pg_stat_activity). "
        "Let it end, or end it with SELECT pg_terminate_backend(<pid>), and run again; "
        "[pipeline] publish_turn_wait_seconds sets the wait",
        retryable=False,
    )
    if wait_seconds <= 0:
        raise held
    print(
        f"waiting for the database's publish turn: the session with pid {holder} holds it "
        f"(another pipeline's publish); waiting at most {wait_seconds:g} s",
        file=sys.stderr,
    )
    # lock_timeout is a 32-bit count of milliseconds: about 24 days at most.
    conn.execute(f"set lock_timeout = {min(int(wait_seconds * 1000), 2**31 - 1)}")
    try:
        conn.execute(f"select pg_advisory_lock({_PUBLISH_LOCK_KEY})")
    except psycopg.errors.LockNotAvailable:
        raise held from None
    finally:
        conn.execute("reset lock_timeout")


def release_publish_lock(conn) -> None:
    conn.execute(f"select pg_advisory_unlock({_PUBLISH_LOCK_KEY})")
