"""The engine host (``maga.llm.host``) on real vLLM engines (tiny random model, CPU
build): a second task process reuses the engine the first one started and gets the same
text a task's own engine writes; engine log lines reach the task's log; a task killed
mid-stream leaves a host that serves the next task; an idle host ends with its engines;
a busy host sends a task to engines of its own; wrong settings are refused by name."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from maga.config import VLLMEngineConfig
from maga.llm import host_client
from maga.llm.base import GenRequest
from maga.llm.jobs import EngineSession, ModelSpec
from maga.models.builtin import resolve_model
from tests.llm.procs import alive, descendants, wait_gone

pytestmark = [pytest.mark.slow]
ENGINE = VLLMEngineConfig(max_model_len=256, max_num_seqs=8, kv_cache_space_gib=1)

# One "task": a process that takes its engines from the host, as an Airflow task does
# (maga.pipelines.airflow_glue.with_task_engines), and prints what it got.
TASK = textwrap.dedent("""
    import json, sys
    from maga.llm.base import GenRequest
    from maga.llm.host_client import task_engines
    from maga.llm.jobs import ModelSpec, open_session
    spec = ModelSpec(**json.loads(sys.argv[1]))
    reqs = [GenRequest(**r) for r in json.loads(sys.argv[2])]
    mode, idle = sys.argv[3], float(sys.argv[4])
    with task_engines(1, True, idle) as pool:
        session = open_session()
        if mode == "stream":
            groups = [(g, reqs[g * 2:(g + 1) * 2]) for g in range((len(reqs) + 1) // 2)]
            texts = {}
            for g, out in session.stream(spec, groups):
                texts[g] = [r.text for r in out.results]
                print("GROUP", g, flush=True)
                if len(sys.argv) > 5:  # wait to be killed mid-stream
                    sys.stdin.readline()
            texts = [t for g in sorted(texts) for t in texts[g]]
        else:
            texts = [r.text for r in session.generate(spec, reqs).results]
        print("RESULT " + json.dumps({"texts": texts, "starts": pool.engine_starts,
                                      "host": type(pool).__name__}), flush=True)
""")


def _spec() -> ModelSpec:
    path = resolve_model("builtin:tiny-random")
    return ModelSpec(label="tiny", path=path, engine=ENGINE.model_dump(), seed=3)


def _requests(n: int) -> list[GenRequest]:
    return [GenRequest(messages=[{"role": "user", "content": f"Note {i} on tides."}],
                       max_tokens=8 + i % 3, temperature=0.8, seed=900 + i, key=str(i))
            for i in range(n)]  # fmt: skip


@pytest.fixture
def hostdir(monkeypatch: pytest.MonkeyPatch):
    folder = Path(tempfile.mkdtemp(prefix="meh-"))  # short: a socket path has 107 bytes
    monkeypatch.setenv(host_client.DIR_ENV, str(folder))
    monkeypatch.delenv(host_client.IDLE_ENV, raising=False)
    yield folder
    host_client.stop_hosts(folder)


def _task(mode: str = "generate", idle: float = 60, n: int = 5, **popen) -> subprocess.Popen:
    reqs = [{k: v for k, v in vars(r).items() if k != "constraint"} for r in _requests(n)]
    args = [sys.executable, "-c", TASK, json.dumps(vars(_spec())), json.dumps(reqs), mode,
            str(idle)]  # fmt: skip
    return subprocess.Popen(args + popen.pop("extra", []), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)  # fmt: skip


def _result(proc: subprocess.Popen) -> tuple[dict, str]:
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :]), out


def _host_pid(folder: Path) -> int:
    """The pid of the newest host that logged in ``folder``."""
    text = "".join(p.read_text() for p in folder.glob("*.log"))
    return int(text.rsplit("engine host ", 1)[1].split()[0].rstrip(":"))


@pytest.mark.timeout(600)
def test_a_second_task_reuses_the_engine_and_writes_the_same_text(hostdir: Path):
    with EngineSession(deterministic=True) as own:  # what a task's own engine writes
        expected = [r.text for r in own.generate(_spec(), _requests(5)).results]

    first, log1 = _result(_task())
    assert first["host"] == "HostedPool" and first["starts"] == 1
    assert first["texts"] == expected
    assert "started now" in log1 and "dtype" in log1  # the engine's own lines, relayed
    host = _host_pid(hostdir)
    engines = descendants(host)
    assert engines and all(alive(p) for p in engines)  # the engine outlived the task

    second, log2 = _result(_task("stream"))
    assert second["starts"] == 0 and second["texts"] == expected
    assert "engine kept from an earlier call" in log2 and "running" in log2
    assert _host_pid(hostdir) == host

    maga = [sys.executable, "-m", "maga.cli", "engine-hosts"]  # what a user asks
    listed = subprocess.run(maga, capture_output=True, text=True, timeout=120).stdout
    assert f"pid {host}, 1 engine start(s), keeps 1: {_spec().path};" in listed, listed
    stopped = subprocess.run([*maga, "--stop"], capture_output=True, text=True, timeout=120)
    assert "stopped 1" in stopped.stdout, stopped.stdout + stopped.stderr
    assert not wait_gone({host, *engines}, 60), "the stopped host or its engine still runs"


@pytest.mark.timeout(600)
def test_a_task_killed_mid_stream_leaves_a_host_that_serves_the_next(hostdir: Path):
    victim = _task("stream", n=6, stdin=subprocess.PIPE, extra=["wait"])
    assert victim.stdout is not None
    deadline = time.monotonic() + 300
    while "GROUP" not in (line := victim.stdout.readline()):  # one group is back
        assert line and time.monotonic() < deadline, "the task never got a group"
    host = _host_pid(hostdir)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    after, _ = _result(_task())  # the host noticed, ended that engine and serves again
    assert after["texts"] == _result(_task())[0]["texts"] and len(after["texts"]) == 5
    assert alive(host) and _host_pid(hostdir) == host


@pytest.mark.timeout(600)
def test_an_idle_host_ends_with_its_engines(hostdir: Path):
    first, _ = _result(_task(idle=4))
    assert first["starts"] == 1
    host = _host_pid(hostdir)
    engines = descendants(host)
    assert engines
    assert not wait_gone({host, *engines}, 120), "the idle host or its engine still runs"
    assert not list(hostdir.glob("*.sock"))  # it took its socket with it
    again, _ = _result(_task(idle=4))  # the next task starts a fresh host
    assert again["starts"] == 1 and _host_pid(hostdir) != host


@pytest.mark.timeout(120)
def test_a_busy_host_sends_the_task_to_engines_of_its_own(hostdir: Path, monkeypatch, caplog):
    from maga.llm.pool import EnginePool

    monkeypatch.setattr(host_client, "BUSY_WAIT_S", 1.0)
    holder = host_client.HostedPool(1, True, 30)  # another task, connected
    holder.prepare([])
    try:
        with host_client.task_engines(1, True, 30) as pool:
            assert pool._sock is None  # not connected before its first engine call
            pool.prepare([])
            assert isinstance(pool._own, EnginePool) and pool._sock is None
        assert "serving another task; this task starts engines of its own" in caplog.text
    finally:
        holder.close()


@pytest.mark.timeout(120)
def test_a_stale_socket_is_replaced_and_bad_settings_are_refused(hostdir: Path, monkeypatch):
    stale = hostdir / f"{host_client.fingerprint(True)}.sock"
    stale.write_text("not a socket")  # a host that died without removing its socket
    pool = host_client.HostedPool(1, True, 30)
    pool.prepare([])
    assert pool._sock is not None and pool._own is None and pool.engine_starts == 0
    pool.close()
    monkeypatch.setenv(host_client.IDLE_ENV, "soon")
    with pytest.raises(ValueError, match="MAGA_ENGINE_HOST_IDLE_S='soon'"):
        host_client.host_idle_s(300)
    monkeypatch.setenv(host_client.IDLE_ENV, "0")
    assert host_client.host_idle_s(300) == 0.0
    monkeypatch.setenv(host_client.DIR_ENV, str(hostdir / ("x" * 120)))
    with pytest.raises(ValueError, match="MAGA_ENGINE_HOST_DIR=.*too long a folder"):
        host_client.HostedPool(1, True, 30).prepare([])
