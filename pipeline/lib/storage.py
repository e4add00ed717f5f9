"""The one seam for where the pipeline's shared files live: a local folder, or ``s3://bucket/prefix`` on
any S3-compatible store (AWS, MinIO, ...).

A *location* is a string: a local path, or an ``s3://`` URL. ``open_store(root)`` gives a ``Store`` on
which keys (``/``-separated, relative to the root) are read, written whole, listed, sized and deleted.

Why boto3 (and not pyarrow.fs, fsspec/s3fs or obstore):

- it is the AWS SDK itself: credentials, region and endpoint come from the standard chain (``AWS_*``
  environment variables, ``AWS_ENDPOINT_URL``, ``~/.aws/config`` profiles, instance roles) with nothing
  of ours in between, and it is what Luigi's ``luigi.contrib.s3`` uses;
- it is pure Python, so a client made after Luigi forks a task process is safe; the AWS C++ SDK under
  pyarrow.fs is not fork-safe, and s3fs keeps an event loop that a fork does not carry over;
- ``put_object`` is all or nothing: an object appears whole or not at all, which is what a store without
  rename needs (a killed upload leaves nothing under the key);
- its import and first client take about 0.2 s, paid only when a location is on S3.

Nothing here logs or prints a credential: errors name the endpoint, the bucket and the key only.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

S3_SCHEME = "s3://"
# Bounded waits, so that a wrong endpoint fails a preflight in seconds rather than minutes.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 30
ATTEMPTS = 3


class StorageError(RuntimeError):
    """The store cannot be used as configured; the message names the store and what to do."""


def is_remote(location: str | Path) -> bool:
    return str(location).startswith(S3_SCHEME)


def join(location: str | Path, *parts: str) -> str:
    """``location`` with ``parts`` appended: ``/`` for a URL, the platform's separator for a path."""
    if is_remote(location):
        return "/".join([str(location).rstrip("/"), *(p.strip("/") for p in parts)])
    return str(Path(location, *parts))


def name_of(location: str | Path) -> str:
    """The last part of a location (a file name)."""
    return PurePosixPath(str(location)).name if is_remote(location) else Path(location).name


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StorageError(f"{url!r} is not an S3 location: expected s3://bucket or s3://bucket/prefix")
    return parsed.netloc, parsed.path.strip("/")


@dataclass(frozen=True)
class StoredObject:
    size: int
    mtime_ns: int


class Store:
    """Keys relative to a root; every write is whole (a reader sees the old object or the new one)."""

    root: str

    def location(self, key: str) -> str:
        return join(self.root, key)

    def read_bytes(self, key: str) -> bytes | None:
        raise NotImplementedError

    def write_bytes(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def upload(self, local: Path, key: str) -> None:
        raise NotImplementedError

    def download(self, key: str, local: Path) -> None:
        raise NotImplementedError

    def stat(self, key: str) -> StoredObject | None:
        raise NotImplementedError

    def listing(self, prefix: str) -> dict[str, int]:
        """Every key under ``prefix`` (a plain string prefix of the key), with its size."""
        raise NotImplementedError

    def delete(self, keys: Iterable[str]) -> None:
        raise NotImplementedError

    def sizes(self, keys: Iterable[str]) -> dict[str, int]:
        """The sizes of those of ``keys`` that exist (a missing key is left out)."""
        found = {}
        for key in keys:
            got = self.stat(key)
            if got is not None:
                found[key] = got.size
        return found


class LocalStore(Store):
    """A folder; writes go to a temporary file beside the target, then ``os.replace``."""

    def __init__(self, root: str | Path):
        self.path = Path(root)
        self.root = str(self.path)

    def _path(self, key: str) -> Path:
        return self.path / key

    def read_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def upload(self, local: Path, key: str) -> None:
        path = self._path(key)
        if local.resolve() == path.resolve():
            return
        self.write_bytes(key, local.read_bytes())

    def download(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(self._path(key).read_bytes())

    def stat(self, key: str) -> StoredObject | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return StoredObject(st.st_size, st.st_mtime_ns)

    def listing(self, prefix: str) -> dict[str, int]:
        base = self._path(prefix) if prefix.endswith("/") else self._path(prefix).parent
        if not base.is_dir():
            return {}
        found = {}
        for path in base.rglob("*"):
            key = path.relative_to(self.path).as_posix()
            if key.startswith(prefix) and path.is_file():
                found[key] = path.stat().st_size
        return found

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)


def _s3_client():
    """A client from the standard AWS chain (environment, ``AWS_ENDPOINT_URL``, profiles), one per
    process: Luigi forks task processes, and a client must not cross a fork."""
    pid = os.getpid()
    if _CLIENT.get("pid") != pid:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S,
            retries={"max_attempts": ATTEMPTS, "mode": "standard"},
            # MinIO and moto answer path-style requests whatever their host name; AWS accepts both.
            s3={"addressing_style": "path"},
        )
        session = boto3.session.Session()
        # botocore reads AWS_DEFAULT_REGION (and profiles) but not AWS_REGION, which the AWS CLI v2 and
        # other SDKs read; us-east-1 is what an S3-compatible server without regions expects.
        region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
        client = session.client("s3", region_name=region, config=config)
        _CLIENT.update(pid=pid, session=session, client=client)
    return _CLIENT["client"]


_CLIENT: dict = {}


def endpoint_of(client) -> str:
    return client.meta.endpoint_url


class S3Store(Store):
    """``s3://bucket/prefix``: keys are object names under the prefix."""

    def __init__(self, url: str):
        self.bucket, self.prefix = split_s3(url)
        self.root = f"{S3_SCHEME}{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")

    @property
    def client(self):
        return _s3_client()

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _rel(self, name: str) -> str:
        return name[len(self.prefix) + 1 :] if self.prefix else name

    def _missing(self, err) -> bool:
        return err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")

    def read_bytes(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as err:
            if self._missing(err):
                return None
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def upload(self, local: Path, key: str) -> None:
        # Multipart above 8 MB: the object appears only when the upload completes.
        self.client.upload_file(str(local), self.bucket, self._key(key))

    def download(self, key: str, local: Path) -> None:
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{local.name}.{uuid.uuid4().hex[:8]}")
        try:
            self.client.download_file(self.bucket, self._key(key), str(tmp))
            os.replace(tmp, local)
        finally:
            tmp.unlink(missing_ok=True)

    def stat(self, key: str) -> StoredObject | None:
        from botocore.exceptions import ClientError

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as err:
            if self._missing(err):
                return None
            raise
        return StoredObject(head["ContentLength"], int(head["LastModified"].timestamp() * 1e9))

    def listing(self, prefix: str) -> dict[str, int]:
        found = {}
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self._key(prefix)
        )
        for page in pages:
            for item in page.get("Contents", ()):
                found[self._rel(item["Key"])] = item["Size"]
        return found

    def sizes(self, keys: Iterable[str]) -> dict[str, int]:
        """One listing per top folder of the keys (their longest common prefix), not one request per
        key: a conversion's dozen month files under ``invoice_lines/`` cost one request."""
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key.split("/", 1)[0], []).append(key)
        found = {}
        for group in groups.values():
            listed = self.listing(os.path.commonprefix(group))
            found.update({k: listed[k] for k in group if k in listed})
        return found

    def delete(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 1000):  # the most one request takes
            objects = [{"Key": self._key(k)} for k in keys[start : start + 1000]]
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})


def open_store(root: str | Path) -> Store:
    return S3Store(str(root)) if is_remote(root) else LocalStore(root)


def _at(location: str | Path) -> tuple[Store, str]:
    """The store and key of a whole location (an S3 URL's bucket, or a local file's folder)."""
    if is_remote(location):
        bucket, key = split_s3(str(location))
        return S3Store(f"{S3_SCHEME}{bucket}"), key
    path = Path(location)
    return LocalStore(path.parent), path.name


def read_bytes(location: str | Path) -> bytes | None:
    store, key = _at(location)
    return store.read_bytes(key)


def write_bytes(location: str | Path, data: bytes) -> None:
    store, key = _at(location)
    store.write_bytes(key, data)


def stat(location: str | Path) -> StoredObject | None:
    store, key = _at(location)
    return store.stat(key)


def fetch(location: str | Path, local: Path) -> Path:
    """A local copy of ``location`` at ``local`` (an S3 object), or the local file itself."""
    if not is_remote(location):
        return Path(location)
    store, key = _at(location)
    store.download(key, local)
    return local


def sha256_of(location: str | Path) -> str:
    """The sha256 of a file or object, streamed."""
    digest = hashlib.sha256()
    if is_remote(location):
        store, key = _at(location)
        body = store.client.get_object(Bucket=store.bucket, Key=store._key(key))["Body"]
        for chunk in body.iter_chunks(1 << 20):
            digest.update(chunk)
    else:
        with open(location, "rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# --- checks before any work -----------------------------------------------------------------------


def check_store(root: str) -> None:
    """Before any work: the store answers, the credentials are accepted and the bucket exists and takes
    writes (a probe object is written, read and deleted). Raises StorageError with one line saying what
    is wrong and what to do; never a credential. A local root needs nothing."""
    if not is_remote(root):
        return
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    store = S3Store(root)
    try:
        client = store.client
    except BotoCoreError as err:  # a profile that does not exist, a bad config file
        raise StorageError(f"the object store for {root} cannot be set up: {err}") from None
    where = f"{root} (endpoint {endpoint_of(client)})"
    probe = f"_preflight/{uuid.uuid4().hex}"
    try:
        client.head_bucket(Bucket=store.bucket)
        store.write_bytes(probe, b"probe")
        store.read_bytes(probe)
        store.delete([probe])
    except NoCredentialsError:
        raise StorageError(
            f"no AWS credentials for {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
            "AWS_PROFILE naming a profile of ~/.aws/credentials"
        ) from None
    except EndpointConnectionError:
        raise StorageError(
            f"the object store at {endpoint_of(client)} does not answer (for {root}): check "
            "AWS_ENDPOINT_URL (or the profile's endpoint_url) and that the server runs"
        ) from None
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(
                f"the bucket {store.bucket!r} does not exist at {endpoint_of(client)}: create it "
                f"(aws s3 mb s3://{store.bucket}) or correct [pipeline] lake_url / PIPELINE_LAKE_URL"
            ) from None
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "AccessDenied", "Forbidden"):
            raise StorageError(
                f"the object store refused the credentials for {where} ({code or status}): check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and that they may read, "
                f"write and delete objects in the bucket {store.bucket!r}"
            ) from None
        raise StorageError(f"the object store refused {where}: {code or status}") from None
    except BotoCoreError as err:  # timeouts, connection resets after the retries
        raise StorageError(
            f"the object store at {endpoint_of(client)} cannot be used for {root}: "
            f"{type(err).__name__}; check AWS_ENDPOINT_URL and the network"
        ) from None


# --- DuckDB on the store --------------------------------------------------------------------------


def install_httpfs() -> None:
    """Install DuckDB's httpfs extension from the pinned ``duckdb-extension-httpfs`` wheel into DuckDB's
    extension folder (no network), so that any connection of this DuckDB version loads it."""
    import duckdb
    import duckdb_extensions

    with duckdb.connect() as con:
        duckdb_extensions.import_extension("httpfs", con=con)


def duckdb_secret_values(root: str) -> dict[str, str] | None:
    """The S3 secret for DuckDB, from the same AWS chain boto3 reads (environment, profiles): key id,
    secret, session token, region, endpoint (``host:port``), whether to use TLS. None for a local root."""
    if not is_remote(root):
        return None
    client = _s3_client()
    # The same chain the client signs with (environment, profile, role), resolved once, now.
    credentials = _CLIENT["session"].get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials else None
    endpoint = urllib.parse.urlsplit(endpoint_of(client))
    return {
        "key_id": frozen.access_key if frozen else "",
        "secret": frozen.secret_key if frozen else "",
        "session_token": (frozen.token or "") if frozen else "",
        "region": client.meta.region_name or "us-east-1",
        "endpoint": endpoint.netloc,
        "use_ssl": "true" if endpoint.scheme == "https" else "false",
    }


def create_duckdb_secret(con, root: str) -> None:
    """Let a DuckDB connection read and write ``root`` (S3): httpfs from the wheel, a temporary secret
    from the AWS chain. Nothing for a local root."""
    values = duckdb_secret_values(root)
    if values is None:
        return
    install_httpfs()
    con.execute("LOAD httpfs")
    con.execute(
        "CREATE OR REPLACE TEMPORARY SECRET pipeline_lake (TYPE s3, KEY_ID ?, SECRET ?, SESSION_TOKEN ?, "
        "REGION ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL ?)".replace("?", "{}").format(
            *(_sql_text(values[k]) for k in ("key_id", "secret", "session_token", "region", "endpoint")),
            values["use_ssl"],
        )
    )


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def dbt_env(root: str) -> dict[str, str]:
    """What the dbt profile's S3 target reads (``profiles.yml``): the secret's parts, the key and secret
    as ``DBT_ENV_SECRET_*`` so that dbt scrubs them from every log. Empty for a local root."""
    values = duckdb_secret_values(root)
    if values is None:
        return {}
    return {
        "DBT_ENV_SECRET_S3_KEY_ID": values["key_id"],
        "DBT_ENV_SECRET_S3_SECRET": values["secret"],
        "DBT_ENV_SECRET_S3_SESSION_TOKEN": values["session_token"],
        "PIPELINE_S3_REGION": values["region"],
        "PIPELINE_S3_ENDPOINT": values["endpoint"],
        "PIPELINE_S3_USE_SSL": values["use_ssl"],
    }
