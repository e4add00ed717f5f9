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


def test_a_lake_on_s3_counts_only_whole_conversions(tmp_path, s3_server, s3_bucket, aws_env, monkeypatch):
    """On a store without rename: files put whole, the old manifest deleted first, the manifest last and
    valid only against its files' sizes; what a killed conversion left is deleted by the next one."""
    from support import SMALL_ROWS, write_workbook

    from pipeline.lib.download import sha256_file
    from pipeline.lib.lake import write_workbook_to_lake
    from pipeline.lib.lines import read_export
    from pipeline.lib.manifest import LakeManifest, LakePaths, manifest_is_current
    from pipeline.lib.rules import ConversionRules

    rules = ConversionRules().as_dict()
    lake = LakePaths(f"s3://{s3_bucket}/lake")
    book = write_workbook(tmp_path / "Online Retail.xlsx", SMALL_ROWS)

    def convert():
        sha = sha256_file(book)
        return write_workbook_to_lake(read_export(book, sha), book, sha, lake)

    manifest = convert()
    path = lake.manifest_for(book)
    assert path == f"s3://{s3_bucket}/lake/_manifests/online_retail.json"
    assert manifest_is_current(path, book, rules)
    assert set(s3_server.keys(s3_bucket, "lake/")) == {f"lake/{rel}" for rel in manifest.files} | {
        "lake/_manifests/online_retail.json"
    }
    assert not (tmp_path / "lake").exists()

    # A killed worker's leftover of this export (a month the export no longer has), and a conversion
    # that dies before its manifest: nothing counts, the old manifest is gone already.
    leftover = "invoice_lines/invoice_year=2009/invoice_month=01/part-online_retail.parquet"
    lake.store.write_bytes(leftover, b"partial")
    write_workbook(book, SMALL_ROWS[:4])
    monkeypatch.setattr(LakeManifest, "write", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        convert()
    monkeypatch.undo()
    assert lake.store.read_bytes("_manifests/online_retail.json") is None
    assert not manifest_is_current(path, book, rules)

    manifest = convert()
    assert manifest.lake_rows == 4 and manifest_is_current(path, book, rules)
    stored = s3_server.keys(s3_bucket, "lake/")
    assert set(stored) == {f"lake/{rel}" for rel in manifest.files} | {"lake/_manifests/online_retail.json"}
    assert f"lake/{leftover}" not in stored  # cleaned

    # A file of another size than the manifest says (overwritten by someone else): not current.
    rel = next(iter(manifest.files))
    lake.store.write_bytes(rel, b"x")
    assert not manifest_is_current(path, book, rules)
