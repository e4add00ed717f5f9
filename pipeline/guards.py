"""What a run checks before it starts, in the scheduling process, before any task runs: that the
settings that bound its time can work, that no other run works in its data directory, that the lake's
object store (when ``lake_url`` is ``s3://``) answers, accepts the credentials and has the bucket, and
that its PostgreSQL answers, accepts the credentials and grants what publishing needs. A failure here
ends the run at once (exit code 35) with one message.
"""

from __future__ import annotations

import luigi

from pipeline.config import Settings
from pipeline.lib.files import hold_exclusive
from pipeline.lib.preflight import Preflight, preflight


class DataDirInUse(RuntimeError):
    """Another run works in this data directory."""


class SettingsError(ValueError):
    """A setting's value cannot work; the message names it and says what it must be."""


def check_settings(settings: Settings) -> None:
    """The settings that bound a run's time: a limit below 0 would end every publish at once, and a
    wait for the publish turn as long as the publish's whole limit would never end by itself."""
    limit, wait = settings.postgres_task_timeout_seconds, settings.publish_turn_wait_seconds
    if limit < 0 or wait < 0:
        raise SettingsError(
            f"[pipeline] postgres_task_timeout_seconds = {limit} and publish_turn_wait_seconds = {wait}: "
            "neither may be below 0 (0: no limit, no wait)"
        )
    if limit and wait >= limit:
        raise SettingsError(
            f"[pipeline] publish_turn_wait_seconds = {wait} is not below postgres_task_timeout_seconds = "
            f"{limit}, which counts the wait for the publish turn too: raise the limit, or set it to 0"
        )


def hold_data_dir(settings: Settings) -> None:
    """One run at a time per data directory, whatever its command line (Luigi's own lock is keyed on
    the command line: two runs with different sources would build into the same warehouse file). With
    a central scheduler, luigid coordinates the workers instead."""
    if not luigi.interface.core().local_scheduler:
        return
    holder = hold_exclusive(settings.data_dir / ".run.lock")
    if holder is not None:
        raise DataDirInUse(
            f"another pipeline run (pid {holder}) is working in {settings.data_dir}; wait for it to end, "
            "or give this run a data directory of its own (PIPELINE_DATA_DIR)"
        )


_checked_stores: set[str] = set()


def check_store(settings: Settings) -> None:
    """The object store's preflight, once per process and lake (storage.check_store): raises StorageError
    naming what is wrong (no bucket, refused credentials, no answer) before any work."""
    from pipeline.lib.storage import check_store as check

    location = str(settings.lake_location)
    if location not in _checked_stores:
        check(location)
        _checked_stores.add(location)


_checked_servers: dict[str, Preflight] = {}  # DSN -> what its preflight found, in this process


def check_postgres(settings: Settings) -> Preflight:
    """The preflight, once per process and server: before any conversion or build, the configured
    PostgreSQL must answer, accept the credentials and grant what publishing needs. Raises
    PostgresUnavailable with one line saying what is wrong; returns what it found (the live version)."""
    dsn = settings.postgres_dsn()
    if dsn not in _checked_servers:
        _checked_servers[dsn] = preflight(dsn, settings.bi_role)
    return _checked_servers[dsn]
