"""A Docker engine and the base images for tests/deploy/test_compose_up.py.

- :func:`docker_engine` uses the engine ``docker info`` reaches, or starts ``dockerd``
  (Debian's ``docker.io``) with its data under the cache folder, and stops only what it
  started.
- :func:`debian_base` imports a Debian 12 root filesystem made by ``debootstrap`` as
  ``maga-standin/debian:bookworm`` (the rootfs tarball is cached).
- :func:`serve_wheelhouse` serves a folder of wheels over HTTP on the loopback, for the
  Airflow image's ``TORCH_FIND_LINKS`` build argument.

The cache folder (``MAGA_DEPLOY_CACHE``, default ``/var/cache/maga-deploy``) keeps the
rootfs and the engine's images and build cache between runs on one machine; a machine
without it builds everything.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("MAGA_DEPLOY_CACHE", "/var/cache/maga-deploy"))
DEBIAN_IMAGE = "maga-standin/debian:bookworm"
SOURCES = (Path("/etc/apt/sources.list.d"), Path("/etc/apt/sources.list"))


class EngineError(RuntimeError):
    """The engine or a base image could not be set up; the message says why."""


def run(cmd: list[str], timeout_s: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` (output captured); raise EngineError with its output tail on failure."""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, **kw)
    if res.returncode != 0:
        tail = (res.stdout + res.stderr)[-3000:]
        raise EngineError(f"{' '.join(cmd[:4])} ... exited {res.returncode}:\n{tail}")
    return res


def engine_answers(env: dict[str, str] | None = None) -> bool:
    res = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    return res.returncode == 0


@contextlib.contextmanager
def docker_engine() -> Iterator[dict[str, str]]:
    """Yield the environment (``DOCKER_HOST``) of a running engine."""
    if shutil.which("docker") is None:
        raise EngineError("no docker CLI on PATH (apt-get install docker.io)")
    env = dict(os.environ)
    if engine_answers(env):
        yield env
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineError("no Docker engine runs and dockerd is not installed (docker.io)")
    run_dir = Path(tempfile.mkdtemp(prefix="maga-dockerd-"))
    sock = run_dir / "docker.sock"
    env["DOCKER_HOST"] = f"unix://{sock}"
    CACHE.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / "dockerd.log", "wb")  # noqa: SIM115 - closed in finally
    # No iptables: containers need no outside network at run time (builds use the
    # host's), and the host's firewall is left alone.
    # Niced: builds and containers inherit it, on a machine shared with other jobs.
    proc = subprocess.Popen(
        ["nice", "-n", "10", dockerd, "--iptables=false", "--storage-driver=overlay2",
         f"--data-root={CACHE / 'docker'}", f"--exec-root={run_dir / 'exec'}",
         f"--pidfile={run_dir / 'docker.pid'}", f"--host=unix://{sock}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not engine_answers(env):
            if proc.poll() is not None or time.monotonic() > deadline:
                text = (run_dir / "dockerd.log").read_text(errors="replace")[-3000:]
                raise EngineError(f"dockerd did not start:\n{text}")
            time.sleep(0.5)
        yield env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def debian_mirror() -> str:
    """The Debian mirror apt is configured with (MAGA_DEBIAN_MIRROR overrides it)."""
    if os.environ.get("MAGA_DEBIAN_MIRROR"):
        return os.environ["MAGA_DEBIAN_MIRROR"]
    files = [
        p
        for src in SOURCES
        if src.exists()
        for p in ([src] if src.is_file() else sorted(src.iterdir()))
    ]
    for path in files:
        text = path.read_text(errors="replace")
        for uri in re.findall(r"^URIs:\s*(\S+)", text, flags=re.M) + re.findall(
            r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, flags=re.M
        ):
            if "security" not in uri:
                return uri
    return "http://deb.debian.org/debian"


def image_exists(name: str, env: dict[str, str]) -> bool:
    res = subprocess.run(["docker", "image", "inspect", name], capture_output=True, env=env)
    return res.returncode == 0


def debian_base(env: dict[str, str]) -> dict[str, float]:
    """Make sure ``maga-standin/debian:bookworm`` exists; return what it took (seconds)."""
    timings: dict[str, float] = {}
    if image_exists(DEBIAN_IMAGE, env):
        return timings
    tarball = CACHE / "debian-bookworm-minbase.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise EngineError("debootstrap is not installed (apt-get install debootstrap)")
        CACHE.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(["nice", "-n", "10", "debootstrap", "--variant=minbase", "bookworm",
                 str(rootfs), debian_mirror()], timeout_s=1200)  # fmt: skip
            partial = tarball.with_suffix(".partial")
            run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], timeout_s=600)
            partial.rename(tarball)
        timings["debootstrap_s"] = time.monotonic() - began
    began = time.monotonic()
    with open(tarball, "rb") as fh:
        res = subprocess.run(
            ["docker", "import", "-c", 'CMD ["bash"]', "-", DEBIAN_IMAGE],
            stdin=fh, capture_output=True, text=True, env=env, timeout=600,
        )  # fmt: skip
    if res.returncode != 0:
        raise EngineError(f"docker import failed: {res.stderr[-2000:]}")
    timings["import_s"] = time.monotonic() - began
    return timings


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest's output clean
        pass


@contextlib.contextmanager
def serve_wheelhouse(folder: Path, port: int) -> Iterator[str]:
    """Serve ``folder``'s listing on http://127.0.0.1:``port``/ (a pip --find-links page).

    A fixed port keeps the build argument, and so the build cache, the same between
    runs; a taken port falls back to a free one (that build then misses the cache).
    """
    handler = functools.partial(_QuietHandler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def pip_setting(name: str) -> str | None:
    """A pip setting (``cert``, ``find-links``) from the environment or ``pip config``."""
    env_value = os.environ.get(f"PIP_{name.upper().replace('-', '_')}")
    if env_value:
        return env_value
    res = subprocess.run(
        ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
    )
    for line in res.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.rsplit(".", 1)[-1] == name:
            return value.strip().strip("'\"")
    return None
