"""Small file helpers shared by the stages: a file only ever appears whole."""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from pathlib import Path

_held_locks: dict[Path, int] = {}


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write to a temporary file beside ``path`` (same filesystem), then rename over it; an ``s3://``
    location is written as one whole object (pipeline/lib/storage.py)."""
    if str(path).startswith("s3://"):
        from pipeline.lib.storage import write_bytes

        write_bytes(path, text.encode())
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path | str, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, default=str))


def read_json(path: Path | str) -> dict | None:
    """The JSON object in ``path`` (a file or an ``s3://`` object), or None when it is missing or
    unreadable (a torn write)."""
    if str(path).startswith("s3://"):
        from pipeline.lib.storage import read_bytes

        data = read_bytes(path)
        try:
            return None if data is None else json.loads(data)
        except json.JSONDecodeError:
            return None
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def hold_exclusive(path: Path) -> str | None:
    """Take an exclusive lock on ``path`` for the rest of this process (forked children share it).

    Returns None when this process holds it, else what the holder wrote there (its pid). The lock goes
    with the process, however it ends: a killed run never leaves it behind.
    """
    if path in _held_locks:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
        os.close(fd)
        return holder
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    _held_locks[path] = fd
    return None
