"""maga.storage on local folders and on a real S3 server (SeaweedFS, tests/s3server.py)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from maga.config import StorageConfig
from maga.storage import ObjectInfo, Storage, StorageError, is_s3, join_uri, s3_client
from tests.conftest import require_module

if TYPE_CHECKING:
    from s3server import S3Server

# Variables that could point boto3 or Airflow somewhere else during a test.
_AMBIENT = (
    "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_REGION",
    "MAGA_S3_ENDPOINT_URL", "AIRFLOW_CONN_MAGA_S3", "AIRFLOW__SECRETS__BACKEND",
)  # fmt: skip
UNREACHABLE = "http://127.0.0.1:9"  # discard port: nothing listens


def use_s3_env(
    monkeypatch: pytest.MonkeyPatch, server: S3Server, *, secret: str | None = None
) -> None:
    """Point the standard AWS environment at ``server`` (optionally with a wrong secret)."""
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret or server.secret_key)
    monkeypatch.setenv("AWS_DEFAULT_REGION", server.region)
    monkeypatch.setenv("MAGA_S3_ENDPOINT_URL", server.endpoint_url)
    for name in ("NO_PROXY", "no_proxy"):  # a CI proxy must not see 127.0.0.1
        monkeypatch.setenv(name, "127.0.0.1,localhost")


@dataclass
class Backend:
    kind: str
    storage: Storage
    base: str  # an empty folder / prefix of its own

    def uri(self, *parts: str) -> str:
        return join_uri(self.base, *parts)


# S3 tests start a real server (~4 s, once per session): "slow" as pyproject defines it.
@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Backend:
    if request.param == "local":
        return Backend("local", Storage(), str(tmp_path / "store"))
    server = request.getfixturevalue("s3_server")
    use_s3_env(monkeypatch, server)
    return Backend("s3", Storage(StorageConfig()), f"s3://{server.bucket}/{uuid.uuid4().hex}")


@pytest.fixture
def s3_base(s3_server: S3Server) -> str:
    return f"s3://{s3_server.bucket}/{uuid.uuid4().hex}"


@pytest.fixture
def airflow_sdk() -> object:
    """Airflow imported during setup: its import reconfigures logging, which would drop
    caplog's handler if it happened inside the test body."""
    return require_module("airflow.sdk", "Airflow not installed: pip install -r requirements.txt")


# --- URIs ------------------------------------------------------------------------------


def test_join_uri_and_is_s3() -> None:
    assert join_uri("s3://b", "runs", "x/", "/y.json") == "s3://b/runs/x/y.json"
    assert join_uri("s3://b/p/", "", "q") == "s3://b/p/q"
    assert join_uri("/data/var", "runs", "a/b.txt") == "/data/var/runs/a/b.txt"
    assert join_uri("var", "/abs-looking") == "var/abs-looking"  # never restarts at /
    assert join_uri("var") == "var"
    assert is_s3("s3://b/k") and not is_s3("/tmp/s3://x") and not is_s3("var/s3")
    assert Storage().local_path("s3://b/k") is None
    assert Storage().local_path("var/x") == Path("var/x")
    with pytest.raises(StorageError, match="unsupported URI scheme: gs://b/k"):
        Storage().exists("gs://b/k")


# --- both backends -----------------------------------------------------------------------


def test_roundtrip_bytes_text_json(backend: Backend) -> None:
    st = backend.storage
    st.write_bytes(backend.uri("deep/er/blob.bin"), b"\x00\xffbytes")
    assert st.read_bytes(backend.uri("deep/er/blob.bin")) == b"\x00\xffbytes"
    st.write_text(backend.uri("t.txt"), "héllo ✓\n")
    assert st.read_text(backend.uri("t.txt")) == "héllo ✓\n"
    obj = {"z": 1, "a": ["é", None, 2.5], "nested": {"k": True}}
    st.write_json(backend.uri("o.json"), obj)
    assert st.read_json(backend.uri("o.json")) == obj
    raw = st.read_text(backend.uri("o.json"))
    assert (
        raw == json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    )  # key order kept, no \u escapes
    st.write_bytes(backend.uri("empty"), b"")
    assert st.read_bytes(backend.uri("empty")) == b""


def test_overwrite_replaces_whole_content(backend: Backend) -> None:
    st, uri = backend.storage, backend.uri("f.txt")
    st.write_text(uri, "first version, longer than the second")
    st.write_text(uri, "second")
    assert st.read_text(uri) == "second"
    assert [o.uri for o in st.list(backend.base)] == [uri]  # no temp files left behind


def test_exists_delete_delete_prefix(backend: Backend) -> None:
    st = backend.storage
    uri = backend.uri("run1", "a.json")
    assert not st.exists(uri) and not st.exists(backend.uri("run1"))
    st.write_json(uri, {"x": 1})
    assert st.exists(uri)
    assert st.exists(backend.uri("run1"))  # a folder with content exists
    st.delete(uri)
    assert not st.exists(uri)
    st.delete(uri)  # missing: no error
    for name in ("a.json", "b/c.txt", "_SUCCESS", ".hidden"):
        st.write_text(backend.uri("run1", name), name)
    st.write_text(backend.uri("run10", "keep.txt"), "sibling sharing the name prefix")
    assert st.delete_prefix(backend.uri("run1")) == 4  # hidden names too
    assert not st.exists(backend.uri("run1"))
    assert st.read_text(backend.uri("run10", "keep.txt")).startswith("sibling")
    assert st.delete_prefix(backend.uri("run1")) == 0


def test_list_recursive_sorted_filtered(backend: Backend) -> None:
    st = backend.storage
    names = {
        "b.jsonl": b"b", "a/x.jsonl": b"xx", "a/y.txt": b"yyy", "deep/er/w.jsonl": b"w",
        "a/_SUCCESS": b"", "a/.x.jsonl.3f2a.tmp": b"t", ".hidden/z.jsonl": b"z",
        "_tmp/q.jsonl": b"q", "deep/_partial/r.jsonl": b"r",
    }  # fmt: skip
    for name, data in names.items():
        st.write_bytes(backend.uri(name), data)
    st.write_bytes(backend.base + "-other/c.jsonl", b"c")  # same string prefix, other folder
    found = st.list(backend.base)
    visible = ["a/x.jsonl", "a/y.txt", "b.jsonl", "deep/er/w.jsonl"]
    assert [o.uri for o in found] == sorted(backend.uri(n) for n in visible)
    assert [o.size for o in found] == [len(names[n]) for n in visible]
    assert all(isinstance(o, ObjectInfo) and o.etag == st.etag(o.uri) for o in found)
    jsonl = st.list(backend.base, suffixes=(".jsonl",))
    assert [o.uri for o in jsonl] == [
        backend.uri(n) for n in ("a/x.jsonl", "b.jsonl", "deep/er/w.jsonl")
    ]
    assert [o.uri for o in st.list(backend.uri("a"), suffixes=(".txt", ".csv"))] == [
        backend.uri("a/y.txt")
    ]
    assert st.list(backend.uri("missing")) == []


def test_etag_stable_and_content_bound(backend: Backend) -> None:
    st, uri = backend.storage, backend.uri("e.bin")
    st.write_bytes(uri, b"one")
    first = st.etag(uri)
    assert first == st.etag(uri) and '"' not in first
    st.write_bytes(backend.uri("same.bin"), b"one")
    assert st.etag(backend.uri("same.bin")) == first
    st.write_bytes(uri, b"two")
    assert st.etag(uri) != first
    if backend.kind == "local":
        assert st.etag(uri) == hashlib.sha256(b"two").hexdigest()
    else:
        assert st.etag(uri) == hashlib.md5(b"two").hexdigest()  # single-part S3 ETag


def test_open_read_streams(backend: Backend) -> None:
    st, uri = backend.storage, backend.uri("big.jsonl")
    lines = [json.dumps({"i": i, "pad": "x" * 200}).encode() + b"\n" for i in range(15_000)]
    data = b"".join(lines)  # ~3.2 MB
    st.write_bytes(uri, data)
    with st.open_read(uri) as fh:
        assert fh.readline() == lines[0]
        chunks = []
        while chunk := fh.read(65_536):
            assert len(chunk) <= 65_536
            chunks.append(chunk)
    assert b"".join(chunks) == data[len(lines[0]) :]
    with st.open_read(uri) as fh:
        assert sum(1 for _ in fh) == len(lines)  # iterates line by line


def _make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"a": 1}', "weights/part-0.bin": os.urandom(300_000),
        "weights/part-1.bin": b"\x00" * 10, "_SUCCESS": b"", "tok/sub/vocab.txt": b"a\nb\n",
    }  # fmt: skip
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_upload_download_dir_roundtrip(backend: Backend, tmp_path: Path) -> None:
    st, uri = backend.storage, backend.uri("models", "student")
    files = _make_tree(tmp_path / "src")
    assert st.upload_dir(tmp_path / "src", uri) == len(files)
    assert st.read_bytes(join_uri(uri, "tok/sub/vocab.txt")) == b"a\nb\n"
    assert st.exists(join_uri(uri, "_SUCCESS"))  # uploaded, only hidden from list()
    assert st.download_dir(uri, tmp_path / "dst") == len(files)
    assert _read_tree(tmp_path / "dst") == files
    # A second upload replaces: files gone from the source disappear from the target.
    (tmp_path / "src" / "weights" / "part-1.bin").unlink()
    (tmp_path / "src" / "new.txt").write_text("new")
    assert st.upload_dir(str(tmp_path / "src"), uri) == len(files)
    assert [o.uri[len(uri) + 1 :] for o in st.list(uri)] == [
        "config.json", "new.txt", "tok/sub/vocab.txt", "weights/part-0.bin",
    ]  # fmt: skip


def test_missing_names_the_uri(backend: Backend, tmp_path: Path) -> None:
    st, uri = backend.storage, backend.uri("nope", "x.json")
    expected = re.escape(f"not found: {uri}")
    for call in (st.read_bytes, st.read_text, st.read_json, st.open_read, st.etag):
        with pytest.raises(StorageError, match=expected):
            call(uri)
    with pytest.raises(StorageError, match=re.escape(f"not found: {backend.uri('nope')}")):
        st.download_dir(backend.uri("nope"), tmp_path / "dst")
    with pytest.raises(StorageError, match="not found: .*no-such-dir"):
        st.upload_dir(tmp_path / "no-such-dir", backend.uri("up"))


# --- local only -----------------------------------------------------------------------------


def test_local_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st, uri = Storage(), str(tmp_path / "a" / "f.txt")
    st.write_text(uri, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(StorageError, match=re.escape(f"cannot write {uri}")):
        st.write_text(uri, "new")
    assert Path(uri).read_text() == "old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["f.txt"]  # temp removed


def test_local_relative_paths_and_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    st = Storage()
    st.write_text("rel/dir/f.txt", "x")
    assert (tmp_path / "rel/dir/f.txt").read_text() == "x"
    assert [o.uri for o in st.list("rel")] == ["rel/dir/f.txt"]
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "rel/dir/f.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert st.list("./rel", suffixes=(".txt",))[0].uri == "rel/dir/f.txt"


def test_local_upload_dir_replaces_folder(tmp_path: Path) -> None:
    st, dest = Storage(), tmp_path / "out" / "model"
    (dest / "stale").mkdir(parents=True)
    (dest / "stale" / "old.bin").write_bytes(b"old")
    files = _make_tree(tmp_path / "src")
    assert st.upload_dir(tmp_path / "src", str(dest)) == len(files)
    assert _read_tree(dest) == files
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["model"]  # no temp left
    with pytest.raises(StorageError, match="into itself"):
        st.upload_dir(tmp_path / "src", str(tmp_path / "src" / "copy"))


# --- S3 only: credentials and where they come from ----------------------------------------


@pytest.mark.slow
def test_server_refuses_wrong_and_missing_credentials(s3_server: S3Server) -> None:
    from botocore.exceptions import ClientError

    bucket = s3_server.bucket
    s3_server.client().put_object(Bucket=bucket, Key="probe.txt", Body=b"ok")
    with pytest.raises(ClientError, match="SignatureDoesNotMatch"):
        s3_server.client(secret_key="not-the-secret").get_object(Bucket=bucket, Key="probe.txt")
    with pytest.raises(ClientError, match="InvalidAccessKeyId"):
        s3_server.client(access_key="AKIAUNKNOWN0000").list_objects_v2(Bucket=bucket)
    assert s3_server.unsigned_status(f"/{bucket}/probe.txt") == 403  # anonymous


@pytest.mark.slow
def test_storage_with_wrong_secret_fails_clearly(
    s3_server: S3Server, s3_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3_env(monkeypatch, s3_server, secret="wrong-secret-value")
    uri = join_uri(s3_base, "x.txt")
    with pytest.raises(StorageError, match=re.escape(f"S3 write failed for {uri}")) as info:
        Storage().write_text(uri, "x")
    assert "SignatureDoesNotMatch" in str(info.value)
    assert "wrong-secret-value" not in str(info.value)


@pytest.mark.slow
def test_cfg_endpoint_overrides_environment(
    s3_server: S3Server, s3_base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_s3_env(monkeypatch, s3_server)
    monkeypatch.setenv("MAGA_S3_ENDPOINT_URL", UNREACHABLE)
    st = Storage(StorageConfig(endpoint_url=s3_server.endpoint_url, region="us-east-1"))
    st.write_text(join_uri(s3_base, "cfg.txt"), "via cfg")
    assert st.read_text(join_uri(s3_base, "cfg.txt")) == "via cfg"


@pytest.mark.slow
def test_airflow_connection_from_env_json(
    airflow_sdk: object, s3_server: S3Server, s3_base: str, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # The environment is wrong on purpose: only the connection can make this work.
    use_s3_env(monkeypatch, s3_server, secret="wrong-secret-value")
    monkeypatch.setenv("MAGA_S3_ENDPOINT_URL", UNREACHABLE)
    conn = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region},
    }
    monkeypatch.setenv("AIRFLOW_CONN_MAGA_S3", json.dumps(conn))
    caplog.set_level(logging.DEBUG, logger="maga")
    st = Storage(StorageConfig(s3_conn_id="maga_s3"))
    st.write_json(join_uri(s3_base, "c.json"), {"via": "airflow"})
    assert st.read_json(join_uri(s3_base, "c.json")) == {"via": "airflow"}
    assert "Airflow connection 'maga_s3'" in caplog.text
    assert s3_server.secret_key not in caplog.text


@pytest.mark.slow
def test_missing_airflow_connection_is_quick_and_quiet(
    airflow_sdk: object, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    # Airflow is imported, so the lookup really goes through Airflow and finds nothing.
    use_s3_env(monkeypatch, s3_server)
    caplog.set_level(logging.INFO, logger="maga")
    began = time.monotonic()
    client = s3_client(StorageConfig(s3_conn_id="maga_no_such_connection"))
    assert time.monotonic() - began < 5
    assert "credentials from environment" in caplog.text
    assert s3_server.secret_key not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("maga") and r.levelno >= 30]
    client.head_bucket(Bucket=s3_server.bucket)


def test_put_get_and_copy_files(backend: Backend, tmp_path: Path) -> None:
    st = backend.storage
    local = tmp_path / "big.bin"
    local.write_bytes(b"x" * 1_000_003)
    st.put_file(local, backend.uri("in/big.bin"))
    assert st.read_bytes(backend.uri("in/big.bin")) == local.read_bytes()
    st.copy(backend.uri("in/big.bin"), backend.uri("out/copy.bin"))
    got = st.get_file(backend.uri("out/copy.bin"), tmp_path / "dl" / "copy.bin")
    assert got.read_bytes() == local.read_bytes()
    assert [o.uri for o in st.list(backend.uri(""))] == [
        backend.uri("in/big.bin"),
        backend.uri("out/copy.bin"),
    ]  # no temp file left behind
    with pytest.raises(StorageError, match="not found|404|NoSuchKey"):
        st.get_file(backend.uri("missing.bin"), tmp_path / "m.bin")
    with pytest.raises(StorageError, match="between backends"):
        st.copy(backend.uri("in/big.bin"), "s3://b/k" if not is_s3(backend.uri("")) else str(local))
