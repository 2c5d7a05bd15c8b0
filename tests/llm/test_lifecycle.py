"""No orphan engines: the worker and everything below it die with their parent, the
whole group is killed on stop, and reads from the worker have deadlines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from maga.llm.lifecycle import LineReader, ReadTimeout, kill_group, worker_popen_kwargs

from .procs import alive, cmdline, descendants, wait_gone

pytestmark = pytest.mark.timeout(60)

# A stand-in engine worker: arms the lifecycle like maga.llm.worker, forks an "engine
# core" that sleeps, prints its pid and sleeps too.
FAKE_WORKER = textwrap.dedent(
    """
    import os, sys, time
    from maga.llm.lifecycle import install_in_engine_process, check_task_alive
    install_in_engine_process()
    check_task_alive()
    core = os.fork()
    if core == 0:
        time.sleep(300)
        os._exit(0)
    print(core, flush=True)
    time.sleep(300)
    """
)


def _start_fake_worker() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_WORKER],
        stdout=subprocess.PIPE,
        **worker_popen_kwargs(dict(os.environ)),
    )
    assert proc.stdout is not None
    line = LineReader(proc.stdout.fileno()).readline(30, lambda: proc.poll() is None)
    assert line, "fake worker did not start"
    return proc, int(line)


def test_engine_core_dies_when_the_worker_is_killed() -> None:
    proc, core = _start_fake_worker()
    try:
        assert os.getpgid(proc.pid) == proc.pid  # own process group
        assert os.getpgid(core) == proc.pid
        assert alive(core)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Nobody called kill_group: the kernel's parent-death signal did it.
        assert wait_gone({core}, 10) == set()
    finally:
        kill_group(proc)


def test_kill_group_takes_the_whole_group() -> None:
    proc, core = _start_fake_worker()
    kill_group(proc)
    assert proc.returncode == -signal.SIGKILL
    assert wait_gone({core}, 10) == set()


def test_worker_dies_with_the_task() -> None:
    task = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        from maga.llm.lifecycle import worker_popen_kwargs
        w = subprocess.Popen([sys.executable, "-c", {FAKE_WORKER!r}], stdout=subprocess.PIPE,
                             **worker_popen_kwargs(dict(os.environ)))
        core = w.stdout.readline().decode().strip()
        print(w.pid, core, flush=True)
        time.sleep(300)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", task], stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        worker, core = map(int, parent.stdout.readline().split())
        assert alive(worker) and alive(core)
        parent.kill()  # SIGKILL: the task gets no chance to clean up
        parent.wait()
        assert wait_gone({worker, core}, 10) == set()
    finally:
        parent.kill()


def test_read_returns_when_the_writer_dies_but_an_orphan_holds_the_pipe() -> None:
    proc = subprocess.Popen(
        ["sh", "-c", "sleep 60 & echo $!; exit 0"], stdout=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    reader = LineReader(proc.stdout.fileno())
    orphan = int(reader.readline(10, lambda: proc.poll() is None) or 0)
    assert alive(orphan)  # and it holds the pipe's write end: no EOF would ever come
    began = time.monotonic()
    assert reader.readline(30, lambda: proc.poll() is None) is None
    assert time.monotonic() - began < 5
    kill_group(proc)
    assert wait_gone({orphan}, 10) == set()


def test_read_from_a_silent_worker_times_out() -> None:
    proc = subprocess.Popen(["sleep", "60"], stdout=subprocess.PIPE, start_new_session=True)
    assert proc.stdout is not None
    began = time.monotonic()
    with pytest.raises(ReadTimeout):
        LineReader(proc.stdout.fileno()).readline(1.0, lambda: proc.poll() is None)
    assert 0.9 < time.monotonic() - began < 5
    kill_group(proc)


def test_bad_timeout_setting_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from maga.llm.jobs import EngineSession

    monkeypatch.setenv("MAGA_ENGINE_REPLY_TIMEOUT_S", "soon")
    with pytest.raises(ValueError, match="MAGA_ENGINE_REPLY_TIMEOUT_S='soon'"):
        EngineSession()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkilled_worker_leaves_no_engine_core_and_the_next_start_works() -> None:
    """A real vLLM engine with a separate engine-core process (single_process false)."""
    from maga.llm.base import GenRequest
    from maga.llm.jobs import EngineSession, ModelSpec
    from maga.models.builtin import TINY, resolve_model

    engine = {"max_model_len": 512, "max_num_seqs": 4, "kv_cache_space_gib": 1,
              "single_process": False}  # fmt: skip
    spec = ModelSpec(label="orphan", path=resolve_model(TINY), engine=engine, seed=1)
    request = [GenRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=4, seed=3)]
    with EngineSession() as session:
        first = session.generate(spec, request)
        assert first.results[0].ok
        worker = session.worker_pid
        assert worker is not None
        below = descendants(worker)
        cores = {p for p in below if "resource_tracker" not in cmdline(p)}
        assert cores, f"no engine-core process under the worker: {[cmdline(p) for p in below]}"
        os.kill(worker, signal.SIGKILL)
        # Parent-death signals, not the session, end the engine core.
        assert wait_gone(below | {worker}, 30) == set()
        second = session.generate(spec, request)  # notices the dead worker, starts anew
        assert second.results[0].ok and session.engine_starts == 2
        new_worker = session.worker_pid
        assert new_worker != worker
        below = descendants(new_worker) | {new_worker}
    assert wait_gone(below, 60) == set()
