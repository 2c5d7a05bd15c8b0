"""S3 (and S3-compatible: MinIO, SeaweedFS) through boto3, with path-style addressing."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from maga.config import StorageConfig
from maga.connections import airflow_connection
from maga.log import get_logger
from maga.storage.base import ObjectInfo, StorageError, visible

log = get_logger("storage")

_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


def s3_client(cfg: StorageConfig | None = None) -> Any:
    """A boto3 S3 client with path-style addressing.

    Credentials and endpoint come from the Airflow connection ``cfg.s3_conn_id`` (login,
    password, extra ``endpoint_url`` and ``region_name``) when it exists, else from the
    environment: boto3's own (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, profiles...)
    with the endpoint from ``MAGA_S3_ENDPOINT_URL``, then ``AWS_ENDPOINT_URL``. The region
    falls back to ``AWS_REGION``/``AWS_DEFAULT_REGION``, then us-east-1.
    ``cfg.endpoint_url`` and ``cfg.region`` override either source when set.
    """
    import boto3
    from botocore.config import Config

    cfg = cfg or StorageConfig()
    creds: dict[str, str] = {}
    conn = airflow_connection(cfg.s3_conn_id) if cfg.s3_conn_id else None
    if conn is not None:
        source = f"Airflow connection {cfg.s3_conn_id!r}"
        extra = conn.extra_dejson or {}
        key_id = conn.login or extra.get("aws_access_key_id")
        secret = conn.password or extra.get("aws_secret_access_key")
        if key_id and secret:
            creds = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
        host = conn.host if conn.host and "://" in conn.host else None
        endpoint, region = extra.get("endpoint_url") or host, extra.get("region_name")
    else:
        source = "environment"
        endpoint = os.environ.get("MAGA_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        region = None
    endpoint = cfg.endpoint_url or endpoint or None
    env_region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    region = cfg.region or region or env_region or "us-east-1"
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=120,
        # Recent botocore adds CRC checksums to every upload; several S3-compatible
        # servers reject them, so send checksums only where the API requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    log.info(
        "S3 client: credentials from %s, endpoint %s, region %s",
        source,
        endpoint or "(AWS default)",
        region,
    )
    session = boto3.session.Session()
    return session.client("s3", endpoint_url=endpoint, region_name=region, config=config, **creds)


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); the key may be empty."""
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"no bucket in S3 URI: {uri}")
    return bucket, key


def _folder(key: str) -> str:
    """A key as a folder prefix: ``a/b`` -> ``a/b/``, empty stays empty (whole bucket)."""
    return key.rstrip("/") + "/" if key.strip("/") else ""


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
    return str(response.get("Error", {}).get("Code") or status)


def _missing(exc: Exception) -> bool:
    return _error_code(exc) in _MISSING_CODES


class _BodyReader(io.RawIOBase):
    """A botocore StreamingBody as a raw stream, so io.BufferedReader can wrap it."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readall(self) -> bytes:
        return self._body.read()  # one call, not a loop of small reads

    def readinto(self, buffer: Any) -> int:
        data = self._body.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


class S3Backend:
    """Storage operations on ``s3://bucket/key`` URIs; the client is made on first use."""

    def __init__(self, cfg: StorageConfig) -> None:
        self.cfg = cfg
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = s3_client(self.cfg)
            return self._client

    def _error(self, exc: Exception, uri: str, action: str) -> StorageError:
        from botocore.exceptions import NoCredentialsError

        code = _error_code(exc)
        if code == "NoSuchBucket":
            return StorageError(f"not found: {uri} (bucket does not exist)")
        if code in _MISSING_CODES:
            return StorageError(f"not found: {uri}")
        if code:
            message = exc.response.get("Error", {}).get("Message", "")  # type: ignore[attr-defined]
            return StorageError(f"S3 {action} failed for {uri}: {code}: {message}")
        if isinstance(exc, NoCredentialsError):
            return StorageError(
                f"S3 {action} failed for {uri}: no credentials (define the Airflow connection "
                f"{self.cfg.s3_conn_id!r} or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            )
        return StorageError(f"S3 {action} failed for {uri}: {type(exc).__name__}: {exc}")

    def _objects(self, uri: str) -> Iterator[dict[str, Any]]:
        """Every object below the folder ``uri`` (folder placeholders ending in / left out)."""
        bucket, key = split_s3(uri)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=_folder(key)
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    if not obj["Key"].endswith("/"):
                        yield obj
        except Exception as exc:
            raise self._error(exc, uri, "list") from exc

    def _delete_keys(self, bucket: str, keys: list[str], uri: str) -> None:
        for start in range(0, len(keys), 1000):
            batch = {"Objects": [{"Key": k} for k in keys[start : start + 1000]], "Quiet": True}
            try:
                errors = self.client.delete_objects(Bucket=bucket, Delete=batch).get("Errors")
            except Exception as exc:
                raise self._error(exc, uri, "delete") from exc
            if errors:
                first = errors[0]
                raise StorageError(
                    f"S3 delete failed under {uri}: {len(errors)} errors, first "
                    f"{first.get('Key')}: {first.get('Code')}"
                )

    def open_read(self, uri: str) -> BinaryIO:
        bucket, key = split_s3(uri)
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:
            raise self._error(exc, uri, "read") from exc
        stream: Any = io.BufferedReader(_BodyReader(body), buffer_size=1 << 20)
        return stream

    def read_range(self, uri: str, start: int, length: int) -> bytes:
        bucket, key = split_s3(uri)
        try:
            rng = f"bytes={start}-{start + length - 1}"
            return self.client.get_object(Bucket=bucket, Key=key, Range=rng)["Body"].read()
        except Exception as exc:
            raise self._error(exc, uri, "read") from exc

    def write_bytes(self, uri: str, data: bytes) -> None:
        bucket, key = split_s3(uri)
        if not key or key.endswith("/"):
            raise StorageError(f"not an object URI (empty key or ends with /): {uri}")
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=data)
        except Exception as exc:
            raise self._error(exc, uri, "write") from exc

    def put_file(self, local: Path, uri: str) -> None:
        """Managed upload (multipart for big files): the object appears only when the
        transfer completes."""
        bucket, key = split_s3(uri)
        try:
            self.client.upload_file(str(local), bucket, key)
        except Exception as exc:
            raise self._error(exc, uri, "upload") from exc

    def get_file(self, uri: str, local: Path) -> Path:
        bucket, key = split_s3(uri)
        local.parent.mkdir(parents=True, exist_ok=True)
        try:  # boto3 writes a temp file next to the target and renames it
            self.client.download_file(bucket, key, str(local))
        except Exception as exc:
            raise self._error(exc, uri, "download") from exc
        return local

    def copy(self, src: str, dest: str) -> None:
        (sb, sk), (db, dk) = split_s3(src), split_s3(dest)
        try:
            self.client.copy({"Bucket": sb, "Key": sk}, db, dk)
        except Exception as exc:
            raise self._error(exc, src, f"copy to {dest}") from exc

    def exists(self, uri: str) -> bool:
        """An object at ``uri``, or any object below it as a folder."""
        bucket, key = split_s3(uri)
        if key and not key.endswith("/"):
            try:
                self.client.head_object(Bucket=bucket, Key=key)
                return True
            except Exception as exc:
                if not _missing(exc):
                    raise self._error(exc, uri, "head") from exc
        try:
            resp = self.client.list_objects_v2(Bucket=bucket, Prefix=_folder(key), MaxKeys=1)
        except Exception as exc:
            if _missing(exc):
                return False
            raise self._error(exc, uri, "list") from exc
        return bool(resp.get("Contents"))

    def etag(self, uri: str) -> str:
        bucket, key = split_s3(uri)
        try:
            return self.client.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        except Exception as exc:
            raise self._error(exc, uri, "head") from exc

    def list(self, prefix_uri: str, suffixes: tuple[str, ...] | None) -> list[ObjectInfo]:
        bucket, key = split_s3(prefix_uri)
        skip = len(_folder(key))
        found = []
        for obj in self._objects(prefix_uri):
            uri = f"s3://{bucket}/{obj['Key']}"
            if visible(obj["Key"][skip:]) and (not suffixes or uri.endswith(suffixes)):
                found.append(ObjectInfo(uri, int(obj["Size"]), obj["ETag"].strip('"')))
        return found

    def delete(self, uri: str) -> None:
        bucket, key = split_s3(uri)
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if not _missing(exc):
                raise self._error(exc, uri, "delete") from exc

    def delete_prefix(self, prefix_uri: str) -> int:
        bucket, key = split_s3(prefix_uri)
        if not key.strip("/"):
            raise StorageError(f"refusing to delete a whole bucket: {prefix_uri}")
        keys = [obj["Key"] for obj in self._objects(prefix_uri)]
        self._delete_keys(bucket, keys, prefix_uri)
        return len(keys)

    def upload_dir(self, src: Path, uri: str) -> int:
        """Upload every file of ``src`` below ``uri``, then delete objects there that
        ``src`` does not have, so the prefix mirrors the folder."""
        bucket, key = split_s3(uri)
        files = sorted(p for p in src.rglob("*") if p.is_file())
        wanted = set()
        for path in files:
            obj_key = _folder(key) + path.relative_to(src).as_posix()
            wanted.add(obj_key)
            try:  # managed transfer: multipart for big files (ETag then is not an MD5)
                self.client.upload_file(str(path), bucket, obj_key)
            except Exception as exc:
                raise self._error(exc, f"s3://{bucket}/{obj_key}", "upload") from exc
        stale = [o["Key"] for o in self._objects(uri) if o["Key"] not in wanted]
        self._delete_keys(bucket, stale, uri)
        log.info(
            "uploaded %d files from %s to %s (%d stale removed)", len(files), src, uri, len(stale)
        )
        return len(files)

    def download_dir(self, uri: str, dest: Path) -> int:
        bucket, key = split_s3(uri)
        skip = len(_folder(key))
        count = 0
        for obj in self._objects(uri):
            parts = obj["Key"][skip:].split("/")
            if any(p in {"", ".", ".."} for p in parts):
                log.warning("skipping S3 key that is unsafe as a local path: %s", obj["Key"])
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:  # boto3 writes a temp file next to the target and renames it
                self.client.download_file(bucket, obj["Key"], str(target))
            except Exception as exc:
                raise self._error(exc, f"s3://{bucket}/{obj['Key']}", "download") from exc
            count += 1
        if count == 0:
            raise StorageError(f"not found: {uri} (no objects below it)")
        log.info("downloaded %d files from %s to %s", count, uri, dest)
        return count
