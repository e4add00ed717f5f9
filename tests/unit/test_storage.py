"""The storage seam on a real S3-compatible server (moto's server mode on 127.0.0.1) and on a local
folder: whole writes, listings, sizes, the manifest check, and the preflight's messages."""

from __future__ import annotations

import pytest

from pipeline.lib import storage


@pytest.fixture
def aws_env(s3_server, monkeypatch):
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    storage._CLIENT.clear()  # a client made under another environment must not be reused
    yield
    storage._CLIENT.clear()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, aws_env):
    if request.param == "local":
        return storage.open_store(tmp_path / "root")
    bucket = request.getfixturevalue("s3_bucket")
    return storage.open_store(f"s3://{bucket}/some/prefix")


def test_a_store_reads_lists_sizes_and_deletes_what_it_wrote(store):
    store.write_bytes("a/b/one.parquet", b"12345")
    store.write_bytes("a/c/two.parquet", b"1")
    store.write_bytes("z.json", b"{}")

    assert store.read_bytes("a/b/one.parquet") == b"12345"
    assert store.read_bytes("missing") is None
    assert store.listing("a/") == {"a/b/one.parquet": 5, "a/c/two.parquet": 1}
    assert store.sizes(["a/b/one.parquet", "z.json", "a/nothing"]) == {"a/b/one.parquet": 5, "z.json": 2}
    assert store.stat("a/c/two.parquet").size == 1 and store.stat("nothing") is None
    store.delete(["a/b/one.parquet", "never/was"])
    assert store.listing("a/") == {"a/c/two.parquet": 1}


def test_an_s3_store_keeps_its_keys_under_its_prefix(s3_server, s3_bucket, aws_env):
    store = storage.open_store(f"s3://{s3_bucket}/lake/")
    store.write_bytes("_manifests/x.json", b"{}")

    assert store.root == f"s3://{s3_bucket}/lake"
    assert s3_server.keys(s3_bucket) == {"lake/_manifests/x.json": 2}
    assert store.location("_manifests/x.json") == f"s3://{s3_bucket}/lake/_manifests/x.json"
    assert storage.read_bytes(f"s3://{s3_bucket}/lake/_manifests/x.json") == b"{}"


def test_the_preflight_passes_on_a_usable_bucket_and_leaves_nothing(s3_server, s3_bucket, aws_env):
    storage.check_store(f"s3://{s3_bucket}/lake")
    assert s3_server.keys(s3_bucket) == {}


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no bucket", "does not exist"),
        ("wrong key", "refused the credentials"),
        ("no server", "does not answer"),
    ],
)
def test_the_preflight_says_what_is_wrong_without_the_secret(s3_server, monkeypatch, case, expected):
    from support import free_port

    env = s3_server.env()
    bucket = "nowhere"
    if case == "wrong key":
        bucket = s3_server.make_bucket("preflight-wrong-key")
        env |= {"AWS_ACCESS_KEY_ID": "AKIANOTAKEY", "AWS_SECRET_ACCESS_KEY": "not-the-secret-4711"}
    elif case == "no server":
        env |= {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    storage._CLIENT.clear()

    with pytest.raises(storage.StorageError) as caught:
        storage.check_store(f"s3://{bucket}/lake")

    message = str(caught.value)
    assert expected in message and bucket in message
    assert env["AWS_SECRET_ACCESS_KEY"] not in message and s3_server.secret not in message
    storage._CLIENT.clear()
